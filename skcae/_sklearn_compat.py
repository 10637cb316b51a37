"""The private scikit-learn names skcae uses, imported in this one place.

scikit-learn's parameter validation (``_param_validation``) and its
``_fit_context`` decorator are private: they may move between releases.
Every skcae module imports them from here, so a move is fixed once.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    Options,
    StrOptions,
    make_constraint,
    validate_params,
)

__all__ = [
    "HasMethods",
    "Interval",
    "Options",
    "StrOptions",
    "fit_context",
    "describe_constraints",
    "takes_bool_as_number",
    "has_output_config",
    "validate_params",
]

#: ``sklearn.base._fit_context``: validates the parameters before ``fit``.
fit_context = _fit_context


def has_output_config(estimator):
    """Whether ``set_output`` configured ``estimator`` (no public way to ask)."""
    return bool(getattr(estimator, "_sklearn_output_config", None))


def describe_constraints(constraints):
    """Readable text of a parameter's constraints, as sklearn's errors give."""
    return " or ".join(str(make_constraint(c)) for c in constraints)


def takes_bool_as_number(constraints, value):
    """Whether ``value`` (a bool) meets ``constraints`` only as a number.

    Python's bool is an int, so ``Interval(Integral, 1, None)`` accepts
    ``True``; a bool is meant only where a constraint other than a number
    (``"boolean"``, ``"verbose"``, ``bool``) accepts it.
    """
    numeric = (Integral, Real, int, float, np.integer, np.floating, np.number)
    for constraint in map(make_constraint, constraints):
        if isinstance(constraint, Interval):
            continue
        if getattr(constraint, "type", None) in numeric:
            continue
        if constraint.is_satisfied_by(value):
            return False
    return True
