"""Plots for fitted skcae estimators, in scikit-learn's ``Display`` style.

Each display is built with ``XxxDisplay.from_estimator(...)``, which computes
what to draw and calls :meth:`plot`; the result keeps the matplotlib objects
as ``figure_`` and ``ax_``. matplotlib is an optional dependency, imported
only when a plot is drawn: install it with ``pip install "skcae[plot]"``.
"""

from numbers import Integral

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["ReconstructionDisplay", "ScoreHistogramDisplay", "TrainingCurveDisplay"]


def _import_pyplot(caller):
    """Import matplotlib.pyplot, or raise an ImportError naming the extra."""
    try:
        import matplotlib  # noqa: F401
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"{caller} requires matplotlib, which is not installed. Install it "
            'with: pip install "skcae[plot]" (or pip install matplotlib).'
        ) from exc
    return plt


def _reconstructions(estimator, X, image_shape=None):
    """Inputs, reconstructions and anomaly maps of X as images.

    The one place the plots get reconstructions from, through the
    estimator's ``reconstruct`` and ``anomaly_map``.

    Returns
    -------
    images, reconstructions : ndarray of shape (n_samples, C, H, W)
    maps : ndarray of shape (n_samples, H, W)
        Squared reconstruction error per pixel, averaged over channels.
    """
    check_is_fitted(estimator)
    shape = (
        image_shape
        if image_shape is not None
        else getattr(estimator, "image_shape_", None)
    )
    if shape is None:
        raise ValueError(
            f"{type(estimator).__name__} has no image_shape_; pass "
            "image_shape=(H, W) or (C, H, W) to show its rows as images."
        )
    shape = tuple(int(v) for v in shape)
    shape = (1, *shape) if len(shape) == 2 else shape
    data, _ = estimator._images(X)
    n = len(data)
    if data[0].size != np.prod(shape):
        raise ValueError(
            f"Got image_shape={image_shape!r}, but the samples hold "
            f"{data[0].size} values each; expected C*H*W == {data[0].size}."
        )
    images = np.asarray(data[0:n], dtype=np.float64).reshape(n, *shape)
    recon = np.asarray(estimator.reconstruct(X), dtype=np.float64).reshape(images.shape)
    maps = np.asarray(estimator.anomaly_map(X), dtype=np.float64)
    return images, recon, maps.reshape(n, -1, *shape[1:]).mean(axis=1)


def _as_picture(image, vmin, vmax):
    """A (C, H, W) image as what imshow takes: (H, W), or (H, W, 3) for RGB."""
    if image.shape[0] == 3:
        return np.clip((image.transpose(1, 2, 0) - vmin) / (vmax - vmin or 1), 0, 1)
    return image.mean(axis=0)


class ReconstructionDisplay:
    """A grid of inputs, their reconstructions and their anomaly maps.

    One column per sample; the rows are the input, the autoencoder's
    reconstruction and the anomaly map (squared error per pixel, averaged
    over channels). Inputs and reconstructions share one gray scale, and all
    anomaly maps share one color scale, so brighter means worse everywhere.
    One-channel images are shown in gray, three-channel images as RGB and
    other channel counts as their channel mean.

    Create it with :meth:`from_estimator`.

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

    See Also
    --------
    ScoreHistogramDisplay : Score distribution of inliers and outliers.

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
    >>> disp.ax_.shape, disp.anomaly_maps.shape
    ((3, 5), (5, 8, 8))
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

        Parameters
        ----------
        estimator : fitted skcae estimator
            Any estimator with ``reconstruct`` and ``anomaly_map``.
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Samples in a form the estimator accepts; the first ``n_images``
            are shown.
        n_images : int, default=8
            Number of columns.
        image_shape : tuple of int, default=None
            ``(H, W)`` or ``(C, H, W)`` to view each sample as; None uses the
            estimator's ``image_shape_`` (needed for tabular estimators).
        ax : ndarray of matplotlib Axes of shape (3, n_images), default=None
            Where to draw; None creates a new figure.
        cmap : str, default="gray"
            Colormap of inputs and reconstructions.
        map_cmap : str, default="inferno"
            Colormap of the anomaly maps.

        Returns
        -------
        display : ReconstructionDisplay
        """
        _import_pyplot(f"{cls.__name__}.from_estimator")
        if not (
            isinstance(n_images, Integral)
            and not isinstance(n_images, bool)
            and n_images >= 1
        ):
            raise ValueError(f"Got n_images={n_images!r}; expected an int >= 1.")
        X = X[:n_images]
        images, recon, maps = _reconstructions(estimator, X, image_shape)
        scores = offset = None
        if hasattr(estimator, "score_samples"):
            scores = estimator.score_samples(X)
            offset = getattr(estimator, "offset_", None)
        display = cls(images, recon, maps, scores=scores, offset=offset)
        return display.plot(ax=ax, cmap=cmap, map_cmap=map_cmap)

    def plot(self, *, ax=None, cmap="gray", map_cmap="inferno"):
        """Draw the grid.

        Parameters
        ----------
        ax : ndarray of matplotlib Axes of shape (3, n_samples), default=None
            Where to draw; None creates a new figure.
        cmap : str, default="gray"
            Colormap of inputs and reconstructions.
        map_cmap : str, default="inferno"
            Colormap of the anomaly maps.

        Returns
        -------
        display : ReconstructionDisplay
            This object, with ``figure_`` and ``ax_`` set.
        """
        plt = _import_pyplot(f"{type(self).__name__}.plot")
        n = len(self.images)
        if ax is None:
            _, ax = plt.subplots(3, n, figsize=(1.3 * n + 0.6, 4.2), squeeze=False)
        ax = np.asarray(ax, dtype=object).reshape(-1, n) if n else np.asarray(ax)
        if ax.shape != (3, n):
            raise ValueError(
                f"Got ax of shape {ax.shape}; expected an array of Axes of "
                f"shape (3, {n}) (rows: input, reconstruction, anomaly map)."
            )
        vmin = float(self.images.min())
        vmax = float(self.images.max())
        map_max = float(self.anomaly_maps.max()) or 1.0
        for i in range(n):
            for row, image in enumerate((self.images[i], self.reconstructions[i])):
                picture = _as_picture(image, vmin, vmax)
                scale = (
                    {} if picture.ndim == 3 else dict(cmap=cmap, vmin=vmin, vmax=vmax)
                )
                ax[row, i].imshow(picture, **scale)
            ax[2, i].imshow(self.anomaly_maps[i], cmap=map_cmap, vmin=0, vmax=map_max)
            if self.scores is not None:
                outlier = self.offset is not None and self.scores[i] < self.offset
                ax[0, i].set_title(
                    f"{self.scores[i]:.3g}",
                    fontsize="small",
                    color="tab:red" if outlier else "black",
                )
            for a in ax[:, i]:
                a.set_xticks([])
                a.set_yticks([])
        for row, label in enumerate(("input", "reconstruction", "anomaly map")):
            ax[row, 0].set_ylabel(label)
        self.ax_ = ax
        self.figure_ = ax[0, 0].figure
        return self


class ScoreHistogramDisplay:
    """Histogram of ``score_samples`` for inliers and outliers, with the threshold.

    The vertical line is ``offset_``: :meth:`predict` flags every sample whose
    score falls below it (``decision_function = score_samples - offset_``).

    Create it with :meth:`from_estimator`, or from scores with the
    constructor and :meth:`plot`.

    Parameters
    ----------
    scores : ndarray of shape (n_samples,)
        ``score_samples`` (higher is more normal).
    is_inlier : ndarray of bool of shape (n_samples,), default=None
        True for known inliers; None draws one histogram of all scores.
    offset : float, default=None
        The threshold (``offset_``); None draws no line.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The histogram's axes.
    figure_ : matplotlib Figure
        The figure holding it.
    line_ : matplotlib Line2D or None
        The threshold line.

    See Also
    --------
    ReconstructionDisplay : Inputs, reconstructions and anomaly maps.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from skcae import ConvAutoencoderOutlierDetector
    >>> from skcae.plotting import ScoreHistogramDisplay
    >>> X, y = load_digits(return_X_y=True)
    >>> det = ConvAutoencoderOutlierDetector(
    ...     image_shape=(8, 8), channels=(4,), latent_dim=2, max_epochs=1,
    ...     device="cpu", random_state=0).fit(X[y == 0])
    >>> disp = ScoreHistogramDisplay.from_estimator(det, X[:200], y[:200] == 0)
    >>> float(disp.line_.get_xdata()[0]) == det.offset_
    True
    """

    def __init__(self, scores, *, is_inlier=None, offset=None):
        self.scores = scores
        self.is_inlier = is_inlier
        self.offset = offset

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y=None,
        *,
        inlier_label=True,
        bins=30,
        density=False,
        ax=None,
    ):
        """Score X with a fitted detector and plot the histogram.

        Parameters
        ----------
        estimator : fitted skcae outlier detector
            Any estimator with ``score_samples`` (and ``offset_``).
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Samples in a form the estimator accepts.
        y : array-like of shape (n_samples,), default=None
            Labels; samples with ``y == inlier_label`` are inliers and all
            others outliers. None draws one histogram of all scores.
        inlier_label : bool, int or str, default=True
            The label of inliers in ``y``; use 1 for scikit-learn's +1/-1
            convention, or a class label.
        bins : int or sequence, default=30
            Bins shared by both histograms, as in
            :func:`numpy.histogram_bin_edges`.
        density : bool, default=False
            Scale each histogram to unit area, so groups of very different
            sizes can be compared.
        ax : matplotlib Axes, default=None
            Where to draw; None creates a new figure.

        Returns
        -------
        display : ScoreHistogramDisplay
        """
        _import_pyplot(f"{cls.__name__}.from_estimator")
        scores = estimator.score_samples(X)
        is_inlier = None
        if y is not None:
            y = np.asarray(y)
            if y.shape != scores.shape:
                raise ValueError(
                    f"Got y of shape {y.shape}, but X holds {len(scores)} "
                    f"samples; expected y of shape ({len(scores)},)."
                )
            is_inlier = y == inlier_label
        display = cls(
            scores, is_inlier=is_inlier, offset=getattr(estimator, "offset_", None)
        )
        return display.plot(ax=ax, bins=bins, density=density)

    def plot(self, *, ax=None, bins=30, density=False):
        """Draw the histogram(s) and the threshold line.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; None creates a new figure.
        bins : int or sequence, default=30
            Bins shared by both histograms.
        density : bool, default=False
            Scale each histogram to unit area.

        Returns
        -------
        display : ScoreHistogramDisplay
            This object, with ``figure_``, ``ax_`` and ``line_`` set.
        """
        plt = _import_pyplot(f"{type(self).__name__}.plot")
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        scores = np.asarray(self.scores, dtype=np.float64)
        edges = np.histogram_bin_edges(scores, bins=bins)
        if self.is_inlier is None:
            groups = [("all samples", scores, "tab:blue")]
        else:
            mask = np.asarray(self.is_inlier, dtype=bool)
            groups = [
                ("inliers", scores[mask], "tab:blue"),
                ("outliers", scores[~mask], "tab:orange"),
            ]
        for label, values, color in groups:
            if len(values):
                ax.hist(
                    values,
                    bins=edges,
                    density=density,
                    alpha=0.6,
                    color=color,
                    label=f"{label} ({len(values)})",
                )
        self.line_ = None
        if self.offset is not None:
            self.line_ = ax.axvline(
                self.offset,
                color="k",
                linestyle="--",
                label=f"threshold ({self.offset:.3g})",
            )
        ax.set_xlabel("score_samples (higher is more normal)")
        ax.set_ylabel("density" if density else "number of samples")
        ax.legend()
        self.ax_ = ax
        self.figure_ = ax.figure
        return self


class TrainingCurveDisplay:
    """Reconstruction cost of inlier and outlier monitor sets per epoch.

    The costs are recorded while training by a
    :class:`~skcae.callbacks.ReconstructionMonitor` passed through the
    estimator's ``callbacks``. The dashed line is the detector's final
    threshold on the cost, ``-offset_``: a sample costing more is flagged.
    The training loss is drawn in gray for reference.

    Create it with :meth:`from_estimator`.

    Parameters
    ----------
    inlier_cost : sequence of float
        Mean reconstruction cost of the inlier monitor set, per epoch.
    outlier_cost : sequence of float, default=None
        The same for the outlier monitor set.
    train_loss : sequence of float, default=None
        The training loss per epoch.
    threshold : float, default=None
        The cost threshold, ``-offset_``.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The plot's axes.
    figure_ : matplotlib Figure
        The figure holding it.

    See Also
    --------
    skcae.callbacks.ReconstructionMonitor : Records the costs while training.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from skcae import ConvAutoencoderOutlierDetector
    >>> from skcae.callbacks import ReconstructionMonitor
    >>> from skcae.plotting import TrainingCurveDisplay
    >>> X, y = load_digits(return_X_y=True)
    >>> det = ConvAutoencoderOutlierDetector(
    ...     image_shape=(8, 8), channels=(4,), latent_dim=2, max_epochs=2,
    ...     device="cpu", random_state=0,
    ...     callbacks=[ReconstructionMonitor(X[y == 0][:20], X[y != 0][:20])],
    ... ).fit(X[y == 0][20:])
    >>> disp = TrainingCurveDisplay.from_estimator(det)
    >>> len(disp.inlier_cost), len(disp.ax_.get_lines())
    (2, 4)
    """

    def __init__(
        self, inlier_cost, outlier_cost=None, *, train_loss=None, threshold=None
    ):
        self.inlier_cost = inlier_cost
        self.outlier_cost = outlier_cost
        self.train_loss = train_loss
        self.threshold = threshold

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, log_scale=False):
        """Read the recorded costs from a fitted estimator and plot them.

        Parameters
        ----------
        estimator : fitted skcae estimator
            Fitted with a :class:`~skcae.callbacks.ReconstructionMonitor` in
            its ``callbacks``; the costs are read from ``net_.history``.
        ax : matplotlib Axes, default=None
            Where to draw; None creates a new figure.
        log_scale : bool, default=False
            Use a logarithmic cost axis.

        Returns
        -------
        display : TrainingCurveDisplay
        """
        _import_pyplot(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator)
        epochs = list(estimator.net_.history)
        if not epochs or "inlier_cost" not in epochs[-1]:
            raise ValueError(
                f"{type(estimator).__name__} has no recorded 'inlier_cost' in "
                "net_.history; fit it with "
                "callbacks=[skcae.callbacks.ReconstructionMonitor(X_inliers, "
                "X_outliers)]."
            )

        def column(key):
            return [e[key] for e in epochs] if key in epochs[-1] else None

        offset = getattr(estimator, "offset_", None)
        display = cls(
            column("inlier_cost"),
            column("outlier_cost"),
            train_loss=column("train_loss"),
            threshold=None if offset is None else -offset,
        )
        return display.plot(ax=ax, log_scale=log_scale)

    def plot(self, *, ax=None, log_scale=False):
        """Draw the curves and the threshold line.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; None creates a new figure.
        log_scale : bool, default=False
            Use a logarithmic cost axis.

        Returns
        -------
        display : TrainingCurveDisplay
            This object, with ``figure_`` and ``ax_`` set.
        """
        plt = _import_pyplot(f"{type(self).__name__}.plot")
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        epochs = np.arange(1, len(self.inlier_cost) + 1)
        if self.train_loss is not None:
            ax.plot(epochs, self.train_loss, color="0.6", label="training loss")
        ax.plot(epochs, self.inlier_cost, marker="o", label="inliers (monitor)")
        if self.outlier_cost is not None:
            ax.plot(epochs, self.outlier_cost, marker="o", label="outliers (monitor)")
        if self.threshold is not None:
            ax.axhline(
                self.threshold,
                color="k",
                linestyle="--",
                label=f"threshold ({self.threshold:.3g})",
            )
        if log_scale:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("mean reconstruction cost (MSE)")
        ax.legend()
        self.ax_ = ax
        self.figure_ = ax.figure
        return self
