"""ConvAutoencoder: the convolutional autoencoder as a scikit-learn transformer."""

from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context

from ._base import BaseConvAutoencoder


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
    image_shape : tuple of int, default=None
        ``(H, W)`` or ``(C, H, W)`` of one image when X is 2-D
        ``(n_samples, C*H*W)``. With None, a 2-D X is read as one-channel
        signals of length n_features, and 3-D ``(n, H, W)`` or 4-D
        ``(n, C, H, W)`` arrays carry their own shape.
    channels : tuple of int, default=(8, 16)
        Output channels of each encoder block (convolution, activation, 2x2
        max pooling); the decoder mirrors them.
    kernel_size : int, default=3
        Odd side of the square convolution kernels.
    latent_dim : int, default=16
        Size of the code: the number of output features of :meth:`transform`.
    activation : {"relu", "leaky_relu", "elu", "gelu", "tanh", "sigmoid"}, \
default="relu"
        Non-linearity after each hidden layer.
    max_epochs : int, default=20
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
        each epoch (``history_["valid_loss"]``). None trains on all of X.
    n_iter_no_change : int, default=None
        Stop when the monitored loss has not improved for this many epochs
        and restore the best weights. None trains for ``max_epochs``.
    noise_std : float, default=0.0
        Denoising: standard deviation of the Gaussian noise added to each
        standardised input value during training only; the network learns
        to reconstruct the clean input.
    mask_fraction : float in [0, 1), default=0.0
        Denoising: fraction of input values set to the channel mean during
        training only.
    memory : str, joblib.Memory or None, default=None
        Caches the trained network, keyed by the training data and the
        parameters (``random_state`` as the seed drawn from it), as in
        :class:`~skcae.ConvAutoencoderOutlierDetector`.
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
        The trained network.
    image_shape_ : tuple of int
        ``(C, H, W)`` of the training images.
    history_ : dict of list
        Per-epoch ``"train_loss"`` (and ``"valid_loss"``).
    n_iter_ : int
        Number of epochs run.
    device_ : str
        The device used.
    n_features_in_ : int
        ``C * H * W``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

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
        channels=(8, 16),
        kernel_size=3,
        latent_dim=16,
        activation="relu",
        max_epochs=20,
        batch_size="auto",
        lr=1e-3,
        optimizer="adam",
        weight_decay=0.0,
        validation_fraction=None,
        n_iter_no_change=None,
        noise_std=0.0,
        mask_fraction=0.0,
        memory=None,
        device="auto",
        mixed_precision=False,
        random_state=None,
        verbose=0,
        callbacks=None,
    ):
        self.image_shape = image_shape
        self.channels = channels
        self.kernel_size = kernel_size
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
        self.memory = memory
        self.device = device
        self.mixed_precision = mixed_precision
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    @_fit_context(prefer_skip_nested_validation=True)
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
        self._fit_autoencoder(X)
        return self

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
            The decoded images flattened to ``C * H * W`` values each (use
            :meth:`decode` for ``(n_samples, C, H, W)``). Float32 when X is
            float32, else float64.
        """
        decoded = self.decode(X)
        return decoded.reshape(len(decoded), -1)

    @property
    def _n_features_out(self):
        """Number of output features: the code size of the fitted network."""
        return self.net_.module_.latent_dim

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
