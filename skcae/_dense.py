"""AutoencoderOutlierDetector: a fully connected autoencoder for tabular data."""

from numbers import Integral

import numpy as np

from ._base import BaseAutoencoder
from ._data import validate_numeric
from ._detector import OUTLIER_CONSTRAINTS, ReconstructionOutlierMixin
from ._network import DenseAutoencoderModule


def _feature_stats(X):
    """Per-feature mean and standard deviation (1 where a feature is constant)."""
    mean = X.mean(axis=0, dtype=np.float64)
    std = X.std(axis=0, dtype=np.float64)
    std[~(std > 1e-12 * np.maximum(1.0, np.abs(mean)))] = 1.0
    return mean, std


class AutoencoderOutlierDetector(ReconstructionOutlierMixin, BaseAutoencoder):
    """Outlier detection on tabular data with a fully connected autoencoder.

    The "standard" autoencoder: a multilayer perceptron squeezes each row
    of X (standardised feature by feature inside the network) through a
    ``latent_dim`` bottleneck and back; rows it reconstructs badly are
    outliers. The outlier contract is that of
    :class:`~skcae.ConvAutoencoderOutlierDetector` and
    :class:`~sklearn.ensemble.IsolationForest`: :meth:`score_samples` is
    minus the mean squared reconstruction error (higher is more normal),
    :meth:`decision_function` is negative for outliers and :meth:`predict`
    returns +1 / -1.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(64, 32)
        Widths of the encoder's hidden layers; the decoder mirrors them.
        ``()`` gives a linear autoencoder (akin to PCA).
    latent_dim : int, default=8
        Size of the code each row is compressed to.
    activation : {"relu", "leaky_relu", "elu", "gelu", "tanh", "sigmoid"}, \
default="relu"
        Non-linearity after each hidden layer.
    max_epochs : int, default=50
        Number of passes over the training data.
    batch_size : int or "auto", default="auto"
        Samples per training step. "auto" takes ``n_samples // 32`` clipped
        to [8, 64]: about 32 steps per epoch, so small training sets are not
        left with a couple of steps per epoch.
    lr : float, default=1e-3
        Learning rate.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or torch optimizer class, \
default="adam"
        Optimiser; "sgd" uses momentum 0.9.
    weight_decay : float, default=0.0
        L2 penalty passed to the optimiser.
    validation_fraction : float in (0, 1), default=None
        Fraction of the training data held out to measure a validation loss
        each epoch; its scores are kept as ``validation_scores_`` for
        :meth:`set_threshold_from`. None trains on all of X.
    n_iter_no_change : int, default=None
        Stop when the monitored loss (validation loss if
        ``validation_fraction`` is set, else training loss) has not improved
        for this many epochs, and restore the best weights.
    noise_std : float, default=0.0
        Denoising: standard deviation of the Gaussian noise added to each
        standardised feature (z-score) during training only. The network
        learns to reconstruct the clean row; scoring never adds noise.
    mask_fraction : float in [0, 1), default=0.0
        Denoising: fraction of feature values set to the feature mean
        (masked) during training only.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected fraction of outliers in the training data: ``offset_`` is
        set at this quantile of the training scores, as in
        :class:`~sklearn.ensemble.IsolationForest`. "auto" flags 1%.
        Ignored when ``threshold`` is set. See also
        :meth:`set_threshold_from`.
    threshold : float, default=None
        Absolute cutoff on the mean squared reconstruction error
        (``offset_ = -threshold``); takes precedence over ``contamination``.
    memory : str, joblib.Memory or None, default=None
        Caches the trained network, keyed by the training data and the
        parameters that change it (not ``contamination`` or ``threshold``),
        as in :class:`~skcae.ConvAutoencoderOutlierDetector`.
    device : str, default="auto"
        Torch device: "cpu", "cuda", "cuda:1" ... "auto" uses CUDA when
        available.
    mixed_precision : bool, default=False
        Train and score under bfloat16 autocast (:func:`torch.autocast`),
        which is faster on GPUs with bf16 tensor cores; the loss and the
        scores are still accumulated in float32/float64. Off by default,
        since on CPUs without bf16 support it is slower.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling and the validation split
        inside ``fit``, without touching the global generators.
    verbose : int, default=0
        0 is silent; 1 shows a progress bar and the per-epoch loss table.
    callbacks : list of skorch callbacks, default=None
        Extra :mod:`skorch.callbacks` added to the network (copied in fit).

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained network (a :class:`~skcae.DenseAutoencoderModule`).
    offset_ : float
        ``decision_function = score_samples - offset_``.
    validation_scores_ : ndarray of shape (n_validation,)
        Scores of the rows held out by ``validation_fraction`` (only set
        when it is).
    history_ : dict of list
        Per-epoch ``"train_loss"`` (and ``"valid_loss"``).
    n_iter_ : int
        Number of epochs run.
    device_ : str
        The device used.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    ConvAutoencoderOutlierDetector : The convolutional version, for images.
    sklearn.ensemble.IsolationForest : The tree-based detector to compare with.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from skcae import AutoencoderOutlierDetector
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> det = AutoencoderOutlierDetector(
    ...     hidden_layer_sizes=(16,), latent_dim=4, max_epochs=5,
    ...     contamination=0.05, device="cpu", random_state=0)
    >>> det.fit(X[y == 1]).predict(X[:5]).shape
    (5,)
    >>> sorted(set(det.predict(X).tolist()))
    [-1, 1]
    >>> det.anomaly_map(X[:5]).shape
    (5, 30)
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        **OUTLIER_CONSTRAINTS,
        "hidden_layer_sizes": [tuple, list],
    }

    _module_class = DenseAutoencoderModule

    def __init__(
        self,
        *,
        hidden_layer_sizes=(64, 32),
        latent_dim=8,
        activation="relu",
        max_epochs=50,
        batch_size="auto",
        lr=1e-3,
        optimizer="adam",
        weight_decay=0.0,
        validation_fraction=None,
        n_iter_no_change=None,
        noise_std=0.0,
        mask_fraction=0.0,
        contamination="auto",
        threshold=None,
        memory=None,
        device="auto",
        mixed_precision=False,
        random_state=None,
        verbose=0,
        callbacks=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.latent_dim = latent_dim
        self.activation = activation
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.noise_std = noise_std
        self.mask_fraction = mask_fraction
        self.contamination = contamination
        self.threshold = threshold
        self.memory = memory
        self.device = device
        self.mixed_precision = mixed_precision
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    def _check_params(self):
        sizes = tuple(self.hidden_layer_sizes)
        if not all(
            isinstance(h, Integral) and not isinstance(h, bool) and h >= 1
            for h in sizes
        ):
            raise ValueError(
                f"Got hidden_layer_sizes={self.hidden_layer_sizes!r}, but expected "
                "a tuple of positive ints, e.g. (64, 32) (or () for none)."
            )
        super()._check_params()

    def _check_input(self, X, *, reset):
        X = validate_numeric(self, X, reset=reset)
        return X, X.shape

    def _input_stats(self, data):
        return _feature_stats(data)

    def _module_kwargs(self):
        return {
            "n_features": self.n_features_in_,
            "hidden_layer_sizes": tuple(self.hidden_layer_sizes),
            **super()._module_kwargs(),
        }
