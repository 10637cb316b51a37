"""Dataset loaders and the one-class evaluation protocol.

Everything here is pure NumPy / scikit-learn: nothing is downloaded, and
MNIST is read from the original IDX files in any local folder.
"""

import contextlib
import gzip
import math
import os
import reprlib
import zlib
from collections.abc import Set as AbstractSet
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch

from ._sklearn_compat import Interval, StrOptions, validate_params

__all__ = ["load_mnist", "load_digits_images", "make_one_class_split"]

_IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
_IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
_MNIST_SHAPE = (28, 28)
_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: Largest payload (bytes) an IDX file may declare; MNIST's largest is 47 MB.
#: Checked right after the header, before any data is read, so a hostile
#: header cannot make the loader decompress more than this. The memory a
#: load takes is a multiple of the payload read: about 2x while a file is
#: read (its chunks, then the joined bytes), about 5x at the end with
#: normalize=True (the bytes and the float32 images; 2x with uint8), so
#: up to ~10 GiB for a payload at this bound (a gzip bomb of ~2 MB) and
#: twice that for subset="all".
_MAX_IDX_BYTES = 2**31
#: Bytes read (and decompressed) per call: memory grows with the data that is
#: really there, never with the size a header declares.
_CHUNK_BYTES = 2**20


def _find_file(folder, name):
    """Return ``folder/name.gz`` or ``folder/name`` (in that order), or None."""
    for candidate in (folder / (name + ".gz"), folder / name):
        if candidate.is_file():
            return candidate
    return None


def _not_a_file(folder, name):
    """What lies at ``folder/name[.gz]`` that is not a file ("" if nothing):
    a folder or a link to nothing was reported as a missing file."""
    notes = []
    for candidate in (folder / (name + ".gz"), folder / name):
        if candidate.is_symlink() and not candidate.exists():
            notes.append(f"; {candidate.name} is a link to nothing")
        elif candidate.is_dir():
            notes.append(f"; {candidate.name} is a folder")
        elif os.path.lexists(candidate):
            notes.append(f"; {candidate.name} is not a regular file")
    return "".join(notes)


def _stratified_split(n, y, is_normal, test_size, random_state):
    """Train and test positions of ``n`` samples, stratified on ``y``, else
    on ``is_normal``, else not (a class of one sample, or a test set smaller
    than the number of classes, made scikit-learn refuse the split)."""
    for stratify in (y, is_normal):
        try:
            return train_test_split(
                np.arange(n),
                test_size=test_size,
                stratify=stratify,
                random_state=random_state,
            )
        except ValueError:
            continue
    return train_test_split(
        np.arange(n), test_size=test_size, random_state=random_state
    )


@contextlib.contextmanager
def _read_errors(path):
    """Turn the errors of opening, reading or decompressing ``path`` into ValueError.

    zlib.error, EOFError (a gzip stream cut short) and OSError (e.g.
    gzip.BadGzipFile) become a ValueError naming the file; a PermissionError
    stays one, naming the file (it was called corrupt); FileNotFoundError
    (the file vanished) and our own ValueErrors pass through.
    """
    try:
        yield
    except FileNotFoundError:
        raise
    except PermissionError as exc:  # not corrupt: unreadable to this user
        raise PermissionError(
            exc.errno,
            f"Cannot read IDX file '{path}': permission denied. Expected a "
            "file this user may read (check its permissions).",
        ) from exc
    except (OSError, EOFError, zlib.error) as exc:
        kind = "gzip-compressed " if path.suffix == ".gz" else ""
        name = type(exc).__qualname__
        if type(exc).__module__ != "builtins":
            name = f"{type(exc).__module__}.{name}"  # zlib.error, gzip.BadGzipFile
        raise ValueError(
            f"Cannot read IDX file '{path}': {name}: {exc}. "
            f"Expected a readable {kind}IDX file; it is corrupt or truncated."
        ) from exc


def _open_idx(path):
    """Open ``path`` for binary reading, decompressing it if it ends in .gz."""
    with _read_errors(path):
        return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _read_upto(f, n):
    """Read ``n`` bytes from ``f``, fewer only at the end of the stream.

    Reads in chunks of at most ``_CHUNK_BYTES``, so memory grows with the data
    the file really holds, never with the size a header declares.
    """
    chunks, found = [], 0
    while found < n:
        chunk = f.read(min(_CHUNK_BYTES, n - found))
        if not chunk:
            break
        chunks.append(chunk)
        found += len(chunk)
    return b"".join(chunks)


def _read_header(f, path, magic):
    """Read and check an IDX header; return the declared dimensions.

    Reads exactly ``4 + 4 * ndim`` bytes. The dimensions must all be >= 1 and
    their product (the payload size, computed with Python ints so it cannot
    overflow) at most ``_MAX_IDX_BYTES``.
    """
    ndim = magic & 0xFF
    header_size = 4 * (1 + ndim)
    with _read_errors(path):
        raw = _read_upto(f, 4)
        if len(raw) == 4 and int.from_bytes(raw, "big") != magic:
            hint = ""
            if raw[:2] == b"\x1f\x8b":
                hint = " It looks gzip-compressed: name it with a .gz suffix."
            raise ValueError(
                f"IDX file '{path}' has magic number "
                f"0x{int.from_bytes(raw, 'big'):08X}, expected 0x{magic:08X}; "
                f"the file is corrupt or of another kind.{hint}"
            )
        if len(raw) == 4:
            raw += _read_upto(f, header_size - 4)
    if len(raw) < header_size:
        raise ValueError(
            f"IDX file '{path}' is truncated: found {len(raw)} bytes, expected "
            f"a header of {header_size} bytes (magic number and {ndim} "
            "dimension(s))."
        )
    dims = tuple(
        int.from_bytes(raw[i : i + 4], "big") for i in range(4, header_size, 4)
    )
    if 0 in dims:
        raise ValueError(
            f"IDX file '{path}' declares dimensions {dims}, expected every "
            "dimension to be at least 1."
        )
    size = math.prod(dims)  # Python ints: exact, whatever the dimensions
    if size > _MAX_IDX_BYTES:
        raise ValueError(
            f"IDX file '{path}' declares dimensions {dims}, i.e. {size} bytes of "
            f"data, expected at most {_MAX_IDX_BYTES} bytes; the header is "
            "corrupt or the file is not an MNIST file."
        )
    return dims


def _read_payload(f, path, dims):
    """Read exactly ``prod(dims)`` bytes after the header, then expect the end.

    One byte past the payload is read, so trailing data (e.g. a
    decompression bomb behind a small header) is detected without being
    decompressed, and a gzip stream's end (its CRC check) is reached.
    """
    size = math.prod(dims)
    with _read_errors(path):
        data = _read_upto(f, size)
        extra = f.read(1) if len(data) == size else b""
    if len(data) < size:
        raise ValueError(
            f"IDX file '{path}' declares dimensions {dims}, i.e. {size} bytes of "
            f"data after its {4 * (1 + len(dims))}-byte header, but holds only "
            f"{len(data)}; the file is truncated or corrupt."
        )
    if extra:
        raise ValueError(
            f"IDX file '{path}' holds more than the {size} bytes of data its "
            f"dimensions {dims} declare; expected the file to end there. It has "
            "trailing data: the file is corrupt or its header is wrong."
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _load_mnist_part(folder, part):
    """Load the (images, labels) uint8 pair of one MNIST part.

    Both headers are checked (image size, matching counts) before any
    payload is read.
    """
    images_path, labels_path = (_find_file(folder, n) for n in _MNIST_FILES[part])
    with _open_idx(images_path) as fi, _open_idx(labels_path) as fl:
        image_dims = _read_header(fi, images_path, _IDX_IMAGES_MAGIC)
        if image_dims[1:] != _MNIST_SHAPE:
            raise ValueError(
                f"IDX file '{images_path}' holds images of size "
                f"{image_dims[1]}x{image_dims[2]}, expected 28x28."
            )
        label_dims = _read_header(fl, labels_path, _IDX_LABELS_MAGIC)
        if label_dims[0] != image_dims[0]:
            raise ValueError(
                f"IDX file '{images_path}' holds {image_dims[0]} images but "
                f"'{labels_path}' holds {label_dims[0]} labels; expected one "
                "label per image."
            )
        images = _read_payload(fi, images_path, image_dims)
        labels = _read_payload(fl, labels_path, label_dims)
    bad = np.unique(labels[labels > 9])
    if bad.size:
        shown = bad[:10].tolist()
        more = f" and {bad.size - 10} other value(s)" if bad.size > 10 else ""
        raise ValueError(
            f"IDX file '{labels_path}' holds labels {shown}{more}, expected "
            "digit labels 0-9."
        )
    return images, labels


@validate_params(
    {
        "path": [str, os.PathLike],
        "subset": [StrOptions({"train", "test", "all"})],
        "return_X_y": ["boolean"],
        "normalize": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_mnist(path, *, subset="train", return_X_y=False, normalize=True):
    """Load MNIST from the original IDX files in a local folder.

    Parameters
    ----------
    path : str or os.PathLike
        Folder holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each gzipped
        (``.gz``, preferred when both exist) or raw. Nothing is downloaded.
        The files are treated as untrusted: each header is checked before
        its data is read, the declared data may not exceed 2 GiB, and a file
        must hold exactly the data its header declares.
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
        If a parameter is invalid, or a file cannot be read or decompressed,
        has the wrong magic number, declares empty or oversized dimensions,
        is truncated or has trailing data, holds images that are not 28x28,
        labels outside 0-9, or a different number of labels than images.

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
    folder = Path(path)
    if not folder.is_dir():
        what = "a file" if folder.exists() else "does not exist"
        raise FileNotFoundError(
            f"Got path '{folder}', which {'is ' if folder.exists() else ''}{what}; "
            "expected the folder that holds the MNIST IDX files "
            "(train-images-idx3-ubyte[.gz] and the others)."
        )
    parts = ["train", "test"] if subset == "all" else [subset]
    needed = [name for part in parts for name in _MNIST_FILES[part]]
    missing = [name for name in needed if _find_file(folder, name) is None]
    if missing:
        expected = ", ".join(f"{name}[.gz]" for name in needed)
        found = "".join(_not_a_file(folder, name) for name in missing)
        raise FileNotFoundError(
            f"MNIST files missing in folder '{folder}': {', '.join(missing)} "
            f"(subset={subset!r} expects {expected}){found}."
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


@validate_params(
    {"return_X_y": ["boolean"], "normalize": ["boolean"]},
    prefer_skip_nested_validation=True,
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


def _unique_labels(values, name):
    """The sorted distinct labels of ``values``, or a ValueError when they
    cannot be sorted (mixed types, such as numbers with None or strings)."""
    try:
        return np.unique(values)
    except TypeError as exc:
        kinds = sorted({type(v).__name__ for v in np.asarray(values).ravel().tolist()})
        raise ValueError(
            f"{name} holds labels of several types ({', '.join(kinds)}) that "
            "cannot be sorted; expected labels of one type (all numbers or all "
            "strings), without None."
        ) from exc


def _check_labels(y, X, y_name, X_name):
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(
            f"{y_name} must have shape ({len(X)},) to match {X_name}; got {y.shape}."
        )


@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "normal_class": [Integral, Real, str, "array-like"],
        "validation_size": [Interval(Real, 0, 1, closed="left")],
        "test_size": [
            Interval(Real, 0, 1, closed="neither"),
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
        "X_test": ["array-like", None],
        "y_test": ["array-like", None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
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
        ``y`` (on normal against other when a class has too few samples for
        that, or the test set too few for every class; not stratified when
        even that cannot be). None means 0.3.
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
    # a set is a collection of labels too (numpy makes it one object)
    listed = (
        list(normal_class) if isinstance(normal_class, AbstractSet) else normal_class
    )
    normal = _unique_labels(np.asarray(listed).ravel(), "normal_class")
    labels = _unique_labels(y, "y")
    if normal.dtype == bool and labels.dtype != bool:
        # True == 1 in Python: a mask such as y == 3 named the classes 0
        # and 1 (a probe)
        raise ValueError(
            f"Got normal_class of booleans ({reprlib.repr(normal_class)}: a "
            "mask such as y == 3?); expected labels present in y "
            f"({reprlib.repr(labels.tolist())}), e.g. normal_class=3."
        )
    if normal.size == 0:
        raise ValueError("normal_class must name at least one label.")
    if any(isinstance(v, float) and v != v for v in normal.tolist()):
        raise ValueError(
            f"Got normal_class={normal_class!r}, which holds NaN: NaN equals no "
            "label, itself included, so it names no class. Expected labels "
            f"present in y ({labels.tolist()}), without NaN."
        )
    # membership by Python equality: np.isin between numbers and strings
    # answers differently with the arrays' sizes
    present = set(labels.tolist())
    absent = np.array([v for v in normal.tolist() if v not in present])
    if absent.size:
        hint = ""
        text = {str(v): v for v in present}
        as_label = [text[str(v)] for v in absent.tolist() if str(v) in text]
        if as_label:
            kind = "strings" if isinstance(as_label[0], str) else "numbers"
            hint = f" (y holds {kind}: pass normal_class={as_label[0]!r})"
        raise ValueError(
            f"normal_class {absent.tolist()} not present in y; labels present "
            f"are {labels.tolist()}{hint}."
        )

    if X_test is None and y_test is None:
        if test_size is None:
            test_size = 0.3
        if isinstance(test_size, (bool, np.bool_)):
            raise ValueError(
                f"test_size must be a float in (0, 1) or an int, not {test_size!r}."
            )
        if isinstance(test_size, Integral) and not 1 <= test_size < len(X):
            raise ValueError(
                f"test_size as an int must be in [1, {len(X) - 1}] (fewer than "
                f"the {len(X)} samples of X); got {test_size!r}."
            )
        train_idx, test_idx = _stratified_split(
            len(X), y, np.isin(y, normal), test_size, random_state
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
    if not is_normal.any():
        raise ValueError(
            f"normal_class {normal.tolist()} is absent from the test set, which "
            "would hold no normal samples (its AUROC is undefined); expected "
            "test samples of both kinds."
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
