"""TrainingCurveDisplay: losses per epoch, and the monitor's costs when recorded."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._sklearn_compat import validate_params
from ._matplotlib import LABEL_SIZE, LEGEND_SIZE, import_pyplot, new_figure, style_axes

_LOSS_LABEL = "loss (MSE, standardised units)"
_COST_LABEL = "mean reconstruction cost\n(MSE, squared data units)"


def _recorded(history, key):
    """The values of ``key`` in every epoch of a skorch history, or None."""
    if history and all(key in epoch for epoch in history):
        return [float(epoch[key]) for epoch in history]
    return None


def _cost_threshold(estimator):
    """``-offset_`` when it is a threshold on the monitor's cost, else None.

    Only ``score_type="reconstruction"`` without pooling scores a sample by
    minus its mean squared error, the cost the monitor records.
    """
    offset = getattr(estimator, "offset_", None)
    scorer = getattr(estimator, "scorer_", None)
    if offset is None or scorer is None or not scorer.cost_is_mse:
        return None
    return -float(offset)


class TrainingCurveDisplay:
    """Training (and validation) loss per epoch, with the monitor's costs.

    The losses are those the network minimised, in the standardised units it
    trains in. When the estimator was fitted with a
    :class:`~skcae.callbacks.ReconstructionMonitor`, the mean reconstruction
    cost of its inlier (and outlier) set is drawn too, on a secondary y axis
    on the right: the costs are in the squared units of the data
    (``-score_samples`` of a ``score_type="reconstruction"`` detector), not
    in the loss's units. For such a detector the dashed line on the cost
    axis is its threshold, ``-offset_``: a sample costing more is flagged.

    Create it with :meth:`from_estimator`, or from the values with the
    constructor and :meth:`plot`.

    Parameters
    ----------
    train_loss : sequence of float
        The training loss per epoch.
    valid_loss : sequence of float, default=None
        The validation loss per epoch (``validation_fraction``).
    inlier_cost : sequence of float, default=None
        Mean reconstruction cost of the inlier monitor set, per epoch.
    outlier_cost : sequence of float, default=None
        The same for the outlier monitor set.
    threshold : float, default=None
        A threshold on the cost, ``-offset_``; drawn only with costs.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The axes of the losses (left y axis) and the epochs.
    cost_ax_ : matplotlib Axes or None
        The twin axes of the costs (right y axis); None without costs.
    figure_ : matplotlib Figure
        The figure holding them.
    lines_ : dict of str to matplotlib Line2D
        The curves, by name: ``"train_loss"``, ``"valid_loss"``,
        ``"inlier_cost"``, ``"outlier_cost"`` and ``"threshold"``, those
        drawn.

    See Also
    --------
    skcae.callbacks.ReconstructionMonitor : Records the costs while training.
    ScoreHistogramDisplay : Score distribution of inliers and outliers.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skcae.plotting import TrainingCurveDisplay
    >>> disp = TrainingCurveDisplay(
    ...     [1.0, 0.6, 0.4], inlier_cost=[30.0, 20.0, 15.0],
    ...     outlier_cost=[40.0, 38.0, 37.0], threshold=25.0).plot()
    >>> sorted(disp.lines_)
    ['inlier_cost', 'outlier_cost', 'threshold', 'train_loss']
    """

    def __init__(
        self,
        train_loss,
        *,
        valid_loss=None,
        inlier_cost=None,
        outlier_cost=None,
        threshold=None,
    ):
        self.train_loss = train_loss
        self.valid_loss = valid_loss
        self.inlier_cost = inlier_cost
        self.outlier_cost = outlier_cost
        self.threshold = threshold

    @classmethod
    @validate_params({"log_scale": ["boolean"]}, prefer_skip_nested_validation=True)
    def from_estimator(cls, estimator, *, ax=None, log_scale=False):
        """Read the losses (and recorded costs) of a fitted estimator and plot them.

        Parameters
        ----------
        estimator : fitted skcae estimator
            The losses come from ``history_``; the costs, when the estimator
            was fitted with a :class:`~skcae.callbacks.ReconstructionMonitor`
            in its ``callbacks``, from ``net_.history``.
        ax : matplotlib Axes, default=None
            Where to draw; None creates a new figure.
        log_scale : bool, default=False
            Use logarithmic y axes.

        Returns
        -------
        display : TrainingCurveDisplay
            The display, drawn.

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
        ...     score_type="reconstruction", device="cpu", random_state=0,
        ...     callbacks=[ReconstructionMonitor(X[y == 0][:20], X[y != 0][:20])],
        ... ).fit(X[y == 0][20:])
        >>> disp = TrainingCurveDisplay.from_estimator(det)
        >>> len(disp.inlier_cost), sorted(disp.lines_)
        (2, ['inlier_cost', 'outlier_cost', 'threshold', 'train_loss'])
        """
        check_is_fitted(estimator)
        import_pyplot(f"{cls.__name__}.from_estimator")
        losses = getattr(estimator, "history_", None)
        if not losses or "train_loss" not in losses:
            raise ValueError(
                f"Got a {type(estimator).__name__} without history_['train_loss']; "
                "expected a fitted skcae estimator."
            )
        history = list(getattr(getattr(estimator, "net_", None), "history", None) or [])
        inlier_cost = _recorded(history, "inlier_cost")
        display = cls(
            list(losses["train_loss"]),
            valid_loss=losses.get("valid_loss"),
            inlier_cost=inlier_cost,
            outlier_cost=_recorded(history, "outlier_cost"),
            threshold=_cost_threshold(estimator) if inlier_cost else None,
        )
        return display.plot(ax=ax, log_scale=log_scale)

    @validate_params({"log_scale": ["boolean"]}, prefer_skip_nested_validation=True)
    def plot(self, *, ax=None, log_scale=False):
        """Draw the curves (and the threshold line).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw the losses; the costs go on its twin
            (``ax.twinx()``). None creates a new figure.
        log_scale : bool, default=False
            Use logarithmic y axes.

        Returns
        -------
        display : TrainingCurveDisplay
            This object, with ``figure_``, ``ax_``, ``cost_ax_`` and
            ``lines_`` set.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from skcae.plotting import TrainingCurveDisplay
        >>> disp = TrainingCurveDisplay([1.0, 0.5], valid_loss=[1.1, 0.7]).plot()
        >>> sorted(disp.lines_), disp.cost_ax_ is None
        (['train_loss', 'valid_loss'], True)
        """
        plt = import_pyplot(f"{type(self).__name__}.plot")
        from matplotlib.ticker import MaxNLocator

        _check_series(self)
        if ax is None:
            _, ax = new_figure(plt, figsize=(7.0, 4.2))
        epochs = np.arange(1, len(self.train_loss) + 1)
        marker = "o" if len(epochs) <= 30 else None
        lines = {}

        def draw(axes, name, values, **style):
            if values is not None:
                (lines[name],) = axes.plot(
                    epochs[: len(values)], values, marker=marker, markersize=4, **style
                )

        draw(ax, "train_loss", self.train_loss, color="0.35", label="training loss")
        draw(
            ax,
            "valid_loss",
            self.valid_loss,
            color="0.35",
            linestyle="--",
            label="validation loss",
        )
        cost_ax = None
        if self.inlier_cost is not None or self.outlier_cost is not None:
            cost_ax = ax.twinx()
            draw(
                cost_ax,
                "inlier_cost",
                self.inlier_cost,
                color="tab:blue",
                label="inlier cost (monitor)",
            )
            draw(
                cost_ax,
                "outlier_cost",
                self.outlier_cost,
                color="tab:orange",
                label="outlier cost (monitor)",
            )
            if self.threshold is not None:
                lines["threshold"] = cost_ax.axhline(
                    self.threshold,
                    color="black",
                    linestyle=":",
                    linewidth=1.5,
                    label=f"threshold -offset_ = {self.threshold:.3g}",
                )
            cost_ax.set_ylabel(_COST_LABEL, fontsize=LABEL_SIZE)
        ax.set_xlabel("epoch", fontsize=LABEL_SIZE)
        ax.set_ylabel(_LOSS_LABEL, fontsize=LABEL_SIZE)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes = [ax] if cost_ax is None else [ax, cost_ax]
        for a in axes:
            if log_scale:
                a.set_yscale("log")
            style_axes(a)
        # one legend for both axes, on the top one so no curve hides it
        handles = [h for a in axes for h in a.get_legend_handles_labels()[0]]
        axes[-1].legend(handles=handles, fontsize=LEGEND_SIZE)
        self.ax_ = ax
        self.cost_ax_ = cost_ax
        self.lines_ = lines
        self.figure_ = ax.figure
        return self


def _check_series(display):
    """ValueError unless ``train_loss`` is a non-empty 1-D numeric series and
    every other series (when given) a 1-D numeric one of at most as many
    epochs (matplotlib's errors named neither the series nor the cause)."""
    n_epochs = None
    for name in ("train_loss", "valid_loss", "inlier_cost", "outlier_cost"):
        values = getattr(display, name)
        if values is None and name != "train_loss":
            continue
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            array = None
        if array is None or array.ndim != 1 or (n_epochs is None and not array.size):
            shape = (
                "that is not numbers" if array is None else f"of shape {array.shape}"
            )
            raise ValueError(
                f"Got {name} {shape}; expected a "
                f"{'non-empty ' if n_epochs is None else ''}1-D series of "
                "numbers, one per epoch."
            )
        if n_epochs is None:
            n_epochs = len(array)
        elif len(array) > n_epochs:
            raise ValueError(
                f"Got {name} of {len(array)} epochs, but train_loss has "
                f"{n_epochs}; expected at most as many epochs."
            )
