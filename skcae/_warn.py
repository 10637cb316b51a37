"""Warnings attributed to the user's line, however deep the call.

A hand-counted ``stacklevel`` is right for one call path only: the units
warning of ``score_samples`` pointed at skcae's own ``predict`` when
``predict`` called it (a hostile probe), and a fit's warnings at
scikit-learn's code when a Pipeline or ``fit_predict`` called ``fit``.
"""

import sys
import warnings

# the frameworks that call estimators for the user (Pipeline, GridSearchCV,
# their parallel loops and thread pools), by module name: a warning is
# attributed past them when the user's own frame is on this thread's stack
_FRAMEWORKS = (
    "skcae",
    "sklearn",
    "joblib",
    "skorch",
    "threading",
    "concurrent.futures",
    "multiprocessing",
)


def _in(names):
    def internal(frame):
        module = frame.f_globals.get("__name__") or ""
        return any(module == n or module.startswith(n + ".") for n in names)

    return internal


_in_skcae, _in_framework = _in(("skcae",)), _in(_FRAMEWORKS)


def _level(internal):
    """The stacklevel, for a warning raised by :func:`warn_user`'s caller,
    of the first frame of this thread's stack that is not ``internal``;
    None when there is none."""
    frame, level = sys._getframe(2), 2
    while frame is not None and internal(frame):
        frame, level = frame.f_back, level + 1
    return None if frame is None else level


def warn_user(message, category=UserWarning):
    """``warnings.warn(message, category)`` attributed to the user's line:
    the first frame outside skcae and the frameworks that call it
    (scikit-learn, joblib, skorch, thread pools), else (a worker thread,
    whose stack holds no user frame) the first frame outside skcae."""
    level = _level(_in_framework) or _level(_in_skcae) or 2
    warnings.warn(message, category, stacklevel=level)
