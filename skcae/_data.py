"""Input validation: flat ``(n, n_features)`` or image arrays to ``(n, C, H, W)``."""

import mmap
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
    ndim = len(X.shape) if hasattr(X, "shape") else 2
    if ndim == 3:
        return (1, *X.shape[1:])
    if ndim == 4:
        return tuple(X.shape[1:])
    return None


def is_out_of_core(X):
    """True for data read block by block: a memmap, or a lazy array-like.

    A lazy array-like is any object with ``shape``, ``__len__`` and
    ``__getitem__`` that is not an ndarray, list, DataFrame, sparse matrix
    or tensor, e.g. an HDF5 or zarr dataset.
    """
    if isinstance(X, np.memmap):
        return True
    if isinstance(X, (np.ndarray, list, tuple)) or hasattr(X, "iloc"):
        return False
    if hasattr(X, "tocsr") or type(X).__module__.startswith("torch"):
        return False
    return all(hasattr(X, a) for a in ("shape", "__len__", "__getitem__"))


class LazyImages:
    """Read-only view of out-of-core data as float32 images ``(n, C, H, W)``.

    Indexing (a slice or a sorted int array) reads only those rows, casts them
    to float32 and checks them, so a memmap is never loaded or copied whole.
    """

    def __init__(self, source, image_shape):
        self.source = source
        self.image_shape = tuple(image_shape)
        self.shape = (len(source), *self.image_shape)
        self.dtype = np.dtype(np.float32)
        self.ndim = 4

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, index):
        batch = np.asarray(self.source[index])
        if batch.dtype.kind not in "biuf":
            raise ValueError(
                f"Expected numeric data (ints or floats), but X has dtype "
                f"{batch.dtype}."
            )
        batch = np.array(batch, dtype=np.float32).reshape(-1, *self.image_shape)
        self._release_pages()
        if not np.isfinite(batch).all():
            bad = "NaN" if np.isnan(batch).any() else "infinity"
            raise ValueError(f"Input X contains {bad}; expected finite values.")
        return batch


    def _release_pages(self):
        """Unmap the memmap's pages once a block is copied out.

        File pages a process has touched count in its resident memory until
        unmapped, so streaming a large memmap would grow RSS by the file size.
        ``MADV_DONTNEED`` drops them from this process only (they stay in the
        page cache); it is applied to shared or read-only maps alone, never to
        copy-on-write ones (mode "c"), whose private changes it would discard.
        """
        mapped = getattr(self.source, "_mmap", None)
        if (
            mapped is not None
            and getattr(self.source, "mode", None) in ("r", "r+", "w+")
            and hasattr(mmap, "MADV_DONTNEED")
        ):
            try:
                mapped.madvise(mmap.MADV_DONTNEED)
            except (OSError, ValueError):  # closed or unsupported: harmless
                pass


def _check_lazy(estimator, X, reset):
    """``check_images`` for out-of-core data: checks shapes now, values per block."""
    shape = tuple(X.shape)
    if len(shape) not in (2, 3, 4):
        raise ValueError(
            f"Got an array with {len(shape)} dimensions (shape={shape}), but "
            "expected 2 (n_samples, n_features), 3 (n_samples, H, W) or 4 "
            "(n_samples, C, H, W)."
        )
    n_min = 2 if reset else 1
    if shape[0] < n_min:
        raise ValueError(
            f"Found array with {shape[0]} sample(s) (shape={shape}) while a "
            f"minimum of {n_min} is required."
        )
    n_features = int(np.prod(shape[1:]))
    own_shape = _shape_from_array(X)
    if reset:
        estimator.n_features_in_ = n_features
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        estimator.image_shape_ = _resolve_image_shape(
            estimator, own_shape, n_features, shape
        )
    elif n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {type(estimator).__name__} is "
            f"expecting {estimator.n_features_in_} features as input."
        )
    elif own_shape is not None and own_shape != estimator.image_shape_:
        raise ValueError(
            f"X holds images of shape {own_shape}, but this estimator was fitted "
            f"on images of shape {estimator.image_shape_} (C, H, W)."
        )
    return LazyImages(X, estimator.image_shape_), shape


def _resolve_image_shape(estimator, own_shape, n_features, input_shape):
    """The ``(C, H, W)`` to fit on, from X's own shape and ``image_shape``."""
    wanted = _as_image_shape(estimator.image_shape)
    if own_shape is not None:
        if wanted is not None and wanted != own_shape:
            raise ValueError(
                f"Got image_shape={estimator.image_shape!r}, but X holds "
                f"images of shape {tuple(input_shape[1:])} (X.shape="
                f"{tuple(input_shape)}); leave image_shape=None or make it match."
            )
        return own_shape
    if wanted is not None:
        if np.prod(wanted) != n_features:
            raise ValueError(
                f"Got image_shape={estimator.image_shape!r} "
                f"({int(np.prod(wanted))} values per image), but X has "
                f"{n_features} features per sample; expected an image_shape "
                "with C*H*W == n_features."
            )
        return wanted
    return (1, 1, n_features)


def validate_numeric(estimator, X, *, reset):
    """``validate_data`` for a 2-D float X, with a clear message for non-numbers.

    Sets (``reset=True``) or checks ``n_features_in_`` and
    ``feature_names_in_``; fitting needs at least two samples.
    """
    try:
        return validate_data(
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
    if is_out_of_core(X):
        return _check_lazy(estimator, X, reset)
    X = _to_array(X)
    own_shape = _shape_from_array(X)
    n_dims = getattr(X, "ndim", 2)
    if own_shape is not None:
        n = X.shape[0]
        X = X.reshape(n, -1)
    X = validate_numeric(estimator, X, reset=reset)
    input_shape = X.shape if own_shape is None else (X.shape[0], *own_shape)
    if n_dims == 3:
        input_shape = (X.shape[0], *own_shape[1:])

    if reset:
        estimator.image_shape_ = _resolve_image_shape(
            estimator, own_shape, X.shape[1], input_shape
        )
    elif own_shape is not None and own_shape != estimator.image_shape_:
        raise ValueError(
            f"X holds images of shape {own_shape}, but this estimator was fitted "
            f"on images of shape {estimator.image_shape_} (C, H, W)."
        )
    return X.reshape(X.shape[0], *estimator.image_shape_), input_shape
