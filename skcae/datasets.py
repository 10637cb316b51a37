"""Dataset loaders and the one-class evaluation protocol.

Everything here is pure NumPy / scikit-learn: nothing is downloaded, and
MNIST is read from the original IDX files in any local folder.
"""

import gzip
import zlib
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch

__all__ = ["load_mnist", "load_digits_images", "make_one_class_split"]

_IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
_IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
_MNIST_SHAPE = (28, 28)
_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find_file(folder, name):
    """Return ``folder/name.gz`` or ``folder/name`` (in that order), or None."""
    for candidate in (folder / (name + ".gz"), folder / name):
        if candidate.is_file():
            return candidate
    return None


def _read_idx(path, magic):
    """Read one unsigned-byte IDX file and validate its header and size."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"Cannot read IDX file '{path}': {exc}") from exc
    ndim = magic & 0xFF
    header_size = 4 * (1 + ndim)
    if len(raw) < header_size:
        raise ValueError(
            f"IDX file '{path}' is truncated: found {len(raw)} bytes, expected "
            f"a header of at least {header_size} bytes."
        )
    header = np.frombuffer(raw, dtype=">u4", count=1 + ndim)
    if int(header[0]) != magic:
        raise ValueError(
            f"IDX file '{path}' has magic number 0x{int(header[0]):08X}, "
            f"expected 0x{magic:08X}; the file is corrupt or of another kind."
        )
    dims = tuple(int(d) for d in header[1:])
    expected = header_size + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        raise ValueError(
            f"IDX file '{path}' declares dimensions {dims}, i.e. {expected} "
            f"bytes, but holds {len(raw)} bytes; the file is truncated or corrupt."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(dims)


def _load_mnist_part(folder, part):
    """Load the (images, labels) uint8 pair of one MNIST part."""
    images_path, labels_path = (_find_file(folder, n) for n in _MNIST_FILES[part])
    images = _read_idx(images_path, _IDX_IMAGES_MAGIC)
    if images.shape[1:] != _MNIST_SHAPE:
        raise ValueError(
            f"IDX file '{images_path}' holds images of size "
            f"{images.shape[1]}x{images.shape[2]}, expected 28x28."
        )
    labels = _read_idx(labels_path, _IDX_LABELS_MAGIC)
    if labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"IDX file '{images_path}' holds {images.shape[0]} images but "
            f"'{labels_path}' holds {labels.shape[0]} labels."
        )
    return images, labels


def load_mnist(path, *, subset="train", return_X_y=False, normalize=True):
    """Load MNIST from the original IDX files in a local folder.

    Parameters
    ----------
    path : str or os.PathLike
        Folder holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each gzipped
        (``.gz``, preferred when both exist) or raw. Nothing is downloaded.
    subset : {"train", "test", "all"}, default="train"
        Which part to load; ``"all"`` concatenates train then test.
    return_X_y : bool, default=False
        If True, return ``(images, target)`` instead of a Bunch.
    normalize : bool, default=True
        If True, images are float32 scaled to [0, 1]; otherwise raw uint8.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With ``images`` of shape (n_samples, 28, 28), ``data`` (a flat
        (n_samples, 784) view of ``images``), ``target`` (int64 labels 0-9)
        and ``DESCR``.
    (images, target) : tuple
        If ``return_X_y`` is True.

    Raises
    ------
    FileNotFoundError
        If a needed file is missing from ``path``.
    ValueError
        If a file is corrupt or truncated, or ``subset`` is unknown.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skcae.datasets import load_mnist
    >>> folder = tempfile.mkdtemp()
    >>> header = np.array([0x803, 2, 28, 28], dtype=">u4").tobytes()
    >>> with open(os.path.join(folder, "t10k-images-idx3-ubyte"), "wb") as f:
    ...     _ = f.write(header + bytes(2 * 28 * 28))
    >>> header = np.array([0x801, 2], dtype=">u4").tobytes()
    >>> with open(os.path.join(folder, "t10k-labels-idx1-ubyte"), "wb") as f:
    ...     _ = f.write(header + bytes([3, 7]))
    >>> mnist = load_mnist(folder, subset="test")
    >>> mnist.images.shape, mnist.data.shape, mnist.images.dtype
    ((2, 28, 28), (2, 784), dtype('float32'))
    >>> mnist.target.tolist()
    [3, 7]
    >>> import shutil; shutil.rmtree(folder)
    >>> X, y = load_mnist("path/to/mnist", return_X_y=True)  # doctest: +SKIP
    """
    if subset not in ("train", "test", "all"):
        raise ValueError(
            f"subset must be one of 'train', 'test' or 'all'; got {subset!r}."
        )
    folder = Path(path)
    parts = ["train", "test"] if subset == "all" else [subset]
    needed = [name for part in parts for name in _MNIST_FILES[part]]
    missing = [name for name in needed if _find_file(folder, name) is None]
    if missing:
        expected = ", ".join(f"{name}[.gz]" for name in needed)
        raise FileNotFoundError(
            f"MNIST files missing in folder '{folder}': {', '.join(missing)} "
            f"(subset={subset!r} expects {expected})."
        )
    loaded = [_load_mnist_part(folder, part) for part in parts]
    # np.concatenate always returns a new, writable array (even for one part).
    dtype = np.float32 if normalize else np.uint8
    images = np.concatenate([im for im, _ in loaded], dtype=dtype)
    target = np.concatenate([lb for _, lb in loaded], dtype=np.int64)
    if normalize:
        images /= 255.0
    if return_X_y:
        return images, target
    descr = (
        f"MNIST handwritten digits, subset={subset!r}: {len(images)} grayscale "
        f"28x28 images, labels 0-9 (LeCun, Cortes and Burges), read from "
        f"'{folder}'."
    )
    return Bunch(
        images=images,
        data=images.reshape(len(images), -1),
        target=target,
        DESCR=descr,
    )


def load_digits_images(*, return_X_y=False, normalize=True):
    """Load scikit-learn's 8x8 digits as images (the embedded default dataset).

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(images, target)`` instead of a Bunch.
    normalize : bool, default=True
        If True, pixel values (0-16) are divided by 16 to lie in [0, 1].

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With ``images`` (float32, shape (1797, 8, 8)), ``data`` (a flat
        (1797, 64) view of ``images``), ``target`` (int64 labels 0-9) and
        ``DESCR``.
    (images, target) : tuple
        If ``return_X_y`` is True.

    Examples
    --------
    >>> from skcae.datasets import load_digits_images
    >>> images, target = load_digits_images(return_X_y=True)
    >>> images.shape, images.dtype, target.shape
    ((1797, 8, 8), dtype('float32'), (1797,))
    >>> bool(images.min() >= 0.0 and images.max() <= 1.0)
    True
    """
    digits = load_digits()
    images = digits.images.astype(np.float32)
    if normalize:
        images /= 16.0
    target = digits.target.astype(np.int64)
    if return_X_y:
        return images, target
    return Bunch(
        images=images,
        data=images.reshape(len(images), -1),
        target=target,
        DESCR=digits.DESCR,
    )


def _check_labels(y, X, y_name, X_name):
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(
            f"{y_name} must have shape ({len(X)},) to match {X_name}; got {y.shape}."
        )


def _check_fraction(value, name, low_inclusive):
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a float; got {value!r}.")
    if not ((0.0 <= value if low_inclusive else 0.0 < value) and value < 1.0):
        interval = "[0, 1)" if low_inclusive else "(0, 1)"
        raise ValueError(f"{name} must be in {interval}; got {value!r}.")


def make_one_class_split(
    X,
    y,
    *,
    normal_class,
    validation_size=0.0,
    test_size=None,
    X_test=None,
    y_test=None,
    random_state=None,
):
    """Build the one-class protocol: train on one class, test on all.

    Training (and validation) data hold only images of ``normal_class``; the
    test set holds every class, labelled +1 (normal) or -1 (outlier), which is
    scikit-learn's outlier-detection convention. The caller's arrays are never
    modified; all returned arrays are new.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Samples, e.g. images of shape (n_samples, height, width).
    y : array-like of shape (n_samples,)
        Class labels of ``X``.
    normal_class : int, label or collection of labels
        The class(es) regarded as normal.
    validation_size : float, default=0.0
        Fraction in [0, 1) of the normal training images held out as a
        validation set (normal images only). 0 means no validation set.
    test_size : float or int, default=None
        Only when ``X_test`` is None: share (float in (0, 1)) or number (int)
        of samples of ``X`` put in the test set by a split stratified on
        ``y``. None means 0.3.
    X_test, y_test : array-like, default=None
        A separate labelled test set (e.g. MNIST's official one); if given,
        training uses the normal images of ``X`` and the test set is all of
        ``X_test``.
    random_state : int, RandomState instance or None, default=None
        Controls the splits; pass an int for reproducible output.

    Returns
    -------
    split : :class:`~sklearn.utils.Bunch`
        ``X_train``, ``X_val`` (None when ``validation_size`` is 0),
        ``X_test``, ``y_test`` (int64, +1 normal / -1 outlier) and
        ``y_test_class`` (original labels of the test rows).

    Examples
    --------
    >>> from skcae.datasets import load_digits_images, make_one_class_split
    >>> X, y = load_digits_images(return_X_y=True)
    >>> split = make_one_class_split(
    ...     X, y, normal_class=0, validation_size=0.2, random_state=0)
    >>> split.X_train.shape[1:], split.X_test.shape[1:]
    ((8, 8), (8, 8))
    >>> sorted(set(split.y_test.tolist()))
    [-1, 1]
    >>> bool((split.y_test_class[split.y_test == 1] == 0).all())
    True
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim < 2:
        raise ValueError(f"X must have shape (n_samples, ...); got {X.shape}.")
    _check_labels(y, X, "y", "X")
    normal = np.unique(np.asarray(normal_class).ravel())
    labels = np.unique(y)
    if normal.size == 0:
        raise ValueError("normal_class must name at least one label.")
    absent = normal[~np.isin(normal, labels)]
    if absent.size:
        raise ValueError(
            f"normal_class {absent.tolist()} not present in y; labels present "
            f"are {labels.tolist()}."
        )
    _check_fraction(validation_size, "validation_size", low_inclusive=True)

    if X_test is None and y_test is None:
        if test_size is None:
            test_size = 0.3
        if isinstance(test_size, Integral) and not isinstance(test_size, bool):
            if not 1 <= test_size < len(X):
                raise ValueError(
                    f"test_size as an int must be in [1, {len(X) - 1}]; "
                    f"got {test_size}."
                )
        else:
            _check_fraction(test_size, "test_size", low_inclusive=False)
        train_idx, test_idx = train_test_split(
            np.arange(len(X)),
            test_size=test_size,
            stratify=y,
            random_state=random_state,
        )
        train_idx = train_idx[np.isin(y[train_idx], normal)]
        X_test, y_test = X[test_idx], y[test_idx]
    elif X_test is None or y_test is None:
        raise ValueError("X_test and y_test must be given together.")
    else:
        if test_size is not None:
            raise ValueError("test_size cannot be used with X_test and y_test.")
        X_test, y_test = np.array(X_test), np.array(y_test)
        if X_test.shape[1:] != X.shape[1:]:
            raise ValueError(
                f"X_test samples have shape {X_test.shape[1:]}, but X samples "
                f"have shape {X.shape[1:]}."
            )
        _check_labels(y_test, X_test, "y_test", "X_test")
        train_idx = np.flatnonzero(np.isin(y, normal))

    is_normal = np.isin(y_test, normal)
    if is_normal.all():
        raise ValueError(
            f"normal_class {normal.tolist()} covers every label of the test "
            "set, which would hold no outliers."
        )
    n_train = len(train_idx)
    n_val = int(np.ceil(validation_size * n_train))
    if n_train - n_val < 1:
        raise ValueError(
            f"Only {n_train} normal training image(s) with "
            f"validation_size={validation_size}; none would be left to train on."
        )
    X_val = None
    if n_val > 0:
        train_idx, val_idx = train_test_split(
            train_idx, test_size=validation_size, random_state=random_state
        )
        X_val = X[val_idx]
    return Bunch(
        X_train=X[train_idx],
        X_val=X_val,
        X_test=X_test,
        y_test=np.where(is_normal, 1, -1).astype(np.int64),
        y_test_class=y_test,
    )
