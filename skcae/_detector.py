"""ConvAutoencoderOutlierDetector: outlier detection on images."""

from numbers import Integral, Real

from . import _docstrings as docs
from ._base import register
from ._conv import BaseConvAutoencoder
from ._outlier import BaseOutlierDetector
from ._sklearn_compat import Interval


@register
@docs.Substitution(
    image_input=docs.IMAGE_INPUT,
    training=docs.TRAINING % docs.CONV_TRAINING,
    outlier=docs.OUTLIER
    % {
        "score_types": '"hybrid", "reconstruction", "latent", "density"',
        "default_score": '"hybrid"',
        "density_score": """ "density": the local density of its
    features (the first encoder block's maps, average-pooled and projected
    on their principal components, beside the image's per-channel mean
    and standard deviation; for images of at most 8x8 pixels, the pixels
    themselves): its mean distance to the 20 nearest training
    samples over theirs to their own 50 nearest, a local outlier factor
    in the network's feature space.""",
        "trim_margin": " where X is large enough for outliers to gather in"
        "\n    clumps (as X's size lets the density term's neighbourhood below"
        "\n    widen: none below 420 samples, all of it from 600 samples at 0.05,"
        "\n    800 at 0.1; all of it for a score without that term; at most half"
        "\n    of X in all)",
        "density_widening": ' the "density" term of the score compares a'
        "\n    sample with ``round(20 * (1 + 10 * contamination))`` neighbours"
        "\n    instead of 20 (30 at 0.05, 40 at 0.1; at most a twentieth of the"
        "\n    references, and at least 20), so that a small clump of outliers in"
        "\n    X does not pass for normal (it favours outliers in X over several"
        "\n    kinds of normal: a rate stated for data with none costs"
        "\n    several-class accuracy);",
        "n_neighbors_terms": 'latent and image-statistics terms of ``"hybrid"``',
        "hybrid_terms": "the squared error of each pixel over that pixel's "
        "mean squared error on the training images (weight 1/2), the error "
        "box-blurred 3x3 and averaged over its 10% largest pixels, the "
        "density (weight 3), "
        "the kNN distance of the image's per-channel mean and standard "
        "deviation (brightness, colour, contrast), the latent kNN distance "
        "and the pixels' excess beyond their training range (weight 3 times "
        "its share: how narrow the narrowest pixels' ranges are, and the "
        "chance that a new normal image lies within them all)",
    },
    image_score=docs.IMAGE_SCORE,
    running=docs.RUNNING,
    common_attributes=docs.COMMON_ATTRIBUTES,
    image_attributes=docs.IMAGE_ATTRIBUTES,
    outlier_attributes=docs.OUTLIER_ATTRIBUTES,
)
class ConvAutoencoderOutlierDetector(BaseOutlierDetector, BaseConvAutoencoder):
    """Outlier detection on images with a convolutional autoencoder.

    A small convolutional autoencoder is trained to reconstruct the training
    images. A new image is an outlier when the network reconstructs it
    badly, when its features lie where the training images' are sparse
    (another kind of image among several kinds of normal), or when its
    brightness, colour or contrast is unlike the training images' (the
    default ``score_type="hybrid"`` combines them; ``score_type="reconstruction"``
    is the classic reconstruction error alone). The detector follows the
    contract of :class:`~sklearn.ensemble.IsolationForest`: higher
    :meth:`score_samples` means more normal, :meth:`decision_function` is
    negative for outliers and :meth:`predict` returns +1 / -1.

    Training runs through a :class:`skorch.NeuralNet` built in :meth:`fit`
    and kept as ``net_``.

    Read more in the :ref:`User Guide <user_guide>`.

    Parameters
    ----------
    %(image_input)s
    latent_dim : int, default=32
        Size of the code the encoder compresses each image to; at most
        the number of values per image or 1024, whichever is larger. The
        default was chosen on validation splits (the :ref:`benchmarks`
        page): 32 ranked as well as 16 or better on every family of tasks
        there.
    activation : {"relu", "leaky_relu", "elu", "gelu", "tanh", "sigmoid"}, \
default="relu"
        Non-linearity after each hidden layer.
    %(training)s
    %(outlier)s
    %(image_score)s
    %(running)s

    Attributes
    ----------
    %(outlier_attributes)s
    %(common_attributes)s
    %(image_attributes)s

    See Also
    --------
    sklearn.ensemble.IsolationForest : The tree-based detector to compare with.
    AutoencoderOutlierDetector : The fully connected version, for tabular data.
    ConvAutoencoder : The same network as a transformer (codes).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skcae import ConvAutoencoderOutlierDetector
    >>> X, y = load_digits(return_X_y=True)
    >>> det = ConvAutoencoderOutlierDetector(
    ...     image_shape=(8, 8), max_epochs=2, random_state=0)
    >>> det.fit(X[y == 1]).predict(X[:5]).shape
    (5,)
    >>> sorted(set(det.predict(X).tolist()))
    [-1, 1]
    """

    _parameter_constraints: dict = {
        **BaseOutlierDetector._parameter_constraints,
        **BaseConvAutoencoder._parameter_constraints,
        "score_smoothing": [Interval(Integral, 1, None, closed="left")],
        "score_top_fraction": [Interval(Real, 0, 1, closed="right")],
    }

    def _score_options(self):
        return {
            "smoothing": int(self.score_smoothing),
            "top_fraction": float(self.score_top_fraction),
        }

    def _check_params(self):
        super()._check_params()
        if self.score_smoothing % 2 == 0:
            raise ValueError(
                f"Got score_smoothing={self.score_smoothing}, but expected an odd "
                "int (the side of a centred box filter); 1 means no smoothing."
            )

    def __init__(
        self,
        *,
        image_shape=None,
        data_format=None,
        channels=(8, 8),
        kernel_size=3,
        latent_dim=32,
        activation="relu",
        max_epochs="auto",
        batch_size="auto",
        lr="auto",
        lr_schedule="onecycle",
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
        score_smoothing=1,
        score_top_fraction=1.0,
        memory=None,
        device="auto",
        mixed_precision=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
        callbacks=None,
    ):
        self.image_shape = image_shape
        self.data_format = data_format
        self.channels = channels
        self.kernel_size = kernel_size
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
        self.score_smoothing = score_smoothing
        self.score_top_fraction = score_top_fraction
        self.memory = memory
        self.device = device
        self.mixed_precision = mixed_precision
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
