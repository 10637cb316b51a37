"""Input validation: flat ``(n, n_features)`` or image arrays to ``(n, C, H, W)``."""

import numbers

import numpy as np
from sklearn.utils.validation import validate_data


def _as_image_shape(image_shape):
    """Normalise ``image_shape`` to a ``(C, H, W)`` tuple, or None."""
    if image_shape is None:
        return None
    shape = tuple(image_shape)
    if len(shape) not in (2, 3) or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
        for v in shape
    ):
        raise ValueError(
            f"Got image_shape={image_shape!r}, but expected a tuple of positive "
            "ints (H, W) or (C, H, W)."
        )
    shape = tuple(int(v) for v in shape)
    return (1, *shape) if len(shape) == 2 else shape


def _to_array(X):
    """Return X as an ndarray when it has more than two axes, else unchanged."""
    if hasattr(X, "iloc") or hasattr(X, "tocsr"):  # DataFrame / sparse: 2-D
        return X
    ndim = getattr(X, "ndim", None)
    if ndim is None:
        try:
            X = np.asarray(X)
        except ValueError as exc:  # ragged nested lists
            raise ValueError(
                f"Expected X as an array of shape (n_samples, n_features), "
                f"(n_samples, H, W) or (n_samples, C, H, W); could not convert "
                f"it to an array: {exc}"
            ) from exc
        ndim = X.ndim
    if ndim > 2:
        X = np.asarray(X)
        if X.ndim > 4:
            raise ValueError(
                f"Got an array with {X.ndim} dimensions (shape={X.shape}), but "
                "expected 2 (n_samples, n_features), 3 (n_samples, H, W) or 4 "
                "(n_samples, C, H, W)."
            )
    return X


def _shape_from_array(X):
    """The ``(C, H, W)`` an array of 3 or 4 dims carries, else None."""
    if getattr(X, "ndim", 2) == 3:
        return (1, *X.shape[1:])
    if getattr(X, "ndim", 2) == 4:
        return tuple(X.shape[1:])
    return None


def check_images(estimator, X, *, reset):
    """Validate X and return it as a float array of shape ``(n, C, H, W)``.

    With ``reset=True`` (in ``fit``) this sets ``n_features_in_`` (C*H*W) and
    ``image_shape_``; otherwise the input must match them. The returned array
    is a view of the caller's data whenever no conversion is needed and is
    never written to.

    Returns
    -------
    images : ndarray of shape (n_samples, C, H, W), float32 or float64
    input_shape : tuple
        The shape of X as given (without converting), to shape outputs alike.
    """
    X = _to_array(X)
    own_shape = _shape_from_array(X)
    n_dims = getattr(X, "ndim", 2)
    if own_shape is not None:
        n = X.shape[0]
        X = X.reshape(n, -1)
    try:
        X = validate_data(
            estimator,
            X,
            reset=reset,
            dtype=[np.float32, np.float64],
            ensure_min_samples=2 if reset else 1,
        )
    except ValueError as exc:
        if "could not convert" in str(exc) or "string" in str(exc):
            raise ValueError(
                f"Expected numeric data (ints or floats), but X holds values "
                f"that are not numbers: {exc}"
            ) from exc
        raise
    input_shape = X.shape if own_shape is None else (X.shape[0], *own_shape)
    if n_dims == 3:
        input_shape = (X.shape[0], *own_shape[1:])

    if reset:
        wanted = _as_image_shape(estimator.image_shape)
        n_features = X.shape[1]
        if own_shape is not None:
            if wanted is not None and wanted != own_shape:
                raise ValueError(
                    f"Got image_shape={estimator.image_shape!r}, but X holds "
                    f"images of shape {own_shape[1:] if n_dims == 3 else own_shape}"
                    f" (X.shape={input_shape}); leave image_shape=None or make "
                    "it match."
                )
            image_shape = own_shape
        elif wanted is not None:
            if np.prod(wanted) != n_features:
                raise ValueError(
                    f"Got image_shape={estimator.image_shape!r} "
                    f"({int(np.prod(wanted))} values per image), but X has "
                    f"{n_features} features per sample; expected an image_shape "
                    "with C*H*W == n_features."
                )
            image_shape = wanted
        else:
            image_shape = (1, 1, n_features)
        estimator.image_shape_ = image_shape
    elif own_shape is not None and own_shape != estimator.image_shape_:
        raise ValueError(
            f"X holds images of shape {own_shape}, but this estimator was fitted "
            f"on images of shape {estimator.image_shape_} (C, H, W)."
        )
    return X.reshape(X.shape[0], *estimator.image_shape_), input_shape
