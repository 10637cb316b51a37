"""skorch callbacks for skcae estimators.

Pass them through an estimator's ``callbacks`` parameter. The estimator
copies its callbacks when it fits, so whatever a callback records is read
back from the fitted estimator's ``net_.history``, not from the callback
object you created.
"""

from skorch.callbacks import Callback

from ._scorer import AutoencoderModel, run_batches
from ._terms import pooled_error
from ._validation import as_samples

__all__ = ["ReconstructionMonitor"]


class ReconstructionMonitor(Callback):
    """Record the mean reconstruction cost of labelled monitor sets per epoch.

    At the end of every epoch the network reconstructs ``X_inliers`` (and
    ``X_outliers``) in evaluation mode without gradients, and the mean of the
    per-sample mean squared reconstruction errors (the *cost*, in the
    squared units of the data: ``-score_samples`` of a detector with
    ``score_type="reconstruction"``) is written to the net's history as
    ``"inlier_cost"`` (and ``"outlier_cost"``). The module is then put back
    in training mode. The monitor sets never take part in training.

    Read more about plotting the result in
    :class:`skcae.plotting.TrainingCurveDisplay`.

    Parameters
    ----------
    X_inliers : array-like of shape (n_inliers, n_features), (n_inliers, H, W) \
or (n_inliers, C, H, W)
        Normal samples, flat or in the network's image shape; in the
        estimator's own form, so ``(n_inliers, H, W, C)`` (or flat rows in
        that order) with ``data_format="channels_last"``.
    X_outliers : array-like of shape (n_outliers, ...), default=None
        Outlying samples; None records ``"inlier_cost"`` only.

    See Also
    --------
    skcae.plotting.TrainingCurveDisplay : Plot the recorded costs.

    Notes
    -----
    The estimator deep-copies its callbacks in ``fit``, so read the values
    from ``estimator.net_.history[:, "inlier_cost"]``. Each epoch costs one
    extra forward pass over the monitor sets; keep them small.

    Examples
    --------
    >>> import numpy as np
    >>> from skcae import ConvAutoencoderOutlierDetector
    >>> from skcae.callbacks import ReconstructionMonitor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(60, 16))
    >>> monitor = ReconstructionMonitor(X[:10], X[:10] + 3.0)
    >>> det = ConvAutoencoderOutlierDetector(
    ...     image_shape=(4, 4), channels=(4,), latent_dim=2, max_epochs=3,
    ...     device="cpu", random_state=0, callbacks=[monitor])
    >>> det = det.fit(X[10:])
    >>> costs = det.net_.history[:, ("inlier_cost", "outlier_cost")]
    >>> len(costs), all(inl < out for inl, out in costs)
    (3, True)
    """

    def __init__(self, X_inliers, X_outliers=None):
        self.X_inliers = X_inliers
        self.X_outliers = X_outliers

    def _recorded_keys(self):
        """The history keys this monitor records each epoch (the estimator's
        check of the callbacks' order reads them)."""
        return ["inlier_cost"] + (
            ["outlier_cost"] if self.X_outliers is not None else []
        )

    def _check_feature_names(self, feature_names):
        """Refuse a DataFrame monitor set whose columns are not the training
        data's ``feature_names`` in their order (``score_samples`` refuses
        them; the monitor read reordered columns as they came)."""
        if feature_names is None:
            return
        for name, X in (("X_inliers", self.X_inliers), ("X_outliers", self.X_outliers)):
            columns = getattr(X, "columns", None)
            if columns is None or not all(isinstance(c, str) for c in columns):
                continue
            if list(columns) != list(feature_names):
                raise ValueError(
                    f"Got {name} of ReconstructionMonitor with the columns "
                    f"{_listed(columns)}, but the estimator is fitted on the "
                    f"columns {_listed(feature_names)}; expected the same "
                    "columns in the same order (e.g. X_monitor[X_train.columns])."
                )

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        # X is the training dataset: its rows' shape and standardisation
        sample_shape = X.rows.shape[1:]
        layout = {"channels_last": getattr(X, "channels_last", False)}
        self.standardization_ = X.standardization
        self.sets_ = [
            (
                "inlier_cost",
                as_samples(self.X_inliers, sample_shape, "X_inliers", **layout),
            )
        ]
        if self.X_outliers is not None:
            self.sets_.append(
                (
                    "outlier_cost",
                    as_samples(self.X_outliers, sample_shape, "X_outliers", **layout),
                )
            )

    def on_epoch_end(self, net, **kwargs):
        module = net.module_
        was_training = module.training
        # the fitted model's definition of the per-value errors
        model = AutoencoderModel(None, module, self.standardization_.to(net.device))
        try:
            for key, samples in self.sets_:
                values = run_batches(
                    model,
                    samples,
                    lambda m, x: pooled_error(m.errors(x)),
                    device=net.device,
                    mixed_precision=getattr(net, "mixed_precision", False),
                )
                net.history.record(key, float(values.mean()))
        finally:
            module.train(was_training)


def _listed(names, limit=6):
    names = [str(n) for n in names]
    shown = ", ".join(repr(n) for n in names[:limit])
    return f"[{shown}{', ...' if len(names) > limit else ''}] ({len(names)})"
