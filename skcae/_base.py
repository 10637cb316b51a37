"""The parameters, training and inference shared by skcae's estimators."""

import copy
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, check_memory
from skorch.callbacks import Callback, EarlyStopping, ProgressBar

from ._data import check_images
from ._network import ACTIVATIONS, ConvAutoencoderModule
from ._training import (
    INFERENCE_CHUNK,
    AutoencoderNet,
    BatchIterator,
    DivergenceGuard,
    ImageDataset,
    ValidationSplit,
    batched_inference,
    reconstruction_errors,
    resolve_device,
)

OPTIMIZERS = {
    "adam": (torch.optim.Adam, {}),
    "adamw": (torch.optim.AdamW, {}),
    "sgd": (torch.optim.SGD, {"momentum": 0.9}),
    "rmsprop": (torch.optim.RMSprop, {}),
}

# Parameters that do not change the trained network, left out of ``memory``'s
# cache key (``random_state`` is replaced there by the seed drawn from it).
_NOT_TRAINING_PARAMS = (
    "contamination",
    "threshold",
    "score_smoothing",
    "score_top_fraction",
    "memory",
    "random_state",
)


def _channel_stats(images):
    """Per-channel mean and standard deviation (1 where the data are constant)."""
    n, n_channels = images.shape[:2]
    mean = np.zeros(n_channels)
    sq = np.zeros(n_channels)
    # blocks of at most INFERENCE_CHUNK rows and ~32 MB: out-of-core data stream
    step = max(1, min(INFERENCE_CHUNK, 2**22 // int(np.prod(images.shape[1:]))))
    for start in range(0, n, step):
        chunk = np.asarray(images[start : start + step], dtype=np.float64)
        mean += chunk.sum(axis=(0, 2, 3))
        sq += np.square(chunk).sum(axis=(0, 2, 3))
    count = n * images.shape[2] * images.shape[3]
    mean /= count
    std = np.sqrt(np.maximum(sq / count - mean**2, 0.0))
    std[~(std > 1e-12 * np.maximum(1.0, np.abs(mean)))] = 1.0
    return mean, std


def _silent(*args, **kwargs):
    """EarlyStopping's sink at verbose=0 (module-level, so the net pickles)."""


def _train_network(estimator, data, seed, module_kwargs):
    """Train a new network of ``estimator`` on ``data`` and return it.

    Module-level so that :class:`joblib.Memory` can cache it: ``estimator``
    is a parameter-only copy without the parameters that do not change the
    network (``_NOT_TRAINING_PARAMS``), so the arguments are the cache key.
    """
    return estimator._train_network(data, seed, module_kwargs)


def _encode(module, x):
    return module.encode(x)


def _decode(module, code):
    return module.decode(code)


def _reconstruct(module, x):
    return module(x)


def _squared_error(module, x):
    return (module(x) - x).square()


class BaseAutoencoder(BaseEstimator):
    """Parameters, training and inference shared by every skcae estimator.

    Not public. A subclass chooses its network and input form through the
    hooks ``_module_class``, ``_module_kwargs``, ``_check_input``,
    ``_input_stats`` (the standardisation statistics loaded into the
    module's ``shift`` and ``scale`` buffers) and ``_anomaly_map_form``.
    """

    _parameter_constraints: dict = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(set(OPTIMIZERS)), type],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "noise_std": [Interval(Real, 0, None, closed="left")],
        "mask_fraction": [Interval(Real, 0, 1, closed="left")],
        "memory": [None, str, HasMethods(["cache"])],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "mixed_precision": ["boolean"],
        "callbacks": [list, None],
    }

    # -- hooks for subclasses ------------------------------------------------
    _module_class = None

    def _check_input(self, X, *, reset):
        """Validate X; return ``(data in the module's form, X's shape)``."""
        raise NotImplementedError

    def _input_stats(self, data):
        """``(shift, scale)`` arrays for the module's standardisation buffers."""
        raise NotImplementedError

    def _module_kwargs(self):
        """Keyword arguments of ``_module_class`` (called after _check_input)."""
        return {
            "latent_dim": self.latent_dim,
            "activation": self.activation,
            "noise_std": self.noise_std,
            "mask_fraction": self.mask_fraction,
        }

    def _anomaly_map_form(self, maps):
        """Reshape per-value squared errors for :meth:`anomaly_map`."""
        return maps

    # -- training ------------------------------------------------------------
    def _check_params(self):
        for cb in self.callbacks or ():
            if not isinstance(cb, (Callback, tuple)):
                raise ValueError(
                    f"Got {cb!r} in callbacks, but expected skorch Callback "
                    "instances or (name, Callback) tuples."
                )

    def _build_net(self, seed, module_kwargs):
        optimizer, optimizer_kwargs = (
            OPTIMIZERS[self.optimizer]
            if isinstance(self.optimizer, str)
            else (self.optimizer, {})
        )
        callbacks = [("divergence_guard", DivergenceGuard(lr=self.lr))]
        if self.n_iter_no_change is not None:
            monitor = "valid_loss" if self.validation_fraction else "train_loss"
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(
                        monitor=monitor,
                        patience=self.n_iter_no_change,
                        load_best=True,
                        sink=print if self.verbose else _silent,
                    ),
                )
            )
        if self.verbose:
            callbacks.append(("progress_bar", ProgressBar()))
        callbacks += copy.deepcopy(list(self.callbacks or []))
        train_split = (
            ValidationSplit(self.validation_fraction, seed)
            if self.validation_fraction
            else None
        )
        extra = {f"optimizer__{k}": v for k, v in optimizer_kwargs.items()}
        on_cuda = str(self.device_).startswith("cuda")
        return AutoencoderNet(
            module=self._module_class,
            mixed_precision=self.mixed_precision,
            **{f"module__{k}": v for k, v in module_kwargs.items()},
            criterion=torch.nn.MSELoss,
            optimizer=optimizer,
            optimizer__weight_decay=self.weight_decay,
            **extra,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train=BatchIterator,
            iterator_train__shuffle=True,
            iterator_train__pin_memory=on_cuda,
            iterator_valid=BatchIterator,
            iterator_valid__pin_memory=on_cuda,
            dataset=ImageDataset,
            train_split=train_split,
            callbacks=callbacks,
            device=self.device_,
            verbose=int(self.verbose),
        )

    def _training_copy(self):
        """A parameter-only copy of self without ``_NOT_TRAINING_PARAMS``."""
        params = self.get_params(deep=False)  # not clone(): callbacks may not clone
        params.update({name: None for name in _NOT_TRAINING_PARAMS if name in params})
        estimator = type(self)(**params)
        estimator.device_ = self.device_
        return estimator

    def _train_network(self, data, seed, module_kwargs):
        """Build a network and train it to reconstruct ``data``; return it."""
        shift, scale = self._input_stats(data)
        on_cuda = self.device_.startswith("cuda")
        fork_devices = [torch.device(self.device_).index or 0] if on_cuda else []
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(seed)
            net = self._build_net(seed, module_kwargs)
            net.initialize()
            module = net.module_
            module.shift.copy_(
                torch.as_tensor(shift, dtype=torch.float32).view_as(module.shift)
            )
            module.scale.copy_(
                torch.as_tensor(scale, dtype=torch.float32).view_as(module.scale)
            )
            net.partial_fit(ImageDataset(data), None)
        return net

    def _fit_autoencoder(self, X):
        """Validate X and set ``net_``: trained on X, or from ``memory``'s cache.

        The cache key is X and the parameters that change the network, with
        ``random_state`` as the seed drawn from it: a network is reused only
        where training again would give the same one.
        """
        self._check_params()
        data, _ = self._check_input(X, reset=True)
        self.device_ = resolve_device(self.device)
        seed = int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )
        train = _train_network
        if self.memory is not None:
            train = check_memory(self.memory).cache(_train_network)
        self.net_ = train(self._training_copy(), data, seed, self._module_kwargs())
        history = self.net_.history
        self.n_iter_ = len(history)
        self.history_ = {"train_loss": history[:, "train_loss"]}
        if self.validation_fraction:
            self.history_["valid_loss"] = history[:, "valid_loss"]
        return data

    # -- inference -----------------------------------------------------------
    def _images(self, X):
        check_is_fitted(self)
        return self._check_input(X, reset=False)

    def _reconstruction_errors(self, images):
        return reconstruction_errors(
            self.net_.module_, images, self.net_.device,
            mixed_precision=self.net_.mixed_precision,
        )

    def _infer(self, fn, data):
        """``fn(module, batch)`` over data, in data's float dtype."""
        # net_.device, not device_: skorch maps a CUDA net unpickled on a
        # CPU-only machine to the CPU.
        out = batched_inference(
            self.net_.module_, data, self.net_.device, fn,
            mixed_precision=self.net_.mixed_precision,
        )
        return out.astype(data.dtype, copy=False)

    def encode(self, X):
        """Compress each sample to its code, the output of the encoder.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Samples in a form the estimator accepts (tabular estimators take
            2-D X only).

        Returns
        -------
        codes : ndarray of shape (n_samples, latent_dim)
            Float32 when X is float32, else float64.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skcae import ConvAutoencoderOutlierDetector
        >>> X = load_digits().data[:100]
        >>> det = ConvAutoencoderOutlierDetector(
        ...     image_shape=(8, 8), channels=(4,), latent_dim=3, max_epochs=1,
        ...     device="cpu", random_state=0).fit(X)
        >>> codes = det.encode(X)
        >>> codes.shape, codes.dtype.name
        ((100, 3), 'float64')
        """
        data, _ = self._images(X)
        return self._infer(_encode, data)

    def decode(self, Z):
        """Map codes back to samples with the decoder.

        Parameters
        ----------
        Z : array-like of shape (n_samples, latent_dim)
            Codes, e.g. from :meth:`encode`.

        Returns
        -------
        decoded : ndarray
            Images of shape ``(n_samples, C, H, W)`` (``C, H, W`` from
            ``image_shape_``, whatever form the estimator was fitted on) for
            the convolutional estimators; rows of shape
            ``(n_samples, n_features)`` for
            :class:`~skcae.AutoencoderOutlierDetector`. Float32 when Z is
            float32, else float64, in the units of the training data.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skcae import ConvAutoencoderOutlierDetector
        >>> X = load_digits().data[:100]
        >>> det = ConvAutoencoderOutlierDetector(
        ...     image_shape=(8, 8), channels=(4,), latent_dim=3, max_epochs=1,
        ...     device="cpu", random_state=0).fit(X)
        >>> det.decode(det.encode(X[:5])).shape
        (5, 1, 8, 8)
        """
        check_is_fitted(self)
        Z = check_array(Z, dtype=[np.float64, np.float32], input_name="Z")
        latent_dim = self.net_.module_.latent_dim
        if Z.shape[1] != latent_dim:
            raise ValueError(
                f"Got Z with {Z.shape[1]} columns (Z.shape={Z.shape}), but "
                f"expected codes of shape (n_samples, {latent_dim}): this "
                f"estimator was fitted with latent_dim={latent_dim}."
            )
        return self._infer(_decode, Z)

    def reconstruct(self, X):
        """Encode and decode X: the autoencoder's reconstruction of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Samples in a form the estimator accepts.

        Returns
        -------
        X_reconstructed : ndarray of the shape of X
            In the form X was given: 2-D stays 2-D, ``(n, H, W)`` stays
            ``(n, H, W)`` and ``(n, C, H, W)`` stays 4-D. Float32 when X is
            float32, else float64.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skcae import ConvAutoencoderOutlierDetector
        >>> X = load_digits().data[:100]
        >>> det = ConvAutoencoderOutlierDetector(
        ...     image_shape=(8, 8), channels=(4,), latent_dim=3, max_epochs=1,
        ...     device="cpu", random_state=0).fit(X)
        >>> det.reconstruct(X).shape
        (100, 64)
        >>> det.reconstruct(X.reshape(-1, 8, 8)).shape
        (100, 8, 8)
        """
        data, input_shape = self._images(X)
        return self._infer(_reconstruct, data).reshape(input_shape)

    def anomaly_map(self, X):
        """Squared reconstruction error of every pixel (or feature).

        Its mean over everything but the first axis is the mean squared error
        of each sample, i.e. ``-score_samples(X)`` for the detectors.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Samples in a form the estimator accepts.

        Returns
        -------
        errors : ndarray
            ``(x - reconstruct(x)) ** 2`` value by value, whatever form X was
            given in. For the convolutional estimators: shape
            ``(n_samples, H, W)`` when the images have one channel
            (``image_shape_[0] == 1``, gray images and 2-D signals), else
            ``(n_samples, C, H, W)``. For
            :class:`~skcae.AutoencoderOutlierDetector`:
            ``(n_samples, n_features)``. Float32 when X is float32, else
            float64.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import load_digits
        >>> from skcae import ConvAutoencoderOutlierDetector
        >>> X = load_digits().data[:100]
        >>> det = ConvAutoencoderOutlierDetector(
        ...     image_shape=(8, 8), channels=(4,), latent_dim=3, max_epochs=1,
        ...     device="cpu", random_state=0).fit(X)
        >>> maps = det.anomaly_map(X)
        >>> maps.shape
        (100, 8, 8)
        >>> bool(np.allclose(maps.mean(axis=(1, 2)), -det.score_samples(X)))
        True
        """
        data, _ = self._images(X)
        return self._anomaly_map_form(self._infer(_squared_error, data))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags


class BaseConvAutoencoder(BaseAutoencoder):
    """The convolutional network and image input of skcae's image estimators.

    Not public: :class:`~skcae.ConvAutoencoderOutlierDetector` and
    :class:`~skcae.ConvAutoencoder` build on it.
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "image_shape": [tuple, list, None],
        "channels": [tuple, list],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
    }

    _module_class = ConvAutoencoderModule

    def _check_params(self):
        channels = tuple(self.channels)
        if not channels or not all(
            isinstance(c, Integral) and not isinstance(c, bool) and c >= 1
            for c in channels
        ):
            raise ValueError(
                f"Got channels={self.channels!r}, but expected a non-empty "
                "tuple of positive ints, e.g. (8, 16)."
            )
        if self.kernel_size % 2 == 0:
            raise ValueError(
                f"Got kernel_size={self.kernel_size}, but expected an odd int "
                "so that convolutions keep the image size."
            )
        super()._check_params()

    def _check_input(self, X, *, reset):
        return check_images(self, X, reset=reset)

    def _input_stats(self, data):
        return _channel_stats(data)

    def _module_kwargs(self):
        return {
            "input_shape": self.image_shape_,
            "channels": tuple(self.channels),
            "kernel_size": self.kernel_size,
            **super()._module_kwargs(),
        }

    def _anomaly_map_form(self, maps):
        return maps[:, 0] if maps.shape[1] == 1 else maps
