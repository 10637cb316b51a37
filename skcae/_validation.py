"""Input validation: every form of X an estimator takes, checked in one place.

:func:`validate_input` takes flat rows ``(n, n_features)``, gray images
``(n, H, W)``, images ``(n, C, H, W)`` (or ``(n, H, W, C)`` with
``data_format="channels_last"``), DataFrames, tensors, memmaps and lazy
array-likes (HDF5, zarr), and returns an :class:`InputData`: rows that can
be sliced, already in the network's form, plus the shape X was given in.
In-memory arrays are checked whole by scikit-learn's ``validate_data``;
out-of-core data have their shape checked now and their values block by
block as they are read (:class:`LazyRows`), with the same messages.
"""

import math
import mmap
import numbers
from collections.abc import Iterator, Mapping, MappingView, Set
from dataclasses import dataclass

import numpy as np
import torch
from sklearn import config_context
from sklearn.utils.validation import validate_data

from ._checks import positive_ints
from ._input_hints import check_images_input, fitted_shape_error
from ._warn import warn_user

# A last axis of this size, smaller than the two before it, looks like colour
# channels stored last (PIL, matplotlib, OpenCV): (n, H, W, C), unless the
# first of them is a channel count too (then (n, C, H, W) reads as well).
_CHANNEL_COUNTS = (1, 2, 3, 4)


@dataclass
class InputData:
    """Validated input: ``rows`` in the network's form and X's own shape."""

    rows: object  # ndarray (n, C, H, W) / (n, F), or LazyRows
    input_shape: tuple  # the shape of X as given, for outputs of the same form
    channels_last: bool = False  # X holds colour images as (H, W, C) values

    def __len__(self):
        return len(self.rows)


def _as_image_shape(image_shape, data_format):
    """Normalise ``image_shape`` to a ``(C, H, W)`` tuple, or None."""
    if image_shape is None:
        return None
    shape = positive_ints(
        image_shape,
        "image_shape",
        example="(H, W) or (C, H, W) ((H, W, C) with data_format='channels_last')",
        lengths=(2, 3),
    )
    if len(shape) == 2:
        return (1, *shape)
    if data_format == "channels_last":
        return (shape[2], shape[0], shape[1])
    _refuse_channels_last(shape, "image_shape", image_shape, data_format)
    return shape


def _looks_colour(shape):
    """True for a 3-D shape ``(H, W, C)`` of one colour image: C is 3 or 4
    and smaller than H and W."""
    h, w, c = shape
    return c in (3, 4) and c < min(h, w)


def _looks_channels_last(shape):
    """True for a per-sample shape ``(a, b, c)`` that reads as ``(H, W, C)``."""
    a, b, c = shape
    return c in _CHANNEL_COUNTS and a not in _CHANNEL_COUNTS and c < min(a, b)


def _refuse_channels_last(sample_shape, what, given, data_format, fitted=False):
    if data_format is None and _looks_channels_last(sample_shape):
        h, w, c = sample_shape
        if fitted:  # set_params(data_format=...) waits for the next fit
            raise ValueError(
                f"Got {what}={given!r}, whose samples of shape {sample_shape} "
                f"look like channels-last images (H={h}, W={w}, C={c}), but this "
                "model was fitted on channels-first images (C, H, W) "
                "(data_format_=None; a data_format set after fit applies from "
                f"the next fit). Transpose X to (n_samples, {c}, {h}, {w}), or "
                "refit with data_format='channels_last'."
            )
        raise ValueError(
            f"Got {what}={given!r}, whose samples of shape {sample_shape} look "
            f"like channels-last images (H={h}, W={w}, C={c}) as PIL and "
            f"matplotlib give them, but the default reads them as {h} channels "
            f"of {w}x{c} images. Pass data_format='channels_last' to read "
            "them as (H, W, C), data_format='channels_first' to keep "
            f"(C, H, W), or transpose X to (n_samples, {c}, {h}, {w})."
        )


def _to_array(X):
    """X as an ndarray, unless it is 2-D tabular data sklearn converts itself."""
    if X is None:
        raise ValueError(
            "Got X=None, but expected an array of shape (n_samples, n_features), "
            "(n_samples, H, W) or (n_samples, C, H, W)."
        )
    if hasattr(X, "iloc") or hasattr(X, "tocsr"):  # DataFrame / sparse: 2-D
        return X
    if type(X).__module__.startswith("torch"):
        if X.device.type == "meta":
            raise ValueError(
                "Got a tensor on torch's meta device, which holds no values; "
                "expected data (a CPU or GPU tensor, or an array)."
            )
        X = X.detach().cpu()
        if X.dtype in (torch.bfloat16, torch.float16):
            X = X.double()  # no numpy dtype (bfloat16) or too narrow
        X = X.numpy()
    if isinstance(X, (Iterator, Set, Mapping, MappingView)):
        values = ".values()" if isinstance(X, Mapping) else ""
        raise ValueError(
            f"Got X as a {type(X).__name__}, which numpy cannot read as an "
            "array; expected an array of shape (n_samples, n_features), "
            "(n_samples, H, W) or (n_samples, C, H, W), or a list of samples: "
            f"e.g. np.stack(list(X{values}))."
        )
    if not isinstance(X, np.ndarray):
        try:
            X = np.asarray(X)
        except (ValueError, TypeError) as exc:  # ragged nested lists
            raise ValueError(
                "Expected X as an array of shape (n_samples, n_features), "
                "(n_samples, H, W) or (n_samples, C, H, W); could not convert "
                f"it to an array: {exc}"
            ) from exc
    return X


def _refuse_one_dimensional(estimator, shape, reset):
    """The ValueError for 0-D or 1-D X of an image estimator (sklearn's
    own message printed every value and named no image shape)."""
    fitted = None if reset else getattr(estimator, "input_shape_", None)
    if fitted is None:
        expected = "(n_samples, n_features), (n_samples, H, W) or (n_samples, C, H, W)"
        hint = "X.reshape(1, -1) if X is one sample"
    else:
        dims = ", ".join(str(v) for v in fitted)
        expected = f"(n_samples, {dims}), the shape this estimator was fitted on"
        hint = f"X.reshape(1, {dims}) if X is one sample"
    raise ValueError(
        f"Got X of shape {shape}: a {len(shape)}-D array, but expected "
        f"{expected}. Reshape your data: {hint}."
    )


def _check_ndim(shape):
    if len(shape) not in (2, 3, 4):
        raise ValueError(
            f"Got an array with {len(shape)} dimension(s) (shape={shape}), but "
            "expected 2 (n_samples, n_features), 3 (n_samples, H, W) or 4 "
            "(n_samples, C, H, W)."
        )


def _looks_channels_first(shape):
    """True for a per-sample shape ``(a, b, c)`` that reads as ``(C, H, W)``
    and not as ``(H, W, C)``."""
    a, b, c = shape
    return a in _CHANNEL_COUNTS and c not in _CHANNEL_COUNTS and a < min(b, c)


def _refuse_channels_first(shape):
    """Refuse X of ``shape`` (4-D) that looks channels first for an
    estimator with ``data_format="channels_last"`` (and no image_shape)."""
    n, c, h, w = shape
    raise ValueError(
        f"Got X of shape {shape}, whose samples look like channels-first "
        f"images (C={c}, H={h}, W={w}), but data_format='channels_last' reads "
        f"them as {w} channels of {c}x{h} images. Pass (n_samples, H, W, C) "
        "arrays, e.g. np.moveaxis(X, 1, -1). An ImageFiles is read channels "
        "first by itself, but the rows scikit-learn's splits take of it "
        "(cross_validate, GridSearchCV) are plain arrays: give a "
        "Pipeline(ImageLoader(), ...) the file paths instead. To read such "
        "arrays as they are, pass image_shape=(H, W, C)."
    )


def _warn_one_image(shape):
    """Warn at fit of an in-memory 3-D X of ``shape`` (no image_shape) that
    reads as one colour image ``(H, W, 3 or 4)``: as ``(n, H, W)`` a photo
    trains on its rows as images 3 pixels wide. Three-channel signals
    ``(n, T, 3)`` have the same shape, so it is a warning, not an error."""
    h, w, c = shape
    warn_user(
        f"X of shape {shape} reads as {h} gray images of {w}x{c} pixels, but "
        f"it looks like one colour image (H={h}, W={w}, C={c}) as PIL and "
        "matplotlib give it. To train on colour images, pass a batch: "
        f"np.stack(images) of shape (n_samples, {h}, {w}, {c}) with "
        "data_format='channels_last'. To read X as it is, pass "
        f"image_shape=({w}, {c}), which also silences this warning."
    )


def _own_image_shape(shape, data_format, explicit=False, fitted=False):
    """The ``(C, H, W)`` a 3-D or 4-D input carries, else None.

    ``explicit``: the estimator's ``image_shape`` is set, or it is fitted
    (then a shape that looks channels first is read as channels last, as
    asked, and checked against the fitted one)."""
    if len(shape) == 3:
        return (1, *shape[1:])
    if len(shape) == 4:
        if data_format == "channels_last":
            if not explicit and _looks_channels_first(tuple(shape[1:])):
                _refuse_channels_first(tuple(shape))
            return (shape[3], shape[1], shape[2])
        _refuse_channels_last(
            tuple(shape[1:]), "X of shape", tuple(shape), data_format, fitted
        )
        return tuple(shape[1:])
    return None


def _resolve_image_shape(estimator, own_shape, n_features, input_shape):
    """The ``(C, H, W)`` to fit on, from X's own shape and ``image_shape``."""
    data_format = estimator._data_format()
    wanted = _as_image_shape(estimator.image_shape, data_format)
    if own_shape is not None:
        if wanted is not None and wanted != own_shape:
            raise ValueError(
                f"Got image_shape={estimator.image_shape!r}, but X holds "
                f"images of shape {tuple(input_shape[1:])} (X.shape="
                f"{tuple(input_shape)}); leave image_shape=None or make it match."
            )
        return own_shape
    if wanted is not None:
        if int(np.prod(wanted)) != n_features:
            raise ValueError(
                f"Got image_shape={estimator.image_shape!r} "
                f"({int(np.prod(wanted))} values per image), but X has "
                f"{n_features} features per sample; expected an image_shape "
                "with C*H*W == n_features."
            )
        return wanted
    return (1, 1, n_features)


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


_STRING_HINT = (
    "if the strings hold numbers, convert them with X.astype(float); "
    "otherwise encode them as numbers first."
)


# scikit-learn's estimator checks look for "Complex data not supported".
_COMPLEX_HINT = (
    "Complex data not supported: pass X.real or np.abs(X) if either is what "
    "the model should see."
)


def _dtype_error(what, dtype):
    """The ValueError for values of a non-numeric ``dtype``."""
    if dtype.kind in "US":
        text = "strings" if dtype.kind == "U" else "bytes"
        return ValueError(
            f"Expected numeric data (ints or floats), but {what} has dtype "
            f"{dtype} ({text}); {_STRING_HINT}"
        )
    if dtype.kind == "c":
        return ValueError(
            f"Expected real numbers (ints or floats), but {what} has dtype "
            f"{dtype}. {_COMPLEX_HINT}"
        )
    if dtype.kind in "mM":
        return ValueError(
            f"Expected numeric data (ints or floats), but {what} has dtype "
            f"{dtype} ({'durations' if dtype.kind == 'm' else 'dates or times'}); "
            "convert them to numbers the model should compare (e.g. seconds, or "
            "the hour or day of week) first."
        )
    if dtype.kind == "V":
        return ValueError(
            f"Expected numeric data (ints or floats), but {what} has dtype "
            f"{dtype} (a structured array); pass its numeric fields as a plain "
            "array, e.g. numpy.lib.recfunctions.structured_to_unstructured(X)."
        )
    return ValueError(
        f"Expected numeric data (ints or floats), but {what} has dtype {dtype}."
    )


def _short_repr(value, size=40):
    text = repr(value)
    return text if len(text) <= size else text[: size - 3] + "..."


_NOT_REAL = (str, bytes, complex, np.complexfloating)
# dtype kinds refused by name: text, complex, dates, durations, structured
_NOT_NUMERIC_KINDS = ("U", "S", "c", "M", "m", "V")


def _first_text_or_complex(values):
    """The first str, bytes or complex number among ``values``, else None."""
    flat = np.asarray(values, dtype=object).ravel()
    # the set of types is C-speed (8x faster than isinstance per value on
    # 10000 x 784 floats); the values are searched only when one is found
    if not any(issubclass(kind, _NOT_REAL) for kind in set(map(type, flat))):
        return None
    return next(value for value in flat if isinstance(value, _NOT_REAL))


def _object_error(what, found, holds="holds"):
    """The ValueError for an object array or column holding ``found``."""
    if isinstance(found, (str, bytes)):
        return ValueError(
            f"Expected numeric data (ints or floats), but {what} {holds} strings "
            f"(e.g. {_short_repr(found)}); {_STRING_HINT}"
        )
    return ValueError(
        f"Expected real numbers (ints or floats), but {what} {holds} complex "
        f"numbers (e.g. {_short_repr(complex(found))}). {_COMPLEX_HINT}"
    )


def _refuse_text_and_complex(X):
    """Refuse text and complex numbers in memory, as out-of-core ones are.

    scikit-learn would parse strings that hold numbers ("1.5") and fit on
    them; numbers written as text are more often a mistake (a wrong column,
    a CSV read without dtypes) than meant, so they are refused like any
    other non-number. Object arrays and DataFrame columns are searched for
    str, bytes and complex values; those holding only real numbers pass.
    """
    dtype = getattr(X, "dtype", None)
    kind = getattr(dtype, "kind", None)
    if kind in _NOT_NUMERIC_KINDS:
        raise _dtype_error("X", dtype)
    if kind == "O" and isinstance(X, np.ndarray):
        found = _first_text_or_complex(X)
        if found is not None:
            raise _object_error("X has dtype object and", found)
    if not hasattr(X, "iloc") or getattr(X, "ndim", 2) != 2:
        return  # not a DataFrame (a Series is refused as 1-D later)
    for i, column_dtype in enumerate(X.dtypes):
        name = X.columns[i]
        kind = getattr(column_dtype, "kind", None)
        if kind in _NOT_NUMERIC_KINDS:
            raise _dtype_error(f"X's column {name!r}", column_dtype)
        if kind != "O":
            continue
        categories = getattr(column_dtype, "categories", None)
        values = X.iloc[:, i] if categories is None else categories
        found = _first_text_or_complex(values)
        if found is not None:
            what = f"X's column {name!r} (dtype {column_dtype})"
            if categories is None:
                raise _object_error(what, found)
            raise _object_error(f"{what} has categories that", found, "hold")
        if categories is None and not isinstance(column_dtype, np.dtype):
            # a pandas extension type of objects: decimals pass, periods
            # and intervals (which numpy cannot make floats of) are named
            try:
                np.asarray(values, dtype=np.float64)
            except (TypeError, ValueError):
                raise _dtype_error(f"X's column {name!r}", column_dtype) from None


def check_block(block, what="X", rows=None):
    """Check one block of values: numeric and finite; return it as an ndarray.

    ``rows`` (the block's row positions in X, or None) lets a NaN or an
    infinity be counted and located as :func:`_not_finite_message` does for
    X in memory.
    """
    block = np.asarray(block)
    if block.dtype.kind not in "biuf":
        raise _dtype_error(what, block.dtype)
    if block.dtype.kind == "f" and not np.isfinite(block).all():
        bad = "NaN" if np.isnan(block).any() else "infinity"
        if rows is None or len(rows) != len(block):
            raise ValueError(f"Input {what} contains {bad}; expected finite values.")
        raise ValueError(_bad_values_message(block, what, rows))
    return block


class LazyRows:
    """Out-of-core data in the network's form, read and checked block by block.

    Indexing with a slice or a sorted int array reads only those rows from
    ``source`` (a memmap, HDF5 or zarr dataset ...), checks them with
    :func:`check_block`, and returns them as float64 of shape
    ``(len(rows), *sample_shape)``; ``axes`` reorders a channels-last block.
    """

    def __init__(self, source, sample_shape, axes=None):
        self.source = source
        self.sample_shape = tuple(sample_shape)
        self.axes = axes
        self.shape = (len(source), *self.sample_shape)
        self.ndim = len(self.shape)
        self.dtype = np.dtype(np.float64)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, index):
        raw = self.source[index]
        try:
            block = check_block(raw)
        except ValueError:  # located: the rows of X this block holds
            check_block(raw, rows=np.atleast_1d(np.arange(len(self))[index]))
            raise
        if self.axes is not None:
            c, h, w = self.sample_shape
            block = block.reshape(-1, h, w, c).transpose(self.axes)
        block = np.asarray(block, dtype=np.float64).reshape(-1, *self.sample_shape)
        self._release_pages()
        return block

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


def _check_sample_values(shape):
    """Refuse samples of no values (an axis of length 0 in (n, ...)): sklearn
    named the flattened shape, (n, 0), not X's (a probe)."""
    if len(shape) > 2 and 0 in tuple(shape[1:]):
        raise ValueError(
            f"Got X of shape {tuple(shape)}, whose samples of shape "
            f"{tuple(shape[1:])} hold no values; expected samples of at least "
            "one value (images of at least 1x1 pixels and one channel)."
        )


def _check_n_samples(shape, reset):
    n_min = 2 if reset else 1
    if shape[0] < n_min:
        raise ValueError(
            f"Found array with {shape[0]} sample(s) (shape={tuple(shape)}) while "
            f"a minimum of {n_min} is required"
            + (" to fit" if reset else "")
            + (" (n_samples=1 is too few)." if shape[0] == 1 else ".")
        )


def _validate_rows(estimator, X, *, reset):
    """``validate_data`` for 2-D X, with a clear message for non-numbers."""
    kind = getattr(getattr(X, "dtype", None), "kind", None)
    if kind in ("M", "m"):  # numpy would cast dates and durations to numbers
        raise _dtype_error("X", X.dtype)
    _refuse_text_and_complex(X)
    # integer arrays (uint8 images) stay as they are: scoring and training
    # read them block by block as float64, as they read a memmap; converting
    # all of X first took 8 times its size (+810 MB for 90 MB of uint8)
    keep = isinstance(X, np.ndarray) and kind in ("u", "i")
    try:
        # NaN and infinity are refused even under sklearn's
        # assume_finite=True: a NaN reached the network and failed as a
        # "diverged" training or a "corrupted file", an infinity scored
        # as a number (a probe); one pass over X costs little beside a
        # network's. (sklearn's check sums X first: values near float64's
        # largest overflow there, and numpy warned of it on every call)
        with (
            config_context(assume_finite=False),
            np.errstate(over="ignore", invalid="ignore"),
        ):
            return validate_data(
                estimator,
                X,
                reset=reset,
                dtype=None if keep else [np.float64, np.float32],
                ensure_min_samples=2 if reset else 1,
            )
    except ValueError as exc:
        kind = getattr(getattr(X, "dtype", None), "kind", None)
        dtypes = getattr(X, "dtypes", None)  # a DataFrame's columns
        dtypes = [dtypes] if hasattr(dtypes, "kind") else dtypes  # a Series'
        if kind in ("U", "S", "O", "M", "m", "c") or (
            dtypes is not None and any(d.kind not in "biuf" for d in dtypes)
        ):
            reason = str(exc).strip().splitlines()[0]  # not sklearn's dump of X
            raise ValueError(
                "Expected numeric data (ints or floats), but X holds values "
                f"that are not numbers: {reason}"
            ) from exc
        if "contains NaN" in str(exc) or "contains infinity" in str(exc):
            message = _not_finite_message(X)
            if message is not None:
                raise ValueError(message) from exc
        raise


def _not_finite_message(X):
    """Where X (2-D) holds NaN or infinity, for sklearn's message that
    suggested estimators for supervised learning and named no sample; where
    X does not convert to floats, pandas' NA (:func:`_missing_message`), or
    None, which keeps sklearn's."""
    try:
        values = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        return _missing_message(X)
    if np.isfinite(values).all():  # sklearn saw what float64 does not show
        return None
    return _bad_values_message(values)


def _bad_values_message(values, what="X", rows=None):
    """The message for NaN or infinity in ``values`` (samples along the
    first axis): how many, in how many samples, and the first of them,
    as rows of ``what`` (``rows``: the positions of a block read from it;
    None: ``values`` is all of it)."""
    flat = np.asarray(values).reshape(len(values), -1)
    nan, inf = np.isnan(flat), np.isinf(flat)
    bad = np.flatnonzero((nan | inf).any(axis=1))
    first = int(bad[0]) if rows is None else int(rows[bad[0]])
    where = (
        f"{len(flat)} samples"
        if rows is None
        else f"the {len(flat)} samples read at rows {int(rows[0])} to "
        f"{int(rows[-1])} of {what}"
    )
    return (
        f"Input {what} contains {'NaN' if nan.any() else 'infinity'}: "
        f"{int(nan.sum())} NaN and {int(inf.sum())} infinite value(s) in "
        f"{len(bad)} of {where} (the first: sample {first}); expected finite "
        "numbers. Drop those samples, or impute them (e.g. "
        "sklearn.impute.SimpleImputer on the flattened samples)."
    )


def _missing_message(X):
    """Where a DataFrame holds missing values that float64 cannot take
    (pandas' NA in nullable columns), or None."""
    try:
        missing = np.asarray(X.isna(), dtype=bool)
    except Exception:  # not a DataFrame, or pandas could not say
        return None
    bad = np.flatnonzero(missing.reshape(len(missing), -1).any(axis=1))
    if not len(bad):
        return None
    return (
        f"Input X contains missing values (pandas NA): {int(missing.sum())} in "
        f"{len(bad)} of {len(missing)} samples (the first: sample {int(bad[0])}); "
        "expected finite numbers. Drop those samples (X.dropna()), or impute "
        "them (e.g. sklearn.impute.SimpleImputer)."
    )


def _check_fitted_shape(estimator, n_features, own_shape, shape=None):
    error = fitted_shape_error(estimator, n_features, own_shape, shape)
    if error is not None:
        raise error


def validate_input(estimator, X, *, reset, images=True):
    """Validate X in any accepted form and return it as :class:`InputData`.

    With ``reset=True`` (in ``fit``) this sets ``n_features_in_`` (and
    ``feature_names_in_`` for DataFrames with string column names) and, for
    images, ``image_shape_`` ``(C, H, W)`` and ``input_shape_`` (one
    sample's shape as given); otherwise X must match them. ``images=False``
    takes 2-D rows only (the tabular estimators).

    The rows returned are a view of the caller's data whenever no conversion
    is needed, and are never written to.

    Parameters
    ----------
    estimator : skcae estimator
        Reads ``image_shape`` and ``_data_format()`` (images only).
    X : array-like, DataFrame, tensor, memmap or lazy array-like
        The input.
    reset : bool
        True in ``fit``.
    images : bool, default=True
        Whether X holds images (else tabular rows).

    Returns
    -------
    data : InputData
        ``rows`` of shape ``(n, C, H, W)`` (images) or ``(n, n_features)``
        and ``input_shape``, X's own shape.
    """
    data_format = estimator._data_format()
    check_images_input(X)
    if is_out_of_core(X):
        return _validate_lazy(estimator, X, reset=reset, images=images)
    X = _to_array(X)
    shape = tuple(getattr(X, "shape", ()))
    if not images and len(shape) != 2:
        if len(shape) < 2:
            _validate_rows(estimator, X, reset=reset)  # sklearn's 1-D message
        raise ValueError(
            f"Got X of shape {shape}, but {type(estimator).__name__} takes 2-D "
            "tabular data (n_samples, n_features); for images use "
            "ConvAutoencoderOutlierDetector, or flatten them."
        )
    if images and len(shape) < 2:
        _refuse_one_dimensional(estimator, shape, reset)
    if len(shape) > 2:
        _check_ndim(shape)
        _check_n_samples(shape, reset)  # naming X's own shape, not the rows'
        _check_sample_values(shape)
        # at fit only: a fitted estimator names its own shape (below)
        explicit = not reset or estimator.image_shape is not None
        own_shape = _own_image_shape(shape, data_format, explicit, not reset)
        if images and not explicit and len(shape) == 3 and _looks_colour(shape):
            _warn_one_image(shape)
        # channels-last images stay (H, W, C) values a row here and become
        # a transposed view below: transposing first copied the whole of X
        X = X.reshape(shape[0], int(np.prod(shape[1:])))
    else:
        own_shape = None
    if images and not reset and len(shape) >= 2:
        _check_fitted_shape(estimator, int(np.prod(shape[1:])), own_shape, shape)
    X = _validate_rows(estimator, X, reset=reset)
    if not images:
        return InputData(X, X.shape)
    if reset:
        estimator.image_shape_ = _resolve_image_shape(
            estimator, own_shape, X.shape[1], shape or X.shape
        )
        estimator.input_shape_ = tuple(shape[1:]) if len(shape) > 2 else X.shape[1:]
        estimator.data_format_ = data_format
    input_shape = tuple(shape) if len(shape) > 2 else X.shape
    c, h, w = estimator.image_shape_
    if data_format == "channels_last" and c > 1:
        # rows of channels-last images ((n, H, W, C) or flat): (H, W, C)
        # values each, read channels first through a view (scoring converts
        # it block by block)
        return InputData(
            X.reshape(X.shape[0], h, w, c).transpose(0, 3, 1, 2), input_shape, True
        )
    return InputData(X.reshape(X.shape[0], c, h, w), input_shape, False)


def known_shape(X):
    """The shape of out-of-core ``X`` as ints; a clear error where a length
    is unknown (a Dask array after a boolean mask has NaN chunk sizes, and
    ``int(nan)`` failed with "cannot convert float NaN to integer", a
    probe). :class:`~skcae.DaskScorer` checks its arrays so too."""
    shape = tuple(X.shape)
    if all(
        isinstance(v, numbers.Integral)
        or (isinstance(v, numbers.Real) and math.isfinite(v) and v == int(v))
        for v in shape
    ):
        return tuple(int(v) for v in shape)
    if hasattr(X, "compute_chunk_sizes"):
        raise ValueError(
            f"Got a Dask array of shape {shape} with unknown chunk sizes; "
            "call X.compute_chunk_sizes() first."
        )
    raise ValueError(
        f"Got X of shape {shape}, with unknown lengths; expected a known "
        "length along every axis."
    )


def _validate_lazy(estimator, X, *, reset, images):
    """:func:`validate_input` for out-of-core data: shapes now, values per block."""
    shape = known_shape(X)
    _check_ndim(shape)
    if not images and len(shape) != 2:
        raise ValueError(
            f"Got X of shape {shape}, but {type(estimator).__name__} takes 2-D "
            "tabular data (n_samples, n_features)."
        )
    _check_n_samples(shape, reset)
    _check_sample_values(shape)
    n_features = int(np.prod(shape[1:]))
    data_format = _layout_of(X, estimator)
    own_shape = (
        _own_image_shape(
            shape,
            data_format,
            not reset or estimator.image_shape is not None,
            not reset,
        )
        if images
        else None
    )
    if reset:
        estimator.n_features_in_ = n_features
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        if images:
            estimator.image_shape_ = _resolve_image_shape(
                estimator, own_shape, n_features, shape
            )
            estimator.input_shape_ = shape[1:]
            c, h, w = estimator.image_shape_
            own_format = estimator.data_format_ = estimator._data_format()
            if own_format == "channels_last" and data_format != own_format and c > 1:
                # files read channels first: the sample form of the arrays
                # this estimator takes (and its ONNX graph's input)
                estimator.input_shape_ = (h, w, c)
    else:
        _check_fitted_shape(estimator, n_features, own_shape if images else None, shape)
    axes, sample_shape = None, (n_features,)
    if images:
        c, h, w = sample_shape = estimator.image_shape_
        if data_format == "channels_last" and c > 1:
            axes = (0, 3, 1, 2)  # blocks are read as (n, H, W, C)
    return InputData(LazyRows(X, sample_shape, axes), shape, axes is not None)


def _layout_of(X, estimator):
    """How out-of-core images ``X`` are laid out: an :class:`ImageFiles`
    by its own ``data_format`` (channels first: decoded files cannot be
    moved to the estimator's layout without reading them all), any other
    source by the estimator's ``data_format``."""
    from ._image_files import ImageFiles

    if isinstance(X, ImageFiles):
        return X.data_format
    return estimator._data_format()


def as_samples(X, sample_shape, name="X", *, channels_last=False):
    """``X`` as float64 samples of ``sample_shape``, checked, for callbacks.

    Takes ``(n, prod(sample_shape))`` or ``(n, *sample_shape)`` (and gray
    ``(n, H, W)`` for one-channel images). With ``channels_last`` (the
    estimator's ``data_format="channels_last"``), images of ``C > 1``
    channels are read as the estimator reads X: ``(n, H, W, C)`` or flat
    rows of ``H * W * C`` values in that order.
    """
    X = check_block(_to_array(X), name)
    size = int(np.prod(sample_shape))
    c, *hw = sample_shape if len(sample_shape) == 3 else (1,)
    own = (*hw, c) if channels_last and c > 1 else tuple(sample_shape)
    # one channel: (1, H, W), (H, W, 1) and (H, W) hold the values in one order
    shapes = {own, (*hw, 1), (1, *hw), tuple(hw)} if c == 1 and hw else {own}
    ndims = {2, *(1 + len(shape) for shape in shapes)}
    if X.ndim < 2 or len(X) < 1 or X[0].size != size or X.ndim not in ndims:
        raise ValueError(
            f"Got {name} of shape {X.shape}, but the network takes samples of "
            f"{size} values (shape {own}); expected an array of "
            f"shape (n_samples, {size}) or (n_samples, *{own})."
        )
    if X.ndim > 2 and X.shape[1:] not in shapes:
        raise ValueError(
            f"Got {name} of shape {X.shape}, but the network takes samples of "
            f"shape {own}; expected (n_samples, *{own}) or flat rows (the "
            "estimator's data_format decides whether images are (C, H, W) or "
            "(H, W, C))."
        )
    X = np.asarray(X, dtype=np.float64)
    if own != tuple(sample_shape):
        return X.reshape(len(X), *own).transpose(0, 3, 1, 2)
    return X.reshape(len(X), *sample_shape)
