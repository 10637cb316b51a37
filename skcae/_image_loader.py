"""Image files for scikit-learn: a loader transformer and labelled folders.

:class:`ImageLoader` is the first step of a Pipeline whose ``X`` is file
paths (so that ``GridSearchCV`` splits paths, never pixels);
:func:`load_image_folder` labels the images of a normal/abnormal layout.
"""

import os

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Bunch

from ._image_files import ImageFiles, _as_mode, _as_size, _stamp, as_path_list


class ImageLoader(TransformerMixin, BaseEstimator):
    """Read image files: paths in, a lazy :class:`ImageFiles` array out.

    The first step of a :class:`~sklearn.pipeline.Pipeline` whose ``X``
    holds file paths: ``transform`` returns the images as an
    :class:`ImageFiles` (decoded block by block as the next step reads
    them), so that :class:`~sklearn.model_selection.GridSearchCV` and
    :func:`~sklearn.model_selection.cross_val_score` split a list of paths
    and only the rows a fit uses are ever decoded.

    The loader is stateless: ``fit`` only checks the parameters, and
    ``transform`` reads every ``X`` with the same ``size`` and ``mode``.

    Read more in the :ref:`User Guide <image_files>`.

    Parameters
    ----------
    size : int or tuple (height, width), default=None
        None: all images must have one size (that of the first file of
        each ``X``). Else every image is resized to it; see
        :class:`ImageFiles`.
    mode : {"L", "RGB"}, default=None
        None: all images must be gray, or all colour, as the first file of
        each ``X``. ``"L"`` converts every image to gray, ``"RGB"`` to
        colour.

    See Also
    --------
    ImageFiles : The lazy array ``transform`` returns.
    load_image_folder : Labelled images from a normal/abnormal layout.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from PIL import Image
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.pipeline import make_pipeline
    >>> from skcae import ConvAutoencoderOutlierDetector
    >>> from skcae.images import ImageLoader
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> paths = []
    >>> for i, image in enumerate(load_digits().images[:60]):
    ...     paths.append(folder / f"{i:02d}.png")
    ...     Image.fromarray((image * 15).astype(np.uint8)).save(paths[-1])
    >>> pipe = make_pipeline(
    ...     ImageLoader(),
    ...     ConvAutoencoderOutlierDetector(
    ...         channels=(4,), latent_dim=2, max_epochs=2, random_state=0))
    >>> pipe.fit(paths[:50]).predict(paths[50:]).shape
    (10,)
    >>> ImageLoader(size=16).fit_transform(paths).shape
    (60, 16, 16)
    """

    def __init__(self, *, size=None, mode=None):
        self.size = size
        self.mode = mode

    def fit(self, X, y=None):
        """Check the parameters; nothing is learnt (the loader is stateless).

        Parameters
        ----------
        X : str, pathlib.Path or sequence of them
            Image files, folders or glob patterns (see :class:`ImageFiles`);
            not read here.
        y : Ignored
            Not used, present so that labelled data flow through a Pipeline.

        Returns
        -------
        self : object
            The loader.
        """
        _as_size(self.size)
        _as_mode(self.mode)
        as_path_list(X, "X")
        return self

    def transform(self, X):
        """The images of ``X`` as a lazy array.

        Parameters
        ----------
        X : str, pathlib.Path or sequence of them
            Image files, folders or glob patterns (see :class:`ImageFiles`).

        Returns
        -------
        images : ImageFiles of shape (n_images, H, W) or (n_images, 3, H, W)
            One row per file, in the order of ``X`` (folders and patterns
            expanded in sorted order); uint8, decoded when indexed.
        """
        return ImageFiles(X, size=self.size, mode=self.mode)

    def set_output(self, *, transform=None):
        """Accept a Pipeline's output setting; the images stay an array.

        ``Pipeline.set_output(transform="pandas")`` sets every step's
        output; images are no table, so the loader keeps returning an
        :class:`ImageFiles` array and the later steps (e.g.
        :class:`~skcae.ConvAutoencoder`'s codes) give the frames.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"} or None, default=None
            Ignored.

        Returns
        -------
        self : object
            The loader.
        """
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags


def _identity(path):
    """What names one file: its device and inode (of :func:`_stamp`), else
    its real path."""
    stamp = _stamp(path)
    return stamp[:2] if stamp is not None and stamp[1] else os.path.realpath(path)


def load_image_folder(normal, abnormal=None, *, size=None, mode=None):
    """Labelled images from a normal/abnormal layout of folders.

    For evaluation: the images under ``normal`` are labelled +1 and those
    under ``abnormal`` -1, scikit-learn's outlier convention, which is also
    what :meth:`~skcae.ConvAutoencoderOutlierDetector.predict` returns. So
    ``roc_auc_score(target, det.score_samples(images))`` is the AUROC of a
    detector (higher scores for normal images) and
    ``(det.predict(images) == target).mean()`` its accuracy.

    Read more in the :ref:`User Guide <image_files>`.

    Parameters
    ----------
    normal : str, pathlib.Path or sequence of them
        The normal images: a folder (searched recursively), a glob pattern,
        files, or a list of them (see :class:`ImageFiles`).
    abnormal : str, pathlib.Path or sequence of them, default=None
        The abnormal images, likewise (e.g. a folder with one subfolder per
        kind of defect). None: normal images only.
    size : int or tuple (height, width), default=None
        None: all images must have one size; else every image is resized
        to it (see :class:`ImageFiles`).
    mode : {"L", "RGB"}, default=None
        None: all images must be gray or all colour; ``"L"`` or ``"RGB"``
        converts them.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``images``: an :class:`ImageFiles` (lazy, uint8) of every image,
        normal ones first; ``target``: int64 labels, +1 normal, -1
        abnormal; ``paths``: the files (an array of str), one per row.

    See Also
    --------
    ImageFiles : The lazy array of the images.
    ImageLoader : Paths to images as the first step of a Pipeline.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from PIL import Image
    >>> from skcae.images import load_image_folder
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for kind, count in [("good", 3), ("broken/scratch", 2)]:
    ...     (root / kind).mkdir(parents=True)
    ...     for i in range(count):
    ...         Image.new("L", (8, 8), color=40 * i).save(root / kind / f"{i}.png")
    >>> data = load_image_folder(root / "good", root / "broken")
    >>> data.images.shape, data.target.tolist()
    ((5, 8, 8), [1, 1, 1, -1, -1])
    """
    normal_files = ImageFiles(normal, size=size, mode=mode).paths
    abnormal_files = []
    if abnormal is not None:
        abnormal_files = ImageFiles(abnormal, size=size, mode=mode).paths
    # one file by its path, link or hard link (device and inode: a hard link
    # in the abnormal folder got both labels, a probe)
    normal_real = {_identity(p) for p in normal_files}
    both = [p for p in abnormal_files if _identity(p) in normal_real]
    if both:
        raise ValueError(
            f"{len(both)} file(s) are both normal and abnormal, e.g. "
            f"{both[0]!r}: the normal and abnormal folders overlap (one "
            "inside the other?). Expected separate folders, such as "
            "'test/good' and 'test/defect', so each image gets one label."
        )
    paths = normal_files + abnormal_files
    target = np.r_[
        np.ones(len(normal_files), np.int64), -np.ones(len(abnormal_files), np.int64)
    ]
    return Bunch(
        images=ImageFiles(paths, size=size, mode=mode),
        target=target,
        paths=np.array(paths, dtype=str),
    )
