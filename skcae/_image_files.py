"""Image files as a lazy array: listed now, decoded block by block when read.

:class:`ImageFiles` lists folders, glob patterns and paths once, reads the
first file's header for the image size and colour mode, and decodes files
(through Pillow, the ``images`` extra) only when rows are indexed, so the
estimators stream it like a memmap (``skcae._validation.LazyRows``).
"""

import fnmatch
import glob
import os
import stat
from numbers import Integral

import numpy as np

from ._files import atomic_write

#: File name endings a folder is searched for (lower case).
IMAGE_EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
    ".bmp",
    ".pgm",
    ".ppm",
    ".pbm",
    ".pnm",
)
MODES = ("L", "RGB")
#: The largest size= (pixels an image) ImageFiles resizes to: Pillow's
#: default MAX_IMAGE_PIXELS, beyond which it treats a file as a
#: decompression bomb (size=(100000, 100000) asked for 30 GB per image).
MAX_RESIZE_PIXELS = 89_478_485
# Pillow modes read as gray or colour when mode=None; others are refused.
_GRAY_SOURCES = {"1", "L", "LA", "La"}
_COLOUR_SOURCES = {
    "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "P", "PA",
}  # fmt: skip
_GLOB_CHARS = set("*?[")


class ImageFileError(ValueError):
    """An image file could not be read, or differs from the others.

    A :class:`ValueError` whose message names the file.

    Parameters
    ----------
    message : str
        What is wrong, naming the file.
    path : str, default=None
        The file, also kept as the ``path`` attribute.
    """

    def __init__(self, message, path=None):
        super().__init__(message)
        self.path = path


def import_pil(caller="ImageFiles"):
    """Import :mod:`PIL.Image`, or raise an ImportError naming the extra."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError(
            f"{caller} requires Pillow, which is not installed. Install it "
            'with: pip install "skcae[images]" (or pip install pillow).'
        ) from exc
    return Image


def _is_image_name(name):
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _not_regular(path):
    """What ``path`` is when it is not a regular file (or a link to one), or
    None: reading a named pipe blocks, a broken link fails mid-fit."""
    if os.path.isfile(path):
        return None
    if os.path.islink(path) and not os.path.exists(path):
        return "a broken symbolic link"
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # gone: reported as missing where it is read
    for test, what in (
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
    ):
        if test(mode):
            return what
    return None if stat.S_ISDIR(mode) else "not a regular file"


def _regular(paths):
    """``paths`` without folders; an error naming the first entry that is
    neither a folder nor a regular file."""
    out = []
    for path in paths:
        what = _not_regular(path)
        if what is not None:
            raise ImageFileError(
                f"{path!r} is {what}, not an image file; expected regular "
                "files only. Remove it or name the files to read.",
                path,
            )
        if not os.path.isdir(path):
            out.append(path)
    return out


def _once(paths):
    """``paths`` with each file kept once, at its first appearance: a folder
    or pattern can reach a file twice through symbolic links (or forever,
    through a link to a parent folder)."""
    seen, out = set(), []
    for path in paths:
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            out.append(path)
    return out


def _walk(folder):
    """``(root, files)`` of ``folder`` and its subfolders, through symbolic
    links to folders but each folder once, never into the folder itself or
    one above it (a link to ``..`` would pull in its siblings), hidden
    folders skipped; an unreadable folder is an error."""

    def unreadable(exc):
        raise ImageFileError(
            f"Cannot list the folder {exc.filename!r}: "
            f"{exc.strerror or type(exc).__name__}. Expected a readable "
            "folder of images; fix its permissions or leave it out.",
            exc.filename,
        ) from exc

    top = os.path.realpath(folder)
    seen = set()
    for root, dirs, files in os.walk(folder, onerror=unreadable, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # reached again through another link
            dirs[:] = []
            continue
        seen.add(real)
        kept = []
        for d in sorted(d for d in dirs if not d.startswith(".")):
            target = os.path.realpath(os.path.join(root, d))
            if target == top or top.startswith(target.rstrip(os.sep) + os.sep):
                continue  # the searched folder or one above it
            kept.append(d)
        dirs[:] = kept
        yield root, files


def _images_under(folder):
    """The image files under ``folder`` (see :func:`_walk`), sorted."""
    return sorted(
        os.path.join(root, f)
        for root, files in _walk(folder)
        for f in files
        if _is_image_name(f) and not f.startswith(".")
    )


def _list_folder(folder):
    """The image files under ``folder`` (see :func:`_walk`), sorted, each
    file once."""
    found = _images_under(folder)
    if not found:
        raise FileNotFoundError(
            f"Found no image files in the folder {folder!r} (searched its "
            f"subfolders too, for names ending in {', '.join(IMAGE_EXTENSIONS)})."
        )
    return _once(_regular(sorted(found)))


def _component_match(parts, pattern):
    """Whether path components ``parts`` match glob components ``pattern``
    (``**`` any number of folders; a name starting with a dot only where
    the pattern's does, as in :func:`glob.glob`)."""
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(
            _component_match(parts[i:], rest)
            for i in range(len(parts) + 1)
            if not any(p.startswith(".") for p in parts[:i])
        )
    if not parts or (parts[0].startswith(".") and not head.startswith(".")):
        return False
    return fnmatch.fnmatchcase(parts[0], head) and _component_match(parts[1:], rest)


def is_recursive_pattern(path):
    """Whether ``path`` is a glob pattern with a ``**`` component."""
    return "**" in path.split(os.sep)


def _fixed_parts(pattern):
    """How many leading components of ``pattern`` hold no wildcard (all of
    them for a plain path)."""
    parts = pattern.split(os.sep)
    fixed = next((i for i, p in enumerate(parts) if _GLOB_CHARS & set(p)), len(parts))
    return fixed, parts


def pattern_base(pattern):
    """The folder a glob pattern searches: its components before the first
    wildcard (``"data/**/*.png"`` -> ``"data"``)."""
    fixed, parts = _fixed_parts(pattern)
    return os.sep.join(parts[:fixed]) or (os.sep if pattern.startswith(os.sep) else ".")


def _recursive_glob(pattern):
    """The paths matching a pattern with ``**``, found by :func:`_walk`
    (:func:`glob.glob` follows links to parent folders without end: a
    folder with two links to itself took minutes)."""
    base = pattern_base(pattern)
    if not os.path.isdir(base):
        return []
    fixed, parts = _fixed_parts(pattern)
    wanted = parts[fixed:]
    found = []
    for root, files in _walk(base):
        rel = os.path.relpath(root, base)
        folders = [] if rel == "." else rel.split(os.sep)
        found += [
            os.path.normpath(os.path.join(root, f))
            for f in files
            if _component_match([*folders, f], wanted)
        ]
    return found


def _expand_one(entry):
    """The files one entry names: a folder, a file or a glob pattern."""
    path = os.fspath(entry)
    if os.path.isdir(path):
        return _list_folder(path)
    if os.path.lexists(path):
        return _regular([path])
    if _GLOB_CHARS & set(path):
        found = (
            _recursive_glob(path)
            if is_recursive_pattern(path)
            else glob.glob(path, recursive=True)
        )
        # the files it matches, and the images of the folders it matches
        # (searched as a folder named on its own is), sorted together
        found = sorted(found)
        files = _regular(found)
        folders = pattern_folders(path, found)
        matches = _once(sorted(files + [f for d in folders for f in _images_under(d)]))
        if matches:
            return matches
        if folders:
            raise FileNotFoundError(
                f"The pattern {path!r} matches no files, and no image files in "
                f"the {len(folders)} folder(s) it matches ({folders[0]!r} ...; "
                f"searched for names ending in {', '.join(IMAGE_EXTENSIONS)})."
            )
        raise FileNotFoundError(f"The pattern {path!r} matches no files.")
    raise FileNotFoundError(
        f"No such file or folder: {path!r}; expected a folder of images, an "
        "image file or a glob pattern such as 'images/*.png'."
    )


def pattern_folders(pattern, found=None):
    """The folders a glob pattern without ``**`` matches (of ``found``, its
    matches, when given), each searched as a folder: not the folder the
    pattern searches, nor one above it (a link to ``..`` matched by
    ``"data/*"`` would pull in the siblings of ``data``)."""
    if is_recursive_pattern(pattern):
        return []
    if found is None:
        found = sorted(glob.glob(pattern))
    base = os.path.realpath(pattern_base(pattern))
    kept = []
    for folder in found:
        if not os.path.isdir(folder):
            continue
        real = os.path.realpath(folder)
        if real == base or base.startswith(real.rstrip(os.sep) + os.sep):
            continue
        kept.append(folder)
    return kept


def names_one_file(entry):
    """Whether ``entry`` names one file itself (not a folder or pattern)."""
    path = os.fspath(entry)
    return os.path.lexists(path) and not os.path.isdir(path)


def as_path_list(paths, what="paths"):
    """``paths`` as a list of entries (str), each a folder, file or pattern.

    Takes one str or :class:`os.PathLike`, or a sequence of them (list,
    tuple, 1-D array, a one-column 2-D array, a pandas Series).
    """
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    if isinstance(paths, bytes):
        return [os.fsdecode(paths)]
    if hasattr(paths, "iloc") and getattr(paths, "ndim", 1) == 2:
        if paths.shape[1] != 1:
            raise ValueError(
                f"Got {what} as a DataFrame with {paths.shape[1]} columns; "
                "expected one column of file paths."
            )
        paths = paths.iloc[:, 0]
    if hasattr(paths, "iloc"):
        paths = paths.to_numpy()
    if isinstance(paths, np.ndarray):
        if paths.ndim == 2 and paths.shape[1] == 1:
            paths = paths[:, 0]
        if paths.ndim != 1:
            raise ValueError(
                f"Got {what} as an array of shape {paths.shape}; expected a "
                "1-D array (or list) of file paths."
            )
        paths = paths.tolist()
    if not isinstance(paths, (list, tuple)):
        raise ValueError(
            f"Got {what} of type {type(paths).__name__}; expected a folder, a "
            "glob pattern, an image file, or a list of them (str or "
            "pathlib.Path)."
        )
    out = []
    for p in paths:
        if isinstance(p, bytes):
            p = os.fsdecode(p)
        if not isinstance(p, (str, os.PathLike)):
            raise ValueError(
                f"Got {_short(p)} (a {type(p).__name__}) among the {what}; "
                "expected file paths (str or pathlib.Path)."
            )
        out.append(os.fspath(p))
    return out


def _short(value, size=40):
    text = repr(value)
    return text if len(text) <= size else text[: size - 3] + "..."


def _as_size(size):
    """``size`` as ``(H, W)`` ints, or None."""
    if size is None:
        return None
    given = size
    if isinstance(size, Integral) and not isinstance(size, bool):
        size = (size, size)
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(
            isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in size
        )
    ):
        raise ValueError(
            f"Got size={given!r}; expected None (the files' own size), a "
            "positive int (square images) or a tuple (height, width) of "
            "positive ints."
        )
    height, width = int(size[0]), int(size[1])
    if height * width > MAX_RESIZE_PIXELS:
        raise ValueError(
            f"Got size={given!r}: {height * width:,} pixels an image, more than "
            f"the {MAX_RESIZE_PIXELS:,} (Pillow's decompression-bomb limit) "
            "skcae resizes to; expected a smaller (height, width)."
        )
    return (height, width)


def _as_mode(mode):
    if mode is not None and mode not in MODES:
        raise ValueError(
            f"Got mode={mode!r}; expected None (the first file's: 'L' for gray, "
            "'RGB' for colour), 'L' (convert to gray) or 'RGB' (convert to "
            "colour)."
        )
    return mode


def _mode_of(source_mode, path):
    """The mode ("L" or "RGB") a file of Pillow mode ``source_mode`` reads as."""
    if source_mode in _GRAY_SOURCES:
        return "L"
    if source_mode in _COLOUR_SOURCES:
        return "RGB"
    raise ImageFileError(
        f"Image file {path!r} has Pillow mode {source_mode!r}, which "
        "ImageFiles does not read: it reads 8-bit gray or colour images, and "
        "16-bit, 32-bit or floating-point pixels would have to be clipped or "
        "rescaled. Convert the files to 8 bits, or load them with your own "
        "code into an array.",
        path,
    )


def _stamp(path):
    """What identifies a file's content without reading it: device, inode,
    size and modification time (ns); None where it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _check_bit_depth(img, path):
    """Refuse files of more than 8 bits a value that Pillow opens in an
    8-bit mode, keeping only the high byte of each value: 16-bit PNG
    (colour, and gray with alpha) and TIFF (colour: 12-bit sensor data came
    out as values 0-15, nearly constant, a probe). 16-bit gray has its own
    Pillow mode, refused by :func:`_mode_of`; 16-bit colour PPM files are
    read scaled to 8 bits by their maximum value (documented)."""
    if img.mode not in _GRAY_SOURCES | _COLOUR_SOURCES:
        return  # refused with its mode
    bits = None
    if img.format == "PNG" and img.fp is not None:
        position = img.fp.tell()
        try:
            img.fp.seek(24)  # the IHDR chunk's bit depth, after the signature
            depth = img.fp.read(1)
        finally:
            img.fp.seek(position)
        bits = depth[0] if len(depth) == 1 else None
    elif img.format == "TIFF":
        per_sample = getattr(img, "tag_v2", {}).get(258)  # BitsPerSample
        per_sample = per_sample if isinstance(per_sample, tuple) else (per_sample,)
        bits = max((int(b) for b in per_sample if b is not None), default=None)
    if bits is not None and bits > 8:
        raise ImageFileError(
            f"Image file {path!r} is a {bits}-bit {img.format} file (Pillow "
            f"mode {img.mode!r}), which ImageFiles does not read: Pillow would "
            "keep only the high byte of each value. Convert the files to 8 "
            "bits, or load them with your own code into an array.",
            path,
        )


def _describe(mode, source=None):
    """``mode`` ("L" or "RGB") in words, with the Pillow mode ``source`` it
    is read from when that differs (a palette image is read as colour)."""
    text = "gray" if mode == "L" else "colour"
    if source is None or source == mode:
        return f"{text} (mode {mode!r})"
    return f"{text} (Pillow mode {source!r}, read as {mode!r})"


class _Reference:
    """The size and mode every file must have (or is converted to)."""

    def __init__(self, size, mode, first, resize, convert):
        self.size = size  # (H, W)
        self.mode = mode
        self.first = first
        self.resize = resize
        self.convert = convert


def _open_errors(Image):
    return (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def probe(path, Image):
    """``(mode, (H, W))`` of an image file, from its header."""
    try:
        with Image.open(path) as img:
            _check_bit_depth(img, path)
            return img.mode, (img.size[1], img.size[0])
    except ImageFileError:
        raise
    except _open_errors(Image) as exc:
        raise _read_error(path, exc) from exc


def _read_error(path, exc):
    if isinstance(exc, FileNotFoundError):
        reason = "the file does not exist (any more)"
    else:
        reason = str(exc).strip().rstrip(".") or type(exc).__name__
    hint = ""
    if not isinstance(exc, FileNotFoundError) and not _is_image_name(str(path)):
        # a pattern such as "data/*" takes every file it matches, notes too
        folder = os.path.dirname(str(path)) or "."
        hint = (
            f" Its name is not an image file's; to read only the image files "
            f"of {folder!r}, pass the folder itself (it keeps names ending in "
            f"{', '.join(IMAGE_EXTENSIONS)}) or a pattern of them (e.g. "
            f"{os.path.join(folder, '*.png')!r})."
        )
    return ImageFileError(
        f"Cannot read image file {path!r}: {reason}. Expected a PNG, JPEG, "
        f"TIFF or BMP image that Pillow can open.{hint}",
        path,
    )


def decode(path, ref, Image):
    """One image file as an array ``(H, W)`` (gray) or ``(3, H, W)`` (colour)."""
    try:
        with Image.open(path) as img:
            if getattr(img, "n_frames", 1) > 1:
                raise ImageFileError(
                    f"Image file {path!r} holds {img.n_frames} frames (pages); "
                    "expected one image per file. Split it into one file per "
                    "frame.",
                    path,
                )
            _check_bit_depth(img, path)
            own_mode = _mode_of(img.mode, path)
            if own_mode != ref.mode and not ref.convert:
                raise ImageFileError(
                    f"Image file {path!r} is {_describe(own_mode, img.mode)}, but the "
                    f"images are {_describe(ref.mode)}, as the first file "
                    f"{ref.first!r} is; pass mode='L' to convert every image "
                    "to gray, or mode='RGB' to colour.",
                    path,
                )
            height, width = img.size[1], img.size[0]
            if (height, width) != ref.size and not ref.resize:
                h, w = ref.size
                raise ImageFileError(
                    f"Image file {path!r} is {height}x{width} (height x width), "
                    f"but the images are {h}x{w}, the size of the first file "
                    f"{ref.first!r}; pass size=({h}, {w}) to resize every image "
                    "to one size.",
                    path,
                )
            if img.mode != ref.mode:
                img = img.convert(ref.mode)
            if (height, width) != ref.size:
                img = img.resize((ref.size[1], ref.size[0]), Image.Resampling.BILINEAR)
            pixels = np.asarray(img, dtype=np.uint8)
    except ImageFileError:
        raise
    except _open_errors(Image) as exc:
        raise _read_error(path, exc) from exc
    return pixels if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


class ImageFiles:
    """Image files as a lazy array, decoded block by block when indexed.

    The files of folders (searched recursively for PNG, JPEG, TIFF, BMP and
    PNM files), glob patterns or lists of paths, read through Pillow as
    8-bit gray images ``(n_images, H, W)`` or colour images
    ``(n_images, 3, H, W)`` (channels first; the estimators read them so
    whatever their ``data_format``). Nothing is decoded when the object is made
    (only the first file's header is read); indexing decodes the rows asked
    for, so ``fit`` and ``score_samples`` stream a million files in blocks,
    as they stream a :class:`numpy.memmap`.

    Read more in the :ref:`User Guide <image_files>`.

    Parameters
    ----------
    paths : str, pathlib.Path or sequence of them
        A folder, an image file or a glob pattern (``"photos/*.jpg"``,
        ``"data/**/*.png"``), or a list, tuple or 1-D array of them. Folders
        are searched recursively (hidden files and folders are skipped)
        and their files sorted by path; glob matches are sorted too (a
        folder that a pattern without ``**`` matches is searched as a
        folder, its files sorted with the others); a
        list keeps its order, so rows line up with labels made alongside.
        A file listed more than once is that many rows (a resample of
        paths, ``sklearn.utils.resample(paths)``); a folder or pattern that
        finds a file another entry names is refused (two rows of one image
        by accident).
    size : int or tuple (height, width), default=None
        None: every file must have the size of the first file (another
        size is an error naming the file). Else every image is resized to
        this height and width (bilinear, antialiased; the aspect ratio is
        not kept). Note the order: height first, as in NumPy's shapes, not
        Pillow's (width, height).
    mode : {"L", "RGB"}, default=None
        None: every file must be gray (Pillow modes "1", "L", "LA") or
        every file colour ("RGB", "RGBA", "P", "CMYK"...), as the first
        file is; alpha is dropped. ``"L"`` converts every image to gray,
        ``"RGB"`` to colour.

    Attributes
    ----------
    paths : list of str
        The files, one per row, in row order.
    image_size : tuple (height, width)
        The size of every image as read.
    mode : {"L", "RGB"}
        The colour mode of every image as read.
    shape : tuple
        ``(n_images, H, W)`` for ``mode="L"``, ``(n_images, 3, H, W)`` for
        ``"RGB"``.
    dtype : numpy.dtype
        ``uint8``: pixel values 0-255, as stored.
    data_format : str
        ``"channels_first"``: how colour images are laid out. An estimator
        fitted with ``data_format="channels_last"`` (on ``(n, H, W, C)``
        arrays) reads an ``ImageFiles`` by this layout, not its own, so
        files are scored without decoding them all to move the axis.

    See Also
    --------
    ImageLoader : The same as the first step of a Pipeline.
    load_image_folder : Labelled images from a normal/abnormal layout.

    Notes
    -----
    Indexing follows NumPy: an int gives one image, a slice, a list or an
    array of ints (any order) or a boolean mask gives an array of images;
    ``np.asarray(images)`` decodes them all. Decoding a small PNG takes
    about 0.2 ms; for many passes over large files (training for many
    epochs), decode once to a memmap with :meth:`to_npy`. 16-bit and
    floating-point images (but 16-bit colour PPM files, which Pillow reads
    scaled to 8 bits by their maximum value), multi-frame files (animated
    images, multi-page TIFFs) are refused with an error naming the file;
    EXIF orientation is not applied (pixels are read as stored).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from PIL import Image
    >>> from sklearn.datasets import load_digits
    >>> from skcae.images import ImageFiles
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for i, image in enumerate(load_digits().images[:20]):
    ...     Image.fromarray((image * 15).astype(np.uint8)).save(folder / f"{i:02d}.png")
    >>> images = ImageFiles(folder)
    >>> images
    ImageFiles(20 files, shape=(20, 8, 8), mode='L')
    >>> images[:5].shape, images.dtype
    ((5, 8, 8), dtype('uint8'))
    >>> ImageFiles(folder, size=(16, 16), mode="RGB").shape
    (20, 3, 16, 16)
    """

    def __init__(self, paths, *, size=None, mode=None):
        Image = import_pil()
        size, mode = _as_size(size), _as_mode(mode)
        entries, files, named_by = as_path_list(paths), [], {}
        for entry in entries:
            expanded = _expand_one(entry)  # each file once within an entry
            if len(entries) == 1:  # no second realpath per file of a folder
                files = expanded
                break
            # a file entry (not a folder or pattern) may come again: rows
            # the user asked for by name
            named = names_one_file(entry)
            for path in expanded:
                real = os.path.realpath(path)
                earlier = named_by.get(real)
                if earlier is not None and not (named and earlier[1]):
                    raise ValueError(
                        f"The image file {path!r} is named twice, by "
                        f"{earlier[0]!r} and by {os.fspath(entry)!r}; expected "
                        "a folder or pattern to find files no other entry "
                        "names (list a file itself to repeat it as a row)."
                    )
                named_by.setdefault(real, (os.fspath(entry), named))
                files.append(path)
        if not files:
            raise ValueError(
                "Got no paths; expected at least one image file, folder or pattern."
            )
        # by its absolute path, as every later file's error names it
        first = os.path.abspath(files[0])
        own_mode, own_size = probe(first, Image)
        if mode is None:
            own_mode = _mode_of(own_mode, first)
        self.paths = files
        # read from absolute paths: a later os.chdir must not change the rows
        self._files = [os.path.abspath(f) for f in files]
        self.image_size = own_size if size is None else size
        self.mode = own_mode if mode is None else mode
        # named by its absolute path, as the file that differs from it is
        self._ref = _Reference(
            self.image_size,
            self.mode,
            self._files[0],
            size is not None,
            mode is not None,
        )
        height, width = self.image_size
        sample = (height, width) if self.mode == "L" else (3, height, width)
        self.shape = (len(files), *sample)
        self.ndim = len(self.shape)
        self.dtype = np.dtype(np.uint8)

    #: The layout of colour images, which the estimators read (see above).
    data_format = "channels_first"

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        return f"ImageFiles({len(self)} files, shape={self.shape}, mode={self.mode!r})"

    def __getstate__(self):
        """The pickled state, with each file's identity and modification time
        as they are now (device, inode, size, mtime in ns): joblib's Memory
        keys a cached network by the pickled training data, which named only
        the paths, so a fit with ``memory=`` reused a network trained on
        files since swapped or rewritten (a probe). Unpickling drops them."""
        state = dict(vars(self))
        state["_stamps"] = tuple(_stamp(path) for path in self._files)
        return state

    def __setstate__(self, state):
        state = dict(state)
        state.pop("_stamps", None)
        vars(self).update(state)

    def _rows(self, key):
        """The row positions ``key`` selects, and whether it drops the axis."""
        n = len(self)
        if isinstance(key, Integral) and not isinstance(key, bool):
            if not -n <= key < n:
                raise IndexError(f"index {key} is out of bounds for {n} images")
            return [int(key) % n], True
        if isinstance(key, slice):
            return range(*key.indices(n)), False
        key = np.asarray(key)
        if key.dtype == bool:
            if key.shape != (n,):
                raise IndexError(
                    f"boolean index of shape {key.shape} does not match the {n} images"
                )
            return np.flatnonzero(key).tolist(), False
        if key.ndim != 1 or (key.size and key.dtype.kind not in "iu"):
            raise IndexError(
                f"ImageFiles takes an int, a slice, a 1-D array of ints or a "
                f"boolean mask as row index; got {_short(key)}"
            )
        if key.size and (key.min() < -n or key.max() >= n):
            raise IndexError(f"index out of bounds for {n} images")
        return (key % n).tolist() if key.size else [], False

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            key, rest = (key[0] if key else slice(None)), key[1:]
        rows, scalar = self._rows(key)
        Image = import_pil()
        block = np.empty((len(rows), *self.shape[1:]), dtype=np.uint8)
        files = getattr(self, "_files", self.paths)  # pickled before it existed
        for i, row in enumerate(rows):
            block[i] = decode(files[row], self._ref, Image)
        if scalar:
            return block[0][rest] if rest else block[0]
        return block[(slice(None), *rest)] if rest else block

    def __array__(self, dtype=None, copy=None):
        block = self[:]
        return block if dtype is None else block.astype(dtype, copy=False)

    def to_npy(self, path, *, block_rows=1024):
        """Decode every image once into a ``.npy`` file; return it memory-mapped.

        For training many epochs on large files, or scoring the same files
        several times: the files are decoded block by block (never all in
        memory) and later passes read the uint8 array from disk.

        The file is written aside and renamed into place once every image
        is decoded: a file that fails to decode (or a kill) leaves an
        earlier ``path`` as it was, never a whole-looking array with rows of
        zeros.

        Parameters
        ----------
        path : str or pathlib.Path
            The ``.npy`` file to write (replaced); not one of the images.
        block_rows : int, default=1024
            Images decoded and written at a time (a positive int).

        Returns
        -------
        array : numpy.memmap of shape ``self.shape``, dtype uint8
            The file, opened read-only.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> import numpy as np
        >>> from PIL import Image
        >>> from skcae.images import ImageFiles
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> for i in range(3):
        ...     Image.new("L", (4, 4), color=50 * i).save(folder / f"{i}.png")
        >>> array = ImageFiles(folder).to_npy(folder / "images.npy")
        >>> array.shape, int(array[2, 0, 0])
        ((3, 4, 4), 100)
        """
        if (
            not isinstance(block_rows, Integral)
            or isinstance(block_rows, bool)
            or block_rows < 1
        ):
            raise ValueError(
                f"Got block_rows={_short(block_rows)}; expected a positive int "
                "(images decoded at a time)."
            )
        path = os.fspath(path)
        target = os.path.realpath(path)
        files = getattr(self, "_files", self.paths)
        if any(os.path.realpath(f) == target for f in files):
            raise ValueError(
                f"Got path={path!r}, which is one of the images; expected a new "
                ".npy file (writing it would destroy that image)."
            )
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": self.shape,
        }

        def write(f):
            np.lib.format.write_array_header_1_0(f, header)
            for start in range(0, len(self), int(block_rows)):
                block = self[start : start + int(block_rows)]
                f.write(np.ascontiguousarray(block).tobytes())

        atomic_write(path, write, example="images.npy")
        return np.load(path, mmap_mode="r")
