"""Errors that name the fix when X is images in another form than arrays.

Used by :mod:`skcae._validation`: paths and lone PIL images are refused
with a message naming :mod:`skcae.images`; lists of PIL images are checked
for what NumPy would read wrongly (palette indices, mixed sizes); and a
sample of the fitted shape without its batch axis, or images of another
size than the fitted ones, get a message that says so.
"""

import math
import os

import numpy as np

_LOADER = (
    "read image files with skcae.images.ImageFiles(paths) (a lazy array the "
    "estimators stream block by block), or put skcae.images.ImageLoader() "
    "first in a Pipeline"
)


def _is_pil_image(value):
    module = type(value).__module__ or ""
    return (
        module.startswith("PIL.") and hasattr(value, "mode") and hasattr(value, "size")
    )


def _looks_like_path(value):
    if isinstance(value, os.PathLike):
        return True
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if not isinstance(value, str):
        return False
    from ._image_files import IMAGE_EXTENSIONS

    return (
        "/" in value
        or os.sep in value
        or value.lower().endswith(IMAGE_EXTENSIONS)
        or os.path.exists(value)
    )


def _first(X):
    """The first element of a 1-D list, tuple, Series or array, else None."""
    if hasattr(X, "iloc") and getattr(X, "ndim", 2) == 1:
        return X.iloc[0] if len(X) else None
    if isinstance(X, (list, tuple)) and X:
        return X[0]
    if isinstance(X, np.ndarray) and X.ndim == 1 and X.size:
        return X[0]
    return None


def check_images_input(X):
    """Refuse paths and lone PIL images; check a list of PIL images.

    Raises a ValueError that names the loader for a path (str, bytes,
    :class:`os.PathLike`) or a 1-D sequence of paths, and one that says how
    to make a batch for a single PIL image. A list of PIL images is what
    ``np.asarray`` makes of it, so palette images (whose arrays hold
    palette indices, not colours) and lists of mixed sizes or modes are
    refused. Anything else passes untouched.
    """
    if isinstance(X, (str, bytes, os.PathLike)):
        raise ValueError(
            f"Got X={X!r}, a path, but the estimators take arrays of pixels; {_LOADER}."
        )
    if _is_pil_image(X):
        raise ValueError(
            f"Got one PIL image (mode {X.mode!r}, {X.size[0]}x{X.size[1]}), but "
            "expected a batch of images: pass a list, [image], or "
            "np.asarray(image)[None]."
        )
    first = _first(X)
    if first is None:
        return
    if _looks_like_path(first):
        raise ValueError(
            f"Got X holding file paths (e.g. {first!r}), but the estimators "
            f"take arrays of pixels; {_LOADER}."
        )
    if _is_pil_image(first) and isinstance(X, (list, tuple)):
        _check_pil_list(X)


def _check_pil_list(images):
    first = images[0]
    for i, image in enumerate(images):
        if not _is_pil_image(image):
            raise ValueError(
                f"Got a list of PIL images with a {type(image).__name__} at "
                f"position {i}; expected PIL images only (or arrays only)."
            )
        if image.mode in ("P", "PA"):
            raise ValueError(
                f"Got a palette PIL image (mode {image.mode!r}) at position {i}: "
                "its array holds palette indices, not colours. Convert the "
                "images with image.convert('RGB') (or 'L' for gray), or "
                "read the files with skcae.images.ImageFiles."
            )
        if image.mode != first.mode or image.size != first.size:
            raise ValueError(
                f"Got PIL images of different modes or sizes: image 0 is "
                f"{first.mode!r} {first.size[0]}x{first.size[1]} (width x "
                f"height), image {i} is {image.mode!r} "
                f"{image.size[0]}x{image.size[1]}; expected one mode and size. "
                "Convert and resize them (image.convert, image.resize), or "
                "read the files with skcae.images.ImageFiles(paths, "
                "size=(height, width), mode='L' or 'RGB')."
            )


def _pixels(image_shape):
    c, h, w = image_shape
    return f"{h}x{w} pixels, {c} channel{'s' if c != 1 else ''}"


def _fitted_form(estimator, fitted):
    """The shape of a sample as the estimator was fitted on it
    (``input_shape_``), else the fitted image shape ``(C, H, W)``."""
    return tuple(getattr(estimator, "input_shape_", ()) or fitted)


def fitted_shape_error(estimator, n_features, own_shape, shape=None):
    """The ValueError for X that does not match the fitted input, or None.

    ``own_shape`` is the ``(C, H, W)`` that 3-D and 4-D X carry (None for
    rows); ``shape`` is X's whole shape, when known. A message starts with
    scikit-learn's "X has N features, but ... is expecting M features as
    input" whenever the counts differ.
    """
    fitted = getattr(estimator, "image_shape_", None)  # None: tabular
    problems = []
    if n_features != estimator.n_features_in_:
        problems.append(
            f"X has {n_features} features, but {type(estimator).__name__} is "
            f"expecting {estimator.n_features_in_} features as input"
        )
    if fitted is None:
        pass
    elif (
        own_shape is not None
        and own_shape[0] != fitted[0]
        and sorted(own_shape) == sorted(fitted)
    ):
        # the same sizes in another order: the channel axis, not the size
        layout = estimator._data_format()
        read = f" as read with data_format={layout!r}" if layout else ""
        problems.append(
            f"X holds images of shape {tuple(own_shape)}{read}, but this "
            f"estimator was fitted on images "
            f"of shape {tuple(fitted)} (C, H, W); X's channel axis seems to be "
            f"elsewhere: pass images in the layout the estimator was fitted "
            f"on (input_shape_={tuple(getattr(estimator, 'input_shape_', ()))}, "
            "e.g. np.moveaxis(X, 1, -1) or np.moveaxis(X, -1, 1))"
        )
    elif (
        own_shape is not None
        and own_shape[0] != fitted[0]
        and tuple(own_shape[1:]) == tuple(fitted[1:])
    ):
        # the same pixels, another number of channels: gray against colour
        c = fitted[0]
        mode = {1: "'L'", 3: "'RGB'"}.get(c)
        how = f" (e.g. skcae.images.ImageFiles(paths, mode={mode}))" if mode else ""
        problems.append(
            f"X holds images of {own_shape[0]} channel(s) ({_pixels(own_shape)}), "
            f"but this estimator was fitted on images of {c} channel(s) "
            f"(shape {tuple(fitted)}, C, H, W); pass images with {c} "
            f"channel(s){how}"
        )
    elif (
        own_shape is not None
        and tuple(own_shape) != tuple(fitted)
        and math.prod(own_shape) == math.prod(fitted)
        and (own_shape[1] == 1) != (fitted[1] == 1)
    ):
        # the same values as 1-D signals and as images (flat rows read as
        # signals at fit, images now): resizing would resample them
        input_shape = _fitted_form(estimator, fitted)
        dims = ", ".join(str(v) for v in input_shape)
        # image_shape takes (H, W) for gray images, (C, H, W) for colour
        as_image = tuple(own_shape[1:]) if own_shape[0] == 1 else tuple(own_shape)
        problems.append(
            f"X holds images of shape {tuple(own_shape)} ({_pixels(own_shape)}), "
            f"but this estimator was fitted on images of shape {tuple(fitted)} "
            f"(C, H, W), the same {math.prod(fitted)} values arranged otherwise: "
            f"pass X as it was fitted, X.reshape(len(X), {dims}) "
            f"(input_shape_={input_shape}), or fit again with "
            f"image_shape={as_image} to read the images as such"
        )
    elif own_shape is not None and tuple(own_shape) != tuple(fitted):
        h, w = fitted[1:]
        form = _fitted_form(estimator, fitted)
        problems.append(
            f"X holds images of shape {tuple(own_shape)} ({_pixels(own_shape)}), "
            f"but this estimator was fitted on images of shape {tuple(fitted)} "
            f"(C, H, W: {_pixels(fitted)}); resize them to {h}x{w} (e.g. "
            f"skcae.images.ImageFiles(paths, size=({h}, {w})))"
            + (
                f", or, if they are the same {math.prod(fitted)} values "
                "arranged otherwise (a reshape that split the rows "
                "wrongly), pass X as it was fitted: X.reshape(len(X), "
                + ", ".join(str(v) for v in form)
                + f") (input_shape_={form})"
                if math.prod(own_shape) == math.prod(fitted)
                else ""
            )
        )
    elif problems and fitted[1] > 1 and fitted[2] > 1:
        problems[-1] += f" (images of shape {tuple(fitted)} (C, H, W), flattened)"
    if not problems:
        return None
    input_shape = tuple(getattr(estimator, "input_shape_", ()) or ())
    if shape is not None and len(input_shape) >= 2 and tuple(shape) == input_shape:
        dims = ", ".join(str(v) for v in input_shape)
        return ValueError(
            f"Got X of shape {tuple(shape)}: one sample of the shape this "
            f"estimator was fitted on (input_shape_={input_shape}), without "
            f"the batch axis. Expected (n_samples, {dims}): add a batch axis "
            "with X[None], or index with X[i:i + 1] rather than X[i]."
        )
    return ValueError("; ".join(problems) + ".")
