"""Warnings attributed to the user's line, however deep the call.

A hand-counted ``stacklevel`` is right for one call path only: the units
warning of ``score_samples`` pointed at skcae's own ``predict`` when
``predict`` called it (a hostile probe), and a fit's warnings at
scikit-learn's code when a Pipeline or ``fit_predict`` called ``fit``.
"""

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
# the frameworks that call estimators for the user (Pipeline, GridSearchCV
# and their parallel loops): a warning is attributed past them when the
# user's own frame is on this thread's stack
_FRAMEWORKS = tuple(
    f"{os.sep}{name}{os.sep}" for name in ("sklearn", "joblib", "skorch")
)


def _in_skcae(filename):
    return filename.startswith(_PACKAGE)


def _in_framework(filename):
    return _in_skcae(filename) or any(name in filename for name in _FRAMEWORKS)


def _level(internal):
    """The stacklevel, for a warning raised by :func:`warn_user`'s caller,
    of the first frame of this thread's stack that is not ``internal``;
    None when there is none."""
    frame, level = sys._getframe(2), 2
    while frame is not None and internal(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    return None if frame is None else level


def warn_user(message, category=UserWarning):
    """``warnings.warn(message, category)`` attributed to the user's line:
    the first frame outside skcae, scikit-learn, joblib and skorch (a
    Pipeline's or GridSearchCV's caller), else (a worker thread's stack)
    the first frame outside skcae."""
    level = _level(_in_framework) or _level(_in_skcae) or 2
    warnings.warn(message, category, stacklevel=level)
