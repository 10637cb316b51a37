"""skorch callbacks for skcae estimators.

Pass them through an estimator's ``callbacks`` parameter. The estimator
copies its callbacks when it fits, so whatever a callback records is read
back from the fitted estimator's ``net_.history``, not from the callback
object you created.
"""

import numpy as np
from skorch.callbacks import Callback

from ._training import reconstruction_errors

__all__ = ["ReconstructionMonitor"]


def _module_input_shape(module):
    """The per-sample input shape of an skcae module: ``(C, H, W)`` or ``(n,)``."""
    if hasattr(module, "input_shape"):  # convolutional
        return tuple(int(v) for v in module.input_shape)
    if hasattr(module, "n_features"):  # dense
        return (int(module.n_features),)
    raise ValueError(
        f"Cannot tell the input shape of {type(module).__name__}: expected an "
        "'input_shape' or 'n_features' attribute."
    )


class ReconstructionMonitor(Callback):
    """Record the mean reconstruction cost of labelled monitor sets per epoch.

    At the end of every epoch the network reconstructs ``X_inliers`` (and
    ``X_outliers``) in evaluation mode without gradients, and the mean of the
    per-sample mean squared reconstruction errors (the *cost*, i.e.
    ``-score_samples``) is written to the net's history as
    ``"inlier_cost"`` (and ``"outlier_cost"``). The module is then put back
    in training mode. The monitor sets never take part in training.

    Read more about plotting the result in
    :class:`skcae.plotting.TrainingCurveDisplay`.

    Parameters
    ----------
    X_inliers : array-like of shape (n_inliers, n_features), (n_inliers, H, W) \
or (n_inliers, C, H, W)
        Normal samples, in any form the estimator accepts.
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

    def _as_images(self, X, name, shape):
        X = np.asarray(X, dtype=np.float32)
        if X.ndim < 2 or X[0].size != np.prod(shape):
            raise ValueError(
                f"Got {name} of shape {X.shape}, but the network takes samples "
                f"of {int(np.prod(shape))} values (shape {shape}); expected an "
                "array of shape (n_samples, n_features) or (n_samples, *shape)."
            )
        return X.reshape(len(X), *shape)

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        shape = _module_input_shape(net.module_)
        inliers = self._as_images(self.X_inliers, "X_inliers", shape)
        self.sets_ = [("inlier_cost", inliers)]
        if self.X_outliers is not None:
            self.sets_.append(
                ("outlier_cost", self._as_images(self.X_outliers, "X_outliers", shape))
            )

    def on_epoch_end(self, net, **kwargs):
        module = net.module_
        was_training = module.training
        try:
            for key, images in self.sets_:
                cost = reconstruction_errors(
                    module, images, net.device,
                    mixed_precision=getattr(net, "mixed_precision", False),
                ).mean()
                net.history.record(key, float(cost))
        finally:
            module.train(was_training)
