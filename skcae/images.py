"""Image files in: folders, glob patterns and lists of paths.

:class:`ImageFiles` reads image files (PNG, JPEG, TIFF, BMP, PNM) through
Pillow as a lazy array that the estimators stream block by block;
:class:`ImageLoader` does the same as the first step of a
:class:`~sklearn.pipeline.Pipeline` whose ``X`` is file paths, and
:func:`load_image_folder` labels the images of a normal/abnormal folder
layout for evaluation. Pillow is an optional dependency: install it with
``pip install "skcae[images]"``.
"""

from ._image_files import ImageFileError, ImageFiles
from ._image_loader import ImageLoader, load_image_folder

__all__ = [
    "ImageFileError",
    "ImageFiles",
    "ImageLoader",
    "load_image_folder",
]
