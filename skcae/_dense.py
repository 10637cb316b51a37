"""AutoencoderOutlierDetector: a fully connected autoencoder for tabular data."""

import numpy as np

from . import _docstrings as docs
from ._base import register
from ._checks import positive_ints
from ._network import DenseAutoencoderModule
from ._outlier import BaseOutlierDetector
from ._sklearn_compat import StrOptions


@register
@docs.Substitution(
    training=docs.TRAINING % docs.DENSE_TRAINING,
    outlier=docs.OUTLIER
    % {
        "score_types": '"hybrid", "reconstruction", "latent"',
        "default_score": '"hybrid"',
        "density_score": "",
        "trim_margin": " (at most half of X in all)",
        "density_widening": "",
        "n_neighbors_terms": 'latent term of ``"hybrid"``',
        "hybrid_terms": "the mean squared error and the latent kNN distance",
    },
    running=docs.RUNNING,
    common_attributes=docs.COMMON_ATTRIBUTES,
    outlier_attributes=docs.OUTLIER_ATTRIBUTES,
)
class AutoencoderOutlierDetector(BaseOutlierDetector):
    """Outlier detection on tabular data with a fully connected autoencoder.

    The "standard" autoencoder: a multilayer perceptron squeezes each row
    of X (standardised feature by feature, in float64, before the network)
    through a ``latent_dim`` bottleneck and back. A row is an outlier when
    the network reconstructs it badly or when its code lies far from the
    training codes (the default ``score_type="hybrid"`` combines the two;
    ``score_type="reconstruction"`` is the reconstruction error alone). The
    outlier contract is that of
    :class:`~skcae.ConvAutoencoderOutlierDetector` and
    :class:`~sklearn.ensemble.IsolationForest`: higher :meth:`score_samples`
    is more normal, :meth:`decision_function` is negative for outliers and
    :meth:`predict` returns +1 / -1.

    Read more in the :ref:`User Guide <user_guide>`.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(64, 32)
        Widths of the encoder's hidden layers (a list or 1-D int array
        also); the decoder mirrors them.
        ``()`` gives a linear autoencoder (akin to PCA).
    latent_dim : int, default=8
        Size of the code each row is compressed to; at most the number
        of features or 1024, whichever is larger.
    activation : {"relu", "leaky_relu", "elu", "gelu", "tanh", "sigmoid"}, \
default="relu"
        Non-linearity after each hidden layer.
    %(training)s
    %(outlier)s
    %(running)s

    Attributes
    ----------
    %(outlier_attributes)s
    %(common_attributes)s

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
        **BaseOutlierDetector._parameter_constraints,
        "hidden_layer_sizes": [tuple, list, np.ndarray],
        "score_type": [StrOptions({"hybrid", "reconstruction", "latent"})],
    }

    _module_class = DenseAutoencoderModule
    _takes_images = False
    _score_terms = {
        "reconstruction": ("mse",),
        "latent": ("latent",),
        "hybrid": ("mse", "latent"),
    }

    def __init__(
        self,
        *,
        hidden_layer_sizes=(64, 32),
        latent_dim=8,
        activation="relu",
        max_epochs=50,
        batch_size="auto",
        lr=1e-3,
        lr_schedule="constant",
        optimizer="adam",
        weight_decay=0.0,
        validation_fraction=None,
        n_iter_no_change=None,
        noise_std=0.0,
        mask_fraction=0.0,
        score_type="hybrid",
        n_neighbors=5,
        contamination="auto",
        threshold=None,
        calibration="auto",
        memory=None,
        device="auto",
        mixed_precision=False,
        n_jobs=None,
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
        self.lr_schedule = lr_schedule
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.noise_std = noise_std
        self.mask_fraction = mask_fraction
        self.score_type = score_type
        self.n_neighbors = n_neighbors
        self.contamination = contamination
        self.threshold = threshold
        self.calibration = calibration
        self.memory = memory
        self.device = device
        self.mixed_precision = mixed_precision
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    def _check_params(self):
        positive_ints(
            self.hidden_layer_sizes,
            "hidden_layer_sizes",
            example="(64, 32) (or () for none)",
            allow_empty=True,
        )
        super()._check_params()

    def _module_kwargs(self, fitted):
        return {
            "n_features": fitted["n_features_in_"],
            "hidden_layer_sizes": tuple(int(h) for h in self.hidden_layer_sizes),
            **super()._module_kwargs(fitted),
        }
