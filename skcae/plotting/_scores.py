"""ScoreHistogramDisplay: the score distribution of each group, and the threshold."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._sklearn_compat import HasMethods, Interval, StrOptions, validate_params
from ._matplotlib import LABEL_SIZE, LEGEND_SIZE, import_pyplot, new_figure, style_axes

# What numpy.histogram_bin_edges takes for ``bins``.
_BINS = [
    Interval(Integral, 1, None, closed="left"),
    StrOptions({"auto", "fd", "doane", "scott", "stone", "rice", "sturges", "sqrt"}),
    "array-like",
]
_PLOT_CONSTRAINTS = {"bins": _BINS, "density": ["boolean"], "log_scale": ["boolean"]}


def _describe_labels(y, limit=10):
    """The distinct values of ``y`` for a message: at most ``limit`` of them."""
    y = np.asarray(y).ravel()
    try:
        values = np.unique(y).tolist()  # sorted, one NaN
    except TypeError:  # labels of mixed types: in the order they come in
        values = list(dict.fromkeys(y.tolist()))
    shown = ", ".join(repr(v) for v in values[:limit])
    if len(values) > limit:
        return f"{len(values)} distinct labels ({shown}, ...)"
    return shown


class ScoreHistogramDisplay:
    """Histogram of ``score_samples`` for inliers and outliers, with the threshold.

    The dashed line is ``offset_``: :meth:`predict` flags every sample whose
    score falls below it (``decision_function = score_samples - offset_``).
    Both groups share the bins. By default each group's histogram is scaled
    to unit area (``density=True``), so that a small group stays visible next
    to a large one; the legend gives the group sizes. With
    ``density=False`` the bars count samples, and ``log_scale=True`` keeps
    small counts visible.

    Create it with :meth:`from_estimator`, or from scores with the
    constructor and :meth:`plot`.

    Parameters
    ----------
    scores : ndarray of shape (n_samples,)
        ``score_samples`` (higher is more normal).
    is_inlier : ndarray of bool of shape (n_samples,), default=None
        True for known inliers; labels of 1 (inlier) and -1 or 0 (outlier),
        such as ``predict`` returns, are read the same way. None draws one
        histogram of all scores.
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
    TrainingCurveDisplay : Losses and monitor costs per epoch.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skcae.plotting import ScoreHistogramDisplay
    >>> rng = np.random.RandomState(0)
    >>> scores = np.r_[rng.normal(0, 1, 1600), rng.normal(-4, 1, 40)]
    >>> is_inlier = np.arange(len(scores)) < 1600
    >>> disp = ScoreHistogramDisplay(scores, is_inlier=is_inlier, offset=-2.0)
    >>> [t.get_text() for t in disp.plot().ax_.get_legend().get_texts()]
    ['inliers (n=1,600)', 'outliers (n=40)', 'threshold offset_ = -2']
    """

    def __init__(self, scores, *, is_inlier=None, offset=None):
        self.scores = scores
        self.is_inlier = is_inlier
        self.offset = offset

    @classmethod
    @validate_params(
        {
            "estimator": [HasMethods(["score_samples"])],
            "y": ["array-like", None],
            **_PLOT_CONSTRAINTS,
        },
        prefer_skip_nested_validation=True,
    )
    def from_estimator(
        cls,
        estimator,
        X,
        y=None,
        *,
        inlier_label=True,
        bins=30,
        density=True,
        log_scale=False,
        ax=None,
    ):
        """Score X with a fitted detector and plot the histogram.

        Parameters
        ----------
        estimator : fitted skcae outlier detector
            Any fitted estimator with ``score_samples`` (and ``offset_`` for
            the threshold line).
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Samples in a form the estimator accepts.
        y : array-like of shape (n_samples,), default=None
            Labels; samples with ``y == inlier_label`` are inliers and all
            others outliers. At least one sample must be an inlier (else a
            ValueError lists the labels found). None draws one histogram of
            all scores.
        inlier_label : bool, int or str, default=True
            The label of inliers in ``y``. The default also matches 1, so
            boolean labels and scikit-learn's +1/-1 convention both work;
            pass a class label otherwise (e.g. ``inlier_label="normal"``).
        bins : int, str or array-like, default=30
            Bins shared by all groups, as in
            :func:`numpy.histogram_bin_edges`.
        density : bool, default=True
            Scale each group's histogram to unit area ("density per group"),
            so that groups of very different sizes can be compared. False
            counts samples.
        log_scale : bool, default=False
            Use a logarithmic y axis (useful with ``density=False`` when
            one group is much larger than the other).
        ax : matplotlib Axes, default=None
            Where to draw; None creates a new figure.

        Returns
        -------
        display : ScoreHistogramDisplay
            The display, drawn.

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
        ...     device="cpu", random_state=0).fit(X[y == 0][:100])
        >>> disp = ScoreHistogramDisplay.from_estimator(
        ...     det, X[:300], y[:300] == 0, density=False, log_scale=True)
        >>> float(disp.line_.get_xdata()[0]) == det.offset_
        True
        >>> disp.ax_.get_ylabel(), disp.ax_.get_yscale()
        ('number of samples', 'log')
        """
        check_is_fitted(estimator)
        import_pyplot(f"{cls.__name__}.from_estimator")
        scores = estimator.score_samples(X)
        is_inlier = None
        if y is not None:
            y = np.asarray(y)
            if y.shape != scores.shape:
                raise ValueError(
                    f"Got y of shape {y.shape}, but X holds {len(scores)} "
                    f"samples; expected y of shape ({len(scores)},)."
                )
            is_inlier = np.asarray(y == inlier_label)
            if is_inlier.shape != scores.shape:
                raise ValueError(
                    f"Got inlier_label={inlier_label!r}, which cannot be compared "
                    f"with the labels in y (dtype {y.dtype}); expected a label "
                    "of the same type as y's."
                )
            if not is_inlier.any():
                raise ValueError(
                    f"Got inlier_label={inlier_label!r}, but no sample of y has "
                    f"that label: y holds {_describe_labels(y)}. Pass "
                    "inlier_label= set to the label of the inliers in y, or "
                    "y=None to draw all scores as one histogram."
                )
        display = cls(
            scores, is_inlier=is_inlier, offset=getattr(estimator, "offset_", None)
        )
        return display.plot(ax=ax, bins=bins, density=density, log_scale=log_scale)

    @validate_params(_PLOT_CONSTRAINTS, prefer_skip_nested_validation=True)
    def plot(self, *, ax=None, bins=30, density=True, log_scale=False):
        """Draw the histogram(s) and the threshold line.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; None creates a new figure.
        bins : int, str or array-like, default=30
            Bins shared by all groups, as in
            :func:`numpy.histogram_bin_edges`.
        density : bool, default=True
            Scale each group's histogram to unit area; False counts samples.
        log_scale : bool, default=False
            Use a logarithmic y axis.

        Returns
        -------
        display : ScoreHistogramDisplay
            This object, with ``figure_``, ``ax_`` and ``line_`` set.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import numpy as np
        >>> from skcae.plotting import ScoreHistogramDisplay
        >>> scores = np.random.RandomState(0).normal(size=200)
        >>> disp = ScoreHistogramDisplay(scores).plot(bins=20, density=False)
        >>> disp.ax_.get_ylabel(), disp.line_ is None
        ('number of samples', True)
        """
        plt = import_pyplot(f"{type(self).__name__}.plot")
        scores = np.asarray(self.scores, dtype=np.float64)
        if scores.ndim != 1 or not scores.size:
            raise ValueError(
                f"Got scores of shape {scores.shape}; expected a non-empty 1-D "
                "array, one score per sample, such as score_samples returns."
            )
        bad = ~np.isfinite(scores)
        if bad.any():
            raise ValueError(
                f"Got {int(bad.sum())} score(s) that are NaN or infinite (the "
                f"first at index {int(np.flatnonzero(bad)[0])}); expected finite "
                "scores, such as score_samples returns."
            )
        if self.offset is not None and not (
            isinstance(self.offset, Real)  # numpy's numbers too
            and not isinstance(self.offset, (bool, np.bool_))
            and np.isfinite(float(self.offset))
        ):
            # (a string or a 1-element array failed inside the label's
            # formatting, a probe)
            raise ValueError(f"Got offset={self.offset!r}; expected a finite number.")
        groups = [("all samples", scores, "tab:blue")]
        if self.is_inlier is not None:
            mask = _inlier_mask(self.is_inlier)
            if mask.shape != scores.shape:
                raise ValueError(
                    f"Got is_inlier of shape {mask.shape}, but there are "
                    f"{len(scores)} scores; expected shape ({len(scores)},)."
                )
            groups = [
                ("inliers", scores[mask], "tab:blue"),
                ("outliers", scores[~mask], "tab:orange"),
            ]
        if ax is None:
            _, ax = new_figure(plt, figsize=(6.4, 4.2))
        edges = np.histogram_bin_edges(scores, bins=bins)
        for label, values, color in groups:
            if len(values):
                ax.hist(
                    values,
                    bins=edges,
                    density=density,
                    alpha=0.55,
                    color=color,
                    edgecolor=color,
                    label=f"{label} (n={len(values):,})",
                )
        self.line_ = None
        if self.offset is not None:
            self.line_ = ax.axvline(
                self.offset,
                color="black",
                linestyle="--",
                linewidth=1.5,
                label=f"threshold offset_ = {self.offset:.3g}",
            )
        if log_scale:
            ax.set_yscale("log")
        ax.set_xlabel("score_samples (higher is more normal)", fontsize=LABEL_SIZE)
        ax.set_ylabel(
            "density per group" if density else "number of samples",
            fontsize=LABEL_SIZE,
        )
        style_axes(ax)
        ax.legend(fontsize=LEGEND_SIZE)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self


def _inlier_mask(is_inlier):
    """``is_inlier`` as a bool mask: bools as they are, and labels of 1 and
    -1 (``predict``'s) or 1 and 0 read as 1 = inlier (casting -1 to bool
    made every outlier an inlier)."""
    values = np.asarray(is_inlier)
    if values.dtype == bool:
        return values
    if values.dtype.kind in "iuf" and np.isin(values, (1, 0, -1)).all():
        if (values == 0).any() and (values == -1).any():
            raise ValueError(
                "Got is_inlier holding 1, 0 and -1; expected bools, or labels "
                "of 1 (inlier) and -1 or 0 (outlier)."
            )
        return values == 1
    raise ValueError(
        f"Got is_inlier of dtype {values.dtype} with values such as "
        f"{np.unique(values)[:5].tolist()}; expected bools, or labels of 1 "
        "(inlier) and -1 (outlier) as predict returns them."
    )
