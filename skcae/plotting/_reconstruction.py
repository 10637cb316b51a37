"""ReconstructionDisplay: inputs, reconstructions and anomaly maps in a grid."""

from numbers import Integral

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._checks import positive_ints
from .._sklearn_compat import HasMethods, Interval, validate_params
from ._matplotlib import LABEL_SIZE, TITLE_SIZE, import_pyplot, new_figure

_ROWS = ("input", "reconstruction", "anomaly map")


def _check_image_shape(image_shape):
    """``image_shape`` as a ``(C, H, W)`` tuple of positive ints."""
    shape = positive_ints(
        image_shape, "image_shape", example="(H, W) or (C, H, W)", lengths=(2, 3)
    )
    return shape if len(shape) == 3 else (1, *shape)


def _reshape(views, shape, image_shape):
    """Each ``(n, C, H, W)`` array of ``views`` reshaped to ``(n, *shape)``."""
    n_values = views[0][0].size
    if int(np.prod(shape)) != n_values:
        raise ValueError(
            f"Got image_shape={image_shape!r} ({int(np.prod(shape))} values), but "
            f"the samples hold {n_values} values each; expected an image_shape "
            f"(H, W) or (C, H, W) with C*H*W == {n_values}."
        )
    return [v.reshape(len(v), *shape) for v in views]


def _as_picture(image, vmin, vmax):
    """A (C, H, W) image as what imshow takes: (H, W), or (H, W, 3) for RGB."""
    if image.shape[0] == 3:
        scaled = (image.transpose(1, 2, 0) - vmin) / ((vmax - vmin) or 1.0)
        return np.clip(scaled, 0, 1)
    return image.mean(axis=0)


class ReconstructionDisplay:
    """A grid of inputs, their reconstructions and their anomaly maps.

    One column per sample; the rows are the input, the autoencoder's
    reconstruction and the anomaly map (the squared reconstruction error of
    each pixel, averaged over channels). Inputs and reconstructions share one
    gray scale, and all anomaly maps share one color scale, so brighter means
    worse everywhere. One-channel images are shown in gray, three-channel
    images as RGB and other channel counts as their channel mean; 1-D
    signals and tabular rows (height 1) are stretched into strips.

    Create it with :meth:`from_estimator`, or from arrays with the
    constructor and :meth:`plot`.

    Parameters
    ----------
    images : ndarray of shape (n_samples, C, H, W)
        The inputs.
    reconstructions : ndarray of shape (n_samples, C, H, W)
        Their reconstructions.
    anomaly_maps : ndarray of shape (n_samples, H, W)
        Per-pixel squared reconstruction errors.
    scores : ndarray of shape (n_samples,), default=None
        ``score_samples`` of each sample, shown above its column.
    offset : float, default=None
        The detector's ``offset_``: scores below it are shown in red.

    Attributes
    ----------
    ax_ : ndarray of matplotlib Axes of shape (3, n_samples)
        The grid: inputs, reconstructions, anomaly maps.
    figure_ : matplotlib Figure
        The figure holding the grid.
    colorbar_ : matplotlib Colorbar or None
        The anomaly maps' color scale; drawn only when :meth:`plot` creates
        the figure (``ax=None``).

    See Also
    --------
    ScoreHistogramDisplay : Score distribution of inliers and outliers.
    TrainingCurveDisplay : Losses and monitor costs per epoch.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skcae.plotting import ReconstructionDisplay
    >>> images = np.random.RandomState(0).rand(4, 1, 8, 8)
    >>> disp = ReconstructionDisplay(
    ...     images, 0.9 * images, (0.1 * images[:, 0]) ** 2).plot()
    >>> disp.ax_.shape
    (3, 4)
    """

    def __init__(
        self, images, reconstructions, anomaly_maps, *, scores=None, offset=None
    ):
        self.images = images
        self.reconstructions = reconstructions
        self.anomaly_maps = anomaly_maps
        self.scores = scores
        self.offset = offset

    @classmethod
    @validate_params(
        {
            "estimator": [HasMethods(["reconstruct", "anomaly_map"])],
            "n_images": [Interval(Integral, 1, None, closed="left")],
            "image_shape": [tuple, list, None],
            "cmap": [str, callable],
            "map_cmap": [str, callable],
        },
        prefer_skip_nested_validation=True,
    )
    def from_estimator(
        cls,
        estimator,
        X,
        *,
        n_images=8,
        image_shape=None,
        ax=None,
        cmap="gray",
        map_cmap="inferno",
    ):
        """Reconstruct the first ``n_images`` samples of X and plot the grid.

        X is validated and run through the network once (plus once more by
        ``score_samples`` for detectors, whose scores are shown above the
        columns).

        Parameters
        ----------
        estimator : fitted skcae estimator
            Any skcae estimator (a detector or
            :class:`~skcae.ConvAutoencoder`).
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Samples in a form the estimator accepts; the first ``n_images``
            are shown.
        n_images : int, default=8
            Number of columns (at most the number of samples).
        image_shape : tuple of int, default=None
            ``(H, W)`` or ``(C, H, W)`` to view each sample as, with
            ``C*H*W`` values; None keeps the estimator's own shape
            (``image_shape_``). Use it to show the rows of a tabular
            :class:`~skcae.AutoencoderOutlierDetector` as images; without it
            they are drawn as strips.
        ax : ndarray of matplotlib Axes of shape (3, n_images), default=None
            Where to draw; None creates a new figure.
        cmap : str or matplotlib Colormap, default="gray"
            Colormap of one-channel inputs and reconstructions.
        map_cmap : str or matplotlib Colormap, default="inferno"
            Colormap of the anomaly maps.

        Returns
        -------
        display : ReconstructionDisplay
            The display, drawn.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from sklearn.datasets import load_digits
        >>> from skcae import ConvAutoencoderOutlierDetector
        >>> from skcae.plotting import ReconstructionDisplay
        >>> X = load_digits().data[:100]
        >>> det = ConvAutoencoderOutlierDetector(
        ...     image_shape=(8, 8), channels=(4,), latent_dim=2, max_epochs=1,
        ...     device="cpu", random_state=0).fit(X)
        >>> disp = ReconstructionDisplay.from_estimator(det, X, n_images=5)
        >>> disp.ax_.shape, disp.images.shape, disp.anomaly_maps.shape
        ((3, 5), (5, 1, 8, 8), (5, 8, 8))
        """
        check_is_fitted(estimator)
        import_pyplot(f"{cls.__name__}.from_estimator")
        shape = None if image_shape is None else _check_image_shape(image_shape)
        X = X[:n_images]
        views = estimator._views(X)
        if shape is not None:
            views = _reshape(views, shape, image_shape)
        images, recon, errors = views
        scores = offset = None
        if hasattr(estimator, "score_samples"):
            scores = estimator.score_samples(X)
            offset = getattr(estimator, "offset_", None)
        display = cls(images, recon, errors.mean(axis=1), scores=scores, offset=offset)
        return display.plot(ax=ax, cmap=cmap, map_cmap=map_cmap)

    def _checked(self):
        """The images, reconstructions and maps as float64 arrays; ValueError
        unless their shapes agree (and with ``scores``) and they are finite:
        an extra reconstruction was dropped and a missing map an IndexError
        (a hostile probe)."""
        images = np.asarray(self.images, dtype=np.float64)
        recon = np.asarray(self.reconstructions, dtype=np.float64)
        maps = np.asarray(self.anomaly_maps, dtype=np.float64)
        if images.ndim != 4 or not len(images):
            raise ValueError(
                f"Got images of shape {images.shape}; expected (n_samples, C, H, "
                "W) with at least one sample."
            )
        n, _, height, width = images.shape
        if recon.shape != images.shape:
            raise ValueError(
                f"Got reconstructions of shape {recon.shape}; expected the "
                f"shape of images, {images.shape}."
            )
        if maps.shape != (n, height, width):
            raise ValueError(
                f"Got anomaly_maps of shape {maps.shape}; expected "
                f"{(n, height, width)}, one (H, W) map per image."
            )
        if self.scores is not None and np.shape(self.scores) != (n,):
            raise ValueError(
                f"Got scores of shape {np.shape(self.scores)}; expected one "
                f"per image, ({n},)."
            )
        if self.scores is not None and not np.isfinite(self.scores).all():
            raise ValueError("scores hold NaN or infinite values; expected finite.")
        for name, values in (
            ("images", images),
            ("reconstructions", recon),
            ("anomaly_maps", maps),
        ):
            if not np.isfinite(values).all():
                raise ValueError(
                    f"{name} hold NaN or infinite values; expected finite."
                )
        return images, recon, maps

    @validate_params(
        {"cmap": [str, callable], "map_cmap": [str, callable]},
        prefer_skip_nested_validation=True,
    )
    def plot(self, *, ax=None, cmap="gray", map_cmap="inferno"):
        """Draw the grid.

        Parameters
        ----------
        ax : ndarray of matplotlib Axes of shape (3, n_samples), default=None
            Where to draw; None creates a new figure (with a colorbar for the
            anomaly maps).
        cmap : str or matplotlib Colormap, default="gray"
            Colormap of one-channel inputs and reconstructions.
        map_cmap : str or matplotlib Colormap, default="inferno"
            Colormap of the anomaly maps.

        Returns
        -------
        display : ReconstructionDisplay
            This object, with ``figure_``, ``ax_`` and ``colorbar_`` set.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> import numpy as np
        >>> from skcae.plotting import ReconstructionDisplay
        >>> images = np.random.RandomState(0).rand(2, 3, 8, 8)  # RGB
        >>> disp = ReconstructionDisplay(images, images, np.zeros((2, 8, 8)))
        >>> fig, axes = plt.subplots(3, 2)
        >>> disp.plot(ax=axes).ax_[2, 1] is axes[2, 1]
        True
        """
        plt = import_pyplot(f"{type(self).__name__}.plot")
        images, recon, maps = self._checked()
        n, _, height, _ = images.shape
        strips = height == 1
        created = ax is None
        if created:
            width, row_height = (2.2, 1.2) if strips else (1.3, 1.3)
            _, ax = new_figure(
                plt,
                3,
                n,
                figsize=(width * n + 1.8, 3 * row_height + 0.9),
                squeeze=False,
            )
        ax = np.asarray(ax, dtype=object)
        if ax.size != 3 * n:
            raise ValueError(
                f"Got ax of shape {ax.shape}; expected an array of Axes of "
                f"shape (3, {n}) (rows: input, reconstruction, anomaly map)."
            )
        ax = ax.reshape(3, n)
        aspect = "auto" if strips else "equal"
        vmin, vmax = float(images.min()), float(images.max())
        map_max = float(maps.max()) or 1.0
        for i in range(n):
            for row, image in enumerate((images[i], recon[i])):
                picture = _as_picture(image, vmin, vmax)
                scale = dict(cmap=cmap, vmin=vmin, vmax=vmax)
                if picture.ndim == 3:  # RGB, already scaled to [0, 1]
                    scale = {}
                ax[row, i].imshow(picture, aspect=aspect, **scale)
            mappable = ax[2, i].imshow(
                maps[i], cmap=map_cmap, vmin=0, vmax=map_max, aspect=aspect
            )
            if self.scores is not None:
                flagged = self.offset is not None and self.scores[i] < self.offset
                ax[0, i].set_title(
                    f"{self.scores[i] + 0.0:.3g}",  # + 0.0: no "-0"
                    fontsize=TITLE_SIZE,
                    color="tab:red" if flagged else "black",
                )
            for a in ax[:, i]:
                a.set_xticks([])
                a.set_yticks([])
        for row, label in enumerate(_ROWS):
            ax[row, 0].set_ylabel(label, fontsize=LABEL_SIZE)
        figure = ax[0, 0].figure
        self.colorbar_ = None
        if created:
            self.colorbar_ = figure.colorbar(mappable, ax=list(ax[2]), shrink=0.9)
            self.colorbar_.set_label("squared error", fontsize=LABEL_SIZE - 2)
            if self.scores is not None:
                figure.suptitle(
                    "score_samples above each input (red: flagged as outlier)"
                    if self.offset is not None
                    else "score_samples above each input",
                    fontsize=LABEL_SIZE,
                )
        self.ax_ = ax
        self.figure_ = figure
        return self
