"""The parameters, training and reconstruction shared by skcae's estimators."""

import copy
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping, ProgressBar

from ._data import check_images
from ._network import ACTIVATIONS, ConvAutoencoderModule
from ._training import (
    INFERENCE_CHUNK,
    BatchIterator,
    DivergenceGuard,
    ImageDataset,
    ValidationSplit,
    reconstruction_errors,
    resolve_device,
)

OPTIMIZERS = {
    "adam": (torch.optim.Adam, {}),
    "adamw": (torch.optim.AdamW, {}),
    "sgd": (torch.optim.SGD, {"momentum": 0.9}),
    "rmsprop": (torch.optim.RMSprop, {}),
}


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


class BaseAutoencoder(BaseEstimator):
    """Parameters and training shared by every skcae estimator (not public)."""

    _parameter_constraints: dict = {
        "image_shape": [tuple, list, None],
        "channels": [tuple, list],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(set(OPTIMIZERS)), type],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [list, None],
    }

    # -- hooks for subclasses ------------------------------------------------
    def _make_module_kwargs(self):
        return {
            "channels": tuple(self.channels),
            "kernel_size": self.kernel_size,
            "latent_dim": self.latent_dim,
            "activation": self.activation,
        }

    _module_class = ConvAutoencoderModule

    # -- training ------------------------------------------------------------
    def _check_params(self):
        channels = tuple(self.channels)
        if not channels or not all(
            isinstance(c, Integral) and not isinstance(c, bool) and c >= 1
            for c in channels
        ):
            raise ValueError(
                f"Got channels={self.channels!r}, but expected a non-empty "
                "tuple of positive ints, e.g. (16, 32)."
            )
        if self.kernel_size % 2 == 0:
            raise ValueError(
                f"Got kernel_size={self.kernel_size}, but expected an odd int "
                "so that convolutions keep the image size."
            )
        for cb in self.callbacks or ():
            if not isinstance(cb, (Callback, tuple)):
                raise ValueError(
                    f"Got {cb!r} in callbacks, but expected skorch Callback "
                    "instances or (name, Callback) tuples."
                )

    def _build_net(self, seed):
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
                        sink=print if self.verbose else (lambda *a: None),
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
        return NeuralNet(
            module=self._module_class,
            module__input_shape=self.image_shape_,
            **{f"module__{k}": v for k, v in self._make_module_kwargs().items()},
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

    def _fit_autoencoder(self, X):
        """Validate X, build ``net_`` and train it to reconstruct X."""
        self._check_params()
        images, _ = check_images(self, X, reset=True)
        self.device_ = resolve_device(self.device)
        seed = int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )
        mean, std = _channel_stats(images)
        on_cuda = self.device_.startswith("cuda")
        fork_devices = [torch.device(self.device_).index or 0] if on_cuda else []
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(seed)
            self.net_ = self._build_net(seed)
            self.net_.initialize()
            module = self.net_.module_
            module.shift.copy_(
                torch.as_tensor(mean, dtype=torch.float32).view_as(module.shift)
            )
            module.scale.copy_(
                torch.as_tensor(std, dtype=torch.float32).view_as(module.scale)
            )
            self.net_.partial_fit(ImageDataset(images), None)
        history = self.net_.history
        self.n_iter_ = len(history)
        self.history_ = {"train_loss": history[:, "train_loss"]}
        if self.validation_fraction:
            self.history_["valid_loss"] = history[:, "valid_loss"]
        return images

    # -- inference -----------------------------------------------------------
    def _images(self, X):
        check_is_fitted(self)
        return check_images(self, X, reset=False)

    def _reconstruction_errors(self, images):
        return reconstruction_errors(self.net_.module_, images, self.device_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags
