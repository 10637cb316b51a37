"""Small checks shared by the estimators, the networks and the plots.

Pure Python and numpy (no scikit-learn, no torch), so that the network
module can use them too.
"""

from numbers import Integral

import numpy as np


def positive_ints(value, name, *, example, allow_empty=False, lengths=None):
    """``value`` as a tuple of positive ints, or a ValueError naming ``name``.

    ``lengths`` restricts the number of entries (e.g. ``(2, 3)`` for an
    image shape); ``example`` is shown in the message.
    """
    # 1-D arrays too (np.arange(...), as scikit-learn's MLP takes them)
    array = isinstance(value, np.ndarray) and value.ndim == 1
    values = tuple(value) if isinstance(value, (tuple, list)) or array else None
    ok = (
        values is not None
        and (allow_empty or len(values) > 0)
        and (lengths is None or len(values) in lengths)
        and all(
            isinstance(v, Integral) and not isinstance(v, bool) and v >= 1
            for v in values
        )
    )
    if not ok:
        kind = "non-empty tuple" if not (allow_empty or lengths) else "tuple"
        raise ValueError(
            f"Got {name}={value!r}, but expected a {kind} of positive ints, "
            f"e.g. {example}."
        )
    return tuple(int(v) for v in values)


def finite_rows(
    values,
    what,
    *,
    nan_only=False,
    cause="NaN weights, from a diverged fit or a corrupted file",
    expected="finite outputs; refit with a lower lr",
):
    """``values`` (one row per sample), or a FloatingPointError naming the
    rows that are NaN (``nan_only``) or not finite.

    ``what`` is the start of the message, with ``{n}`` for the number of
    bad samples, e.g. ``"The network's codes are not finite for {n}
    sample(s)"``; the positions, ``cause`` and ``expected`` follow.
    """
    bad = np.isnan(values) if nan_only else ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(len(values), -1).any(axis=1))
        shown = rows[:10].tolist()
        raise FloatingPointError(
            what.format(n=rows.size)
            + f" (positions {shown}{' ...' if rows.size > 10 else ''}); "
            f"likely cause: {cause}. Expected {expected}."
        )
    return values
