"""ConvAutoencoderOutlierDetector: reconstruction error as an outlier score."""

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import OutlierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch.nn import functional as F

from ._base import BaseConvAutoencoder
from ._training import reconstruction_errors

# contamination="auto" flags this fraction of the training data.
AUTO_CONTAMINATION = 0.01

# The parameters of the outlier contract, beside BaseAutoencoder's.
OUTLIER_CONSTRAINTS = {
    "contamination": [
        StrOptions({"auto"}),
        Interval(Real, 0, 0.5, closed="right"),
    ],
    "threshold": [Interval(Real, 0, None, closed="left"), None],
}


class PooledSquaredError:
    """Per-image score: mean of the largest smoothed per-pixel squared errors.

    The squared error is averaged over channels, box-blurred with a
    ``smoothing`` x ``smoothing`` window (zero padding), and the mean of its
    largest ``top_fraction`` of pixels is returned (float64). With
    ``smoothing=1`` and ``top_fraction=1.0`` this is the plain mean squared
    error. A class rather than a closure so that it pickles.
    """

    def __init__(self, smoothing, top_fraction):
        self.smoothing = smoothing
        self.top_fraction = top_fraction

    def __call__(self, x, recon):
        err = (recon.float() - x).square().mean(1, keepdim=True)
        if self.smoothing > 1:
            k = self.smoothing
            kernel = (1 if err.shape[-2] == 1 else k, k)
            err = F.avg_pool2d(
                err, kernel, stride=1, padding=(kernel[0] // 2, kernel[1] // 2)
            )
        flat = err.flatten(1)
        k_top = max(1, math.ceil(self.top_fraction * flat.shape[1]))
        if k_top < flat.shape[1]:
            flat = torch.topk(flat, k_top, dim=1, sorted=False).values
        return flat.mean(1, dtype=torch.float64)


class ReconstructionOutlierMixin(OutlierMixin):
    """Outlier contract on top of a per-sample reconstruction error (private).

    Subclasses provide ``_fit_autoencoder`` and ``_reconstruction_errors``.
    """

    def _set_offset(self, images):
        if hasattr(self, "validation_scores_"):
            del self.validation_scores_
        scores = None
        if self.threshold is None or self.validation_fraction:
            scores = -self._reconstruction_errors(images)
            if not np.all(np.isfinite(scores)):
                raise FloatingPointError(
                    "The fitted network gives non-finite reconstruction errors on "
                    f"the training data (lr={self.lr}); expected finite errors. "
                    "Try a lower lr or scale the input."
                )
        if self.validation_fraction:
            _, valid = self.net_.train_split.indices(len(scores))
            self.validation_scores_ = scores[valid]
        if self.threshold is not None:
            self.offset_ = -float(self.threshold)
            return
        contamination = (
            AUTO_CONTAMINATION if self.contamination == "auto" else self.contamination
        )
        self.offset_ = float(np.percentile(scores, 100.0 * contamination))

    def set_threshold_from(self, X_normal=None, *, false_positive_rate=0.01):
        """Set ``offset_`` for a target false-positive rate, without retraining.

        ``offset_`` becomes the largest cutoff that flags at most
        ``false_positive_rate`` of the held-out normal samples: their scores
        sorted, it is the ``k``-th lowest with
        ``k = floor(false_positive_rate * n_samples)``, so :meth:`predict`
        flags the ``k`` normal samples that score below it. The network is
        untouched; a later :meth:`fit` sets ``offset_`` again from
        ``contamination`` or ``threshold``.

        Use data the network was not trained on: the training scores are
        optimistic, so a cutoff taken from them (as ``contamination`` does)
        flags more than its rate of new normal data. The rate can only be
        resolved to ``1 / n_samples``; take at least ``1 /
        false_positive_rate`` samples (e.g. 100 or more for 1%).

        Parameters
        ----------
        X_normal : array-like of shape (n_samples, ...), default=None
            Held-out normal samples, in a form :meth:`score_samples`
            accepts. None uses ``validation_scores_``: the scores of the
            rows that ``validation_fraction`` held out of training.
        false_positive_rate : float in (0, 1), default=0.01
            Fraction of normal samples that may be flagged as outliers.

        Returns
        -------
        self : object
            The detector, with ``offset_`` set.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skcae import ConvAutoencoderOutlierDetector
        >>> X, y = load_digits(return_X_y=True)
        >>> normal = X[y == 0]
        >>> det = ConvAutoencoderOutlierDetector(
        ...     image_shape=(8, 8), channels=(4,), latent_dim=2, max_epochs=1,
        ...     device="cpu", random_state=0).fit(normal[:100])
        >>> det = det.set_threshold_from(normal[100:], false_positive_rate=0.05)
        >>> int((det.predict(normal[100:]) == -1).sum())  # floor(0.05 * 78)
        3
        """
        check_is_fitted(self)
        rate = false_positive_rate
        if isinstance(rate, bool) or not isinstance(rate, Real) or not 0 < rate < 1:
            raise ValueError(
                f"Got false_positive_rate={rate!r}, but expected a float in the "
                "open interval (0, 1), e.g. 0.01."
            )
        if X_normal is None:
            if not hasattr(self, "validation_scores_"):
                raise ValueError(
                    "Got X_normal=None, but this detector has no validation "
                    "scores: expected held-out normal samples as X_normal, or "
                    "a detector fitted with validation_fraction set (e.g. 0.2)."
                )
            scores = self.validation_scores_
        else:
            scores = self.score_samples(X_normal)
        k = int(np.floor(rate * len(scores) + 1e-9))
        self.offset_ = float(np.partition(scores, k)[k])
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the autoencoder on X and set the outlier threshold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Training data, assumed to be (mostly) normal.
        y : Ignored
            Not used, present so that labelled data can flow through
            :class:`~sklearn.model_selection.GridSearchCV`.

        Returns
        -------
        self : object
            The fitted detector.
        """
        images = self._fit_autoencoder(X)
        self._set_offset(images)
        return self

    def score_samples(self, X):
        """Minus the mean squared reconstruction error of each sample.

        Higher is more normal, as for :class:`~sklearn.ensemble.IsolationForest`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Samples in the form the detector was fitted on.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``-mean((x - reconstruction(x)) ** 2)`` per sample, in the squared
            units of X.
        """
        images, _ = self._images(X)
        return -self._reconstruction_errors(images)

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Samples in the form the detector was fitted on.

        Returns
        -------
        decision : ndarray of shape (n_samples,)
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """+1 for inliers and -1 for outliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Samples in the form the detector was fitted on.

        Returns
        -------
        labels : ndarray of shape (n_samples,), dtype int
        """
        decision = self.decision_function(X)
        return np.where(decision < 0, -1, 1)


class ConvAutoencoderOutlierDetector(ReconstructionOutlierMixin, BaseConvAutoencoder):
    """Outlier detection with a convolutional autoencoder.

    A small convolutional autoencoder is trained to reconstruct the training
    images; samples it reconstructs badly are outliers. The score of a
    sample is minus its mean squared reconstruction error, so the detector
    follows the contract of :class:`~sklearn.ensemble.IsolationForest`:
    higher :meth:`score_samples` means more normal, :meth:`decision_function`
    is negative for outliers and :meth:`predict` returns +1 / -1.

    Training runs through a :class:`skorch.NeuralNet` built in :meth:`fit`
    and kept as ``net_``.

    Parameters
    ----------
    image_shape : tuple of int, default=None
        ``(H, W)`` or ``(C, H, W)`` of one image when X is 2-D
        ``(n_samples, C*H*W)``, e.g. after a scaler in a Pipeline. With
        None, a 2-D X is read as one-channel signals of length n_features,
        and 3-D ``(n, H, W)`` or 4-D ``(n, C, H, W)`` arrays carry their own
        shape.
    channels : tuple of int, default=(8, 16)
        Output channels of each encoder block (convolution, activation, 2x2
        max pooling); the decoder mirrors them with nearest-neighbour
        upsampling and convolutions.
    kernel_size : int, default=3
        Odd side of the square convolution kernels.
    latent_dim : int, default=16
        Size of the code the encoder compresses each image to.
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
        Stop when the monitored loss (validation loss if
        ``validation_fraction`` is set, else training loss) has not improved
        for this many epochs, and restore the best weights. None trains for
        ``max_epochs``.
    noise_std : float, default=0.0
        Denoising: standard deviation of the Gaussian noise added to each
        standardised input value (per-channel z-scores, so 1.0 is as large
        as the data's own spread) during training only. The network learns
        to reconstruct the clean input; scoring never adds noise.
    mask_fraction : float in [0, 1), default=0.0
        Denoising: fraction of input values set to the channel mean (masked)
        during training only, at random each step.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected fraction of outliers in the training data: ``offset_`` is
        set at this quantile of the training scores, so that fraction of X
        is flagged, as in :class:`~sklearn.ensemble.IsolationForest`.
        "auto" flags 1% (a false-positive rate of about 1% on clean
        training data). Ignored when ``threshold`` is set. To target a
        false-positive rate on held-out normal data instead, call
        :meth:`set_threshold_from` after fit.
    threshold : float, default=None
        Absolute cutoff on the reconstruction error (``-score_samples``): samples
        whose error exceeds it are outliers (``offset_ = -threshold``). When
        set, it takes precedence over ``contamination``.
    score_smoothing : int, default=1
        Odd side of a box filter applied to the per-pixel squared error
        before it is aggregated into the score; 1 does not smooth.
    score_top_fraction : float in (0, 1], default=1.0
        The score is minus the mean of this fraction of the largest
        (smoothed) per-pixel squared errors. With the defaults the score is
        minus the mean squared error, and ``anomaly_map(X)`` averages to
        ``-score_samples(X)``. Smoothing and keeping the top pixels focus the
        score on a localised defect (e.g. ``score_smoothing=5,
        score_top_fraction=0.1``); they change scoring only, so a grid over
        them with ``memory`` set does not retrain.
    memory : str, joblib.Memory or None, default=None
        Caches the trained network, as :class:`~sklearn.pipeline.Pipeline`
        caches its transformers: a str is a cache folder. The key is the
        training data and the parameters that change the network; those
        that do not (``contamination``, ``threshold``, ``memory``) are left
        out, so e.g. a :class:`~sklearn.model_selection.GridSearchCV` over
        ``contamination`` trains once per split. ``random_state`` enters as
        the seed drawn from it, so a network is reused only where training
        again would give the same one: with an int ``random_state``.
    device : str, default="auto"
        Torch device for training and scoring: "cpu", "cuda", "cuda:1" ...
        "auto" uses CUDA when available.
    mixed_precision : bool, default=False
        Train and score under bfloat16 autocast (:func:`torch.autocast`),
        which is faster on GPUs with bf16 tensor cores; the loss and the
        scores are still accumulated in float32/float64. Off by default,
        since on CPUs without bf16 support it is slower.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling and the validation split
        inside ``fit``, without touching torch's or numpy's global generator.
        An int gives bit-identical results on CPU.
    verbose : int, default=0
        0 is silent; 1 shows a progress bar and the per-epoch loss table.
    callbacks : list of skorch callbacks, default=None
        Extra :mod:`skorch.callbacks` added to the network (copied in fit).

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained network.
    offset_ : float
        ``decision_function = score_samples - offset_``.
    validation_scores_ : ndarray of shape (n_validation,)
        :meth:`score_samples` of the training rows held out by
        ``validation_fraction`` (only set when it is), for
        :meth:`set_threshold_from`.
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
        **BaseConvAutoencoder._parameter_constraints,
        **OUTLIER_CONSTRAINTS,
        "score_smoothing": [Interval(Integral, 1, None, closed="left")],
        "score_top_fraction": [Interval(Real, 0, 1, closed="right")],
    }

    def _check_params(self):
        super()._check_params()
        if self.score_smoothing % 2 == 0:
            raise ValueError(
                f"Got score_smoothing={self.score_smoothing}, but expected an odd "
                "int (the side of a centred box filter); 1 means no smoothing."
            )

    def _reconstruction_errors(self, images):
        if self.score_smoothing == 1 and self.score_top_fraction == 1.0:
            return super()._reconstruction_errors(images)
        return reconstruction_errors(
            self.net_.module_, images, self.net_.device,
            fn=PooledSquaredError(self.score_smoothing, self.score_top_fraction),
            mixed_precision=self.net_.mixed_precision,
        )

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
        contamination="auto",
        threshold=None,
        score_smoothing=1,
        score_top_fraction=1.0,
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
        self.contamination = contamination
        self.threshold = threshold
        self.score_smoothing = score_smoothing
        self.score_top_fraction = score_top_fraction
        self.memory = memory
        self.device = device
        self.mixed_precision = mixed_precision
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
