"""ConvAutoencoder: the convolutional autoencoder as a scikit-learn transformer."""

from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin

from . import _docstrings as docs
from ._base import register
from ._conv import BaseConvAutoencoder
from ._sklearn_compat import fit_context


@register
@docs.Substitution(
    image_input=docs.IMAGE_INPUT,
    training=docs.TRAINING % docs.CONV_TRAINING,
    running=docs.RUNNING,
    common_attributes=docs.COMMON_ATTRIBUTES,
    image_attributes=docs.IMAGE_ATTRIBUTES,
)
class ConvAutoencoder(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseConvAutoencoder
):
    """Convolutional autoencoder as a transformer: images to codes and back.

    The network of :class:`~skcae.ConvAutoencoderOutlierDetector`, trained
    the same way, used for compression instead of scoring:
    :meth:`transform` encodes each image to ``latent_dim`` numbers and
    :meth:`inverse_transform` decodes codes back to flat rows
    ``(n_samples, n_features)``, as :class:`~sklearn.decomposition.PCA`
    does, so it works as a step of a :class:`~sklearn.pipeline.Pipeline`.

    Parameters
    ----------
    %(image_input)s
    latent_dim : int, default=16
        Size of the code: the number of output features of :meth:`transform`.
        The detector's default is 32, the width that scored best; a
        narrower code compresses more.
    activation : {"relu", "leaky_relu", "elu", "gelu", "tanh", "sigmoid"}, \
default="relu"
        Non-linearity after each hidden layer.
    %(training)s
    %(running)s

    Attributes
    ----------
    %(common_attributes)s
    %(image_attributes)s

    See Also
    --------
    sklearn.decomposition.PCA : The linear transformer to compare with.
    ConvAutoencoderOutlierDetector : The same network as an outlier detector.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skcae import ConvAutoencoder
    >>> X = load_digits().data[:200]
    >>> ae = ConvAutoencoder(image_shape=(8, 8), channels=(4,), latent_dim=5,
    ...                      max_epochs=2, device="cpu", random_state=0)
    >>> codes = ae.fit_transform(X)
    >>> codes.shape
    (200, 5)
    >>> ae.inverse_transform(codes).shape
    (200, 64)
    >>> ae.get_feature_names_out()[:2].tolist()
    ['convautoencoder0', 'convautoencoder1']
    """

    def __init__(
        self,
        *,
        image_shape=None,
        data_format=None,
        channels=(8, 8),
        kernel_size=3,
        latent_dim=16,
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
        self.memory = memory
        self.device = device
        self.mixed_precision = mixed_precision
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the autoencoder to reconstruct X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Training images.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        return self._fit(self._fit_state, X)

    def transform(self, X):
        """Encode X: the code of each image, as :meth:`encode`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Images in a form the transformer was fitted on.

        Returns
        -------
        codes : ndarray of shape (n_samples, latent_dim)
            Float32 when X is float32, else float64.
        """
        return self.encode(X)

    def inverse_transform(self, X):
        """Decode codes back to flat images ``(n_samples, n_features)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, latent_dim)
            Codes, e.g. from :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            The decoded images flattened in the order of the fitted data's
            features: ``C * H * W`` values each, ``H * W * C`` with
            ``data_format="channels_last"`` (use :meth:`decode` for
            ``(n_samples, C, H, W)``). Float32 when X is float32, else
            float64.
        """
        decoded = self.decode(X)
        if self._data_format() == "channels_last":
            decoded = decoded.transpose(0, 2, 3, 1)
        return decoded.reshape(len(decoded), -1)

    @property
    def _n_features_out(self):
        """Number of output features: the code size of the fitted network."""
        return self._fitted()["model_"].config.latent_dim

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
