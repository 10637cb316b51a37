"""The base of every skcae estimator: parameters, training and inference.

:class:`BaseAutoencoder` turns the estimator's flat parameters into a
:class:`~skcae._training.TrainingSpec`, trains the network (through
``memory=`` when set) and runs the fitted network over new data with
:func:`~skcae._scoring.batched_inference`. Subclasses choose the network
(``_module_class``, ``_module_kwargs``) and whether X holds images.

``ESTIMATORS`` is the registry of the public estimator classes, which
:mod:`skcae._persistence` uses to find a saved file's class by name.
"""

import copy
import warnings
from dataclasses import replace
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted, check_memory
from skorch.callbacks import Callback

from ._data import Standardizer
from ._network import ACTIVATIONS
from ._scoring import batched_inference, squared_errors
from ._sklearn_compat import (
    HasMethods,
    Interval,
    StrOptions,
    describe_constraints,
    takes_bool_as_number,
    validate_constraints,
)
from ._threads import torch_threads
from ._training import (
    OPTIMIZERS,
    TrainingSpec,
    auto_batch_size,
    resolve_device,
    train_network,
)
from ._validation import validate_input

#: The public estimator classes by name (filled by :func:`register`).
ESTIMATORS = {}


def register(cls):
    """Class decorator: add a public estimator to :data:`ESTIMATORS`."""
    ESTIMATORS[cls.__name__] = cls
    return cls


# latent_dim may exceed the number of input values (tiny inputs) up to this.
MAX_WIDE_LATENT = 1024


class BaseAutoencoder(BaseEstimator):
    """Parameters, training and inference shared by every skcae estimator.

    Not public. A subclass sets ``_module_class`` and ``_takes_images`` and
    may extend ``_module_kwargs`` and ``_check_params``.
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
        "optimizer": [StrOptions(set(OPTIMIZERS)), HasMethods(["step", "zero_grad"])],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "noise_std": [Interval(Real, 0, None, closed="left")],
        "mask_fraction": [Interval(Real, 0, 1, closed="left")],
        "memory": [None, str, HasMethods(["cache"])],
        "device": [str],
        "mixed_precision": ["boolean"],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [list, None],
    }

    _module_class = None
    _takes_images = True

    # -- parameters ------------------------------------------------------------
    def _check_params(self):
        """Checks beyond ``_parameter_constraints`` (run at the start of fit)."""
        if isinstance(self.optimizer, type) and not issubclass(
            self.optimizer, torch.optim.Optimizer
        ):
            raise ValueError(
                f"Got optimizer={self.optimizer!r}, but expected one of "
                f"{sorted(OPTIMIZERS)} or a torch.optim.Optimizer subclass."
            )
        if not isinstance(self.optimizer, (str, type)):
            raise ValueError(
                f"Got optimizer={self.optimizer!r}, but expected one of "
                f"{sorted(OPTIMIZERS)} or a torch.optim.Optimizer class (not "
                "an instance)."
            )
        for name, constraints in self._parameter_constraints.items():
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)) and takes_bool_as_number(
                constraints, value
            ):
                raise ValueError(
                    f"Got {name}={value!r}, a boolean, but expected "
                    f"{describe_constraints(constraints)}."
                )
        if self.n_jobs == 0:
            raise ValueError(
                "Got n_jobs=0, but expected None (the idle CPUs), a positive "
                "number of threads, or -1 for every CPU."
            )
        for cb in self.callbacks or ():
            if not isinstance(cb, Callback) and not (
                isinstance(cb, tuple) and len(cb) == 2 and isinstance(cb[1], Callback)
            ):
                raise ValueError(
                    f"Got {cb!r} in callbacks, but expected skorch Callback "
                    "instances or (name, Callback) tuples."
                )

    def _module_kwargs(self):
        """Keyword arguments of ``_module_class`` (after the input is validated)."""
        return {
            "latent_dim": self.latent_dim,
            "activation": self.activation,
            "noise_std": self.noise_std,
            "mask_fraction": self.mask_fraction,
        }

    # -- input -----------------------------------------------------------------
    def _validate(self, X, *, reset):
        """Validate X (sets the input attributes when ``reset``)."""
        if not reset:
            check_is_fitted(self)
        return validate_input(self, X, reset=reset, images=self._takes_images)

    def _standardizer(self):
        return Standardizer(self.center_, self.scale_, *self.data_range_)

    # -- training --------------------------------------------------------------
    def _training_spec(self, n_train, seed, validation_fraction=None):
        """The :class:`TrainingSpec` of this estimator's parameters.

        ``validation_fraction`` overrides the parameter of that name (the
        detectors hold out a calibration split of their own).
        """
        if validation_fraction is None:
            validation_fraction = self.validation_fraction
        batch_size = self.batch_size
        if batch_size == "auto":
            batch_size = auto_batch_size(n_train)
        callbacks = tuple(copy.deepcopy(list(self.callbacks or [])))
        return TrainingSpec(
            module_class=self._module_class,
            module_kwargs=tuple(sorted(self._module_kwargs().items())),
            optimizer=self.optimizer,
            lr=float(self.lr),
            weight_decay=float(self.weight_decay),
            max_epochs=int(self.max_epochs),
            batch_size=int(batch_size),
            validation_fraction=validation_fraction,
            n_iter_no_change=self.n_iter_no_change,
            device=self.device_,
            mixed_precision=bool(self.mixed_precision),
            callbacks=callbacks,
            seed=seed,
        )

    def _train(self, data, seed=None, validation_fraction=None):
        """Train the network on ``data``; set ``net_`` and what goes with it.

        Sets the standardisation (``center_``, ``scale_``, ``data_range_``),
        ``device_``, ``net_``, ``history_`` and ``n_iter_``, and returns the
        :class:`TrainingSpec` it trained with.
        """
        n_values = int(np.prod(data.rows.shape[1:]))
        if self.latent_dim > max(n_values, MAX_WIDE_LATENT):
            raise ValueError(
                f"Got latent_dim={self.latent_dim} for samples of {n_values} "
                f"values: a code wider than its input (and than "
                f"{MAX_WIDE_LATENT}) can copy the input instead of compressing "
                "it, and the latent score's whitening costs latent_dim**3 "
                f"(minutes at 10000). Expected latent_dim <= "
                f"{max(n_values, MAX_WIDE_LATENT)}."
            )
        self.device_ = resolve_device(self.device)
        standardizer = Standardizer.fit(data.rows)
        self.center_, self.scale_ = standardizer.center, standardizer.scale
        self.data_range_ = np.stack([standardizer.data_min, standardizer.data_max])
        if seed is None:
            seed = int(
                check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            )
        spec = self._training_spec(len(data), seed, validation_fraction)
        net = self._train_network(spec, data.rows)
        history = net.history
        self.net_ = net
        self.n_iter_ = len(history)
        self.history_ = {"train_loss": history[:, "train_loss"]}
        if spec.validation_fraction:
            self.history_["valid_loss"] = history[:, "valid_loss"]
        return spec

    def _train_network(self, spec, rows, indices=None, verbose=None):
        """A network trained by ``spec`` on ``rows`` (the ``indices`` subset).

        With ``memory`` it comes from the cache when one was trained on the
        same rows with the same spec; the standardisation is the fitted one.
        """
        train = train_network
        if self.memory is not None:
            train = check_memory(self.memory).cache(
                train_network, ignore=["verbose", "n_jobs"]
            )
        return train(
            spec,
            rows,
            self._standardizer(),
            indices,
            verbose=self.verbose if verbose is None else verbose,
            n_jobs=self.n_jobs,
        )

    def _clear_fitted(self):
        """Remove every fitted attribute (after a failed fit)."""
        for name in [
            k for k in vars(self) if k.endswith("_") and not k.startswith("_")
        ]:
            delattr(self, name)

    # -- inference -------------------------------------------------------------
    def _infer(self, rows, fn, *, standardize=True, check_range=False):
        """``fn(module, z)`` over ``rows`` with the fitted network (chunked).

        ``net_.device``, not ``device_``: skorch maps a CUDA net unpickled on
        a CPU-only machine to the CPU.
        """
        with torch_threads(self.n_jobs):
            return batched_inference(
                self.net_.module_,
                rows,
                self._standardizer() if standardize else None,
                self.net_.device,
                fn,
                mixed_precision=self.net_.mixed_precision,
                check_range=check_range,
            )

    def _weights(self, ndim, device):
        """Squared scales as a float64 tensor: standardised -> data units."""
        weights = self._standardizer().squared_scale(ndim)
        return torch.as_tensor(weights, dtype=torch.float64, device=device)

    def _out_dtype(self, X):
        """float32 when X is float32, else float64 (as scikit-learn does)."""
        return np.float32 if getattr(X, "dtype", None) == np.float32 else np.float64

    def _to_input_form(self, values, data):
        """``(n, C, H, W)`` outputs back in the form X was given in (flat rows
        of channels-last images hold (H, W, C) values each)."""
        if (
            getattr(self, "data_format", None) == "channels_last"
            and values.ndim == 4
            and values.shape[1] > 1
        ):
            values = values.transpose(0, 2, 3, 1)
        return values.reshape(data.input_shape)

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
        data = self._validate(X, reset=False)
        codes = _network_output(self._infer(data.rows, _encode), "codes")
        return codes.astype(self._out_dtype(X), copy=False)

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
        if np.abs(Z).max() > np.finfo(np.float32).max:
            raise ValueError(
                f"Got codes up to {np.abs(Z).max():.3g} in Z, beyond float32's "
                "range, which the network computes in; expected codes like "
                "those of encode (of order one)."
            )
        z = self._infer(Z, _decode, standardize=False)
        z = _network_output(
            z,
            "decoded images",
            cause="codes far larger than those of encode, or NaN weights",
            expected="codes like those of encode (of order one)",
        )
        decoded = self._standardizer().inverse(z)
        return decoded.astype(self._out_dtype(Z), copy=False)

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
        data = self._validate(X, reset=False)
        z = _network_output(self._infer(data.rows, _reconstruct), "reconstructions")
        recon = self._standardizer().inverse(z)
        return self._to_input_form(recon, data).astype(self._out_dtype(X), copy=False)

    def anomaly_map(self, X):
        """Squared reconstruction error of every pixel (or feature).

        Its mean over everything but the first axis is the mean squared
        error of each sample, which is ``-score_samples(X)`` for the
        detectors with ``score_type="reconstruction"`` and the default
        ``score_smoothing=1`` and ``score_top_fraction=1``. Squared errors
        beyond the output dtype's range (data near 1e19 in float32, 1e154
        in float64) are inf, with a RuntimeWarning that names the samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Samples in a form the estimator accepts.

        Returns
        -------
        errors : ndarray
            ``(x - reconstruct(x)) ** 2`` value by value, in the squared
            units of X. For the convolutional estimators: shape
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
        ...     score_type="reconstruction", device="cpu", random_state=0).fit(X)
        >>> maps = det.anomaly_map(X)
        >>> maps.shape
        (100, 8, 8)
        >>> bool(np.allclose(maps.mean(axis=(1, 2)), -det.score_samples(X)))
        True
        """
        data = self._validate(X, reset=False)
        weights = self._weights(len(data.rows.shape), self.net_.device)

        def error(module, z):
            return squared_errors(z, module(z), weights)

        # squares of finite errors may overflow to inf for data at 1e160;
        # only NaN means the network itself failed
        maps = _network_output(self._infer(data.rows, error), "anomaly maps", nan=True)
        if maps.ndim == 4 and maps.shape[1] == 1:
            maps = maps[:, 0]
        dtype = self._out_dtype(X)
        with np.errstate(over="ignore"):
            maps = maps.astype(dtype, copy=False)
        overflow = np.flatnonzero(np.isinf(maps).reshape(len(maps), -1).any(axis=1))
        if overflow.size:
            warnings.warn(
                f"The squared errors of {overflow.size} sample(s) (positions "
                f"{overflow[:10].tolist()}) exceed {np.dtype(dtype).name}'s range "
                f"({np.finfo(dtype).max:.3g}) and are inf in the anomaly map: X's "
                "values are too large to square. Rescale X (e.g. divide it by a "
                "constant) for finite maps; score_samples stays finite.",
                RuntimeWarning,
                stacklevel=2,
            )
        return maps


def _network_output(
    values,
    what,
    *,
    nan=False,
    cause="NaN weights, from a diverged fit or a corrupted file",
    expected="finite outputs; refit with a lower lr",
):
    """``values``, or a FloatingPointError when the network gave NaN (or inf)."""
    bad = np.isnan(values) if nan else ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(len(values), -1).any(axis=1))
        raise FloatingPointError(
            f"The network's {what} are not finite for {rows.size} sample(s) "
            f"(positions {rows[:10].tolist()}); likely cause: {cause}. "
            f"Expected {expected}."
        )
    return values


def _encode(module, z):
    return module.encode(z)


def _decode(module, code):
    return module.decode(code)


def _reconstruct(module, z):
    return module(z)


# -- what other modules of skcae use (public within the package) -----------------
def validate_parameters(estimator):
    """Validate an estimator's parameters as ``fit`` does (ValueError if bad)."""
    validate_constraints(estimator)
    estimator._check_params()


def fitted_attribute_names(estimator):
    """The documented fitted attributes of ``estimator``'s class, but ``net_``.

    The list :mod:`skcae._persistence` saves and restores, and nothing else.
    """
    names = ["center_", "scale_", "data_range_", "device_", "history_", "n_iter_"]
    names += ["n_features_in_", "feature_names_in_"]
    if estimator._takes_images:
        names += ["image_shape_", "input_shape_"]
    if hasattr(type(estimator), "score_samples"):
        names += ["offset_", "validation_scores_"]
    return names


def standardizer_of(estimator):
    """The fitted float64 standardisation of an estimator's input."""
    return estimator._standardizer()


def module_spec(estimator):
    """``(module class, keyword arguments)`` of a fitted estimator's network."""
    return estimator._module_class, estimator._module_kwargs()


def restore_network(estimator, state_dict, history=None):
    """Give a fitted estimator (without ``net_``) its network from saved weights.

    ``state_dict`` must hold tensors of the shapes the estimator's
    parameters give (checked by the caller against the meta-device module).
    """
    from skorch.history import History

    from ._training import build_net

    spec = estimator._training_spec(2, 0)
    net = build_net(replace(spec, callbacks=()), verbose=0)
    net.initialize()
    net.module_.load_state_dict(state_dict)
    net.module_.eval()
    if history is not None:
        net.history_ = History(history)
    estimator.net_ = net
    return net


def reconstruction_views(estimator, X):
    """Inputs, reconstructions and per-value squared errors of X, as images.

    One validation and one pass through the network, for the plots.

    Returns
    -------
    images, reconstructions, errors : ndarray of shape (n_samples, C, H, W)
        In data units (``errors`` in squared units); tabular rows come as
        ``(n_samples, 1, 1, n_features)``.
    """
    data = estimator._validate(X, reset=False)
    rows = data.rows
    weights = estimator._weights(len(rows.shape), estimator.net_.device)

    def views(module, z):
        recon = module(z)
        return z, recon.float(), squared_errors(z, recon, weights)

    z, recon, errors = estimator._infer(rows, views)
    standardizer = estimator._standardizer()
    images = standardizer.inverse(z)
    recon = standardizer.inverse(recon)
    if images.ndim == 2:
        shape = (len(images), 1, 1, images.shape[1])
        images, recon, errors = (a.reshape(shape) for a in (images, recon, errors))
    return images, recon, errors
