"""The base of every skcae estimator: parameters, fitting and inference.

:class:`BaseAutoencoder` turns the estimator's flat parameters into a
:class:`~skcae._training.TrainingSpec`, trains the network (through
``memory=`` when set) and keeps the fitted model, an
:class:`~skcae._scorer.AutoencoderModel` (the detectors': a
:class:`~skcae._scorer.Scorer`), which every inference method runs over new
data with :func:`~skcae._scorer.run_batches`. Subclasses choose the network
(``_module_class``, ``_module_kwargs``) and whether X holds images.

Fitting builds the new fitted state aside and replaces the old one in one
step (:meth:`BaseAutoencoder._commit`); the inference methods read one
snapshot of it (:meth:`BaseAutoencoder._fitted`), so a call that overlaps a
refit in another thread answers with the old model or the new one, never a
mixture. X that fails input validation leaves the estimator as it was; a
fit that fails later leaves it unfitted.

``ESTIMATORS`` is the registry of the public estimator classes, which
:mod:`skcae._persistence` uses to find a saved file's class by name.
"""

import copy
import errno
import inspect
import os
from numbers import Integral, Real

import joblib
import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_memory
from skorch.callbacks import Callback, LRScheduler

from ._data import fit_statistics
from ._inference import InferenceMixin
from ._network import ACTIVATIONS
from ._scorer import AutoencoderModel, ModelConfig, Standardization, run_batches
from ._sklearn_compat import (
    HasMethods,
    Interval,
    StrOptions,
    describe_constraints,
    takes_bool_as_number,
)
from ._terms import sample_values
from ._threads import check_n_jobs, torch_threads
from ._training import (
    OPTIMIZERS,
    SKORCH_CALLBACK_NAMES,
    TrainingSpec,
    auto_batch_size,
    auto_lr,
    auto_max_epochs,
    own_callbacks,
    resolve_device,
    train_network,
)
from ._tuning import MAX_WIDE_LATENT
from ._validation import validate_input

#: The largest lr and weight_decay: torch's optimisers hold them as float32.
FLOAT32_MAX = float(np.finfo(np.float32).max)

#: The public estimator classes by name (filled by :func:`register`).
ESTIMATORS = {}


def register(cls):
    """Class decorator: add a public estimator to :data:`ESTIMATORS`."""
    ESTIMATORS[cls.__name__] = cls
    return cls


def is_fitted_name(name):
    """Whether an attribute name is a fitted attribute's (``name_``)."""
    return name.endswith("_") and not name.startswith("_")


def _takes(cls, name):
    """Whether ``cls(...)`` takes the keyword argument ``name``."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):  # no signature to read: let it try
        return True
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in parameters)


def _callback_of(entry):
    """The callback of a ``callbacks`` entry: a Callback or (name, Callback)."""
    return entry[1] if isinstance(entry, tuple) else entry


def _per_callback(callbacks, fn, problem):
    """``[fn(cb) for cb in callbacks]``; where ``fn`` fails, a ValueError
    of ``problem(name, exc)`` (the callback's class name, the exception)."""
    out = []
    for cb in callbacks:
        try:
            out.append(fn(cb))
        except Exception as exc:
            raise ValueError(problem(type(_callback_of(cb)).__name__, exc)) from exc
    return out


def _check_monitor_order(callbacks):
    """Refuse a callback that monitors a ReconstructionMonitor's key listed
    before the monitor that records it, with no other callback of that
    name before it (callbacks run in list order: skorch's bare
    ``KeyError: "Key 'inlier_cost' was not found in history."`` after an
    epoch). Keys recorded by other means are not second-guessed."""
    recorded = {}  # key -> position of the first monitor recording it
    for i, entry in enumerate(callbacks):
        keys = getattr(_callback_of(entry), "_recorded_keys", None)
        for key in keys() if callable(keys) else ():
            recorded.setdefault(key, i)
    named = [getattr(_callback_of(entry), "name", None) for entry in callbacks]
    for i, entry in enumerate(callbacks):
        cb = _callback_of(entry)
        monitor = getattr(cb, "monitor", None)
        if not isinstance(monitor, str) or recorded.get(monitor, -1) < i:
            continue
        if monitor in named[:i]:  # e.g. an EpochScoring of that name first
            continue
        raise ValueError(
            f"Got callbacks with {type(cb).__name__}, which monitors "
            f"{monitor!r}, before the ReconstructionMonitor that records it: "
            "callbacks run in list order, so the key is not yet in the history "
            "when it looks. Expected the ReconstructionMonitor earlier in "
            "callbacks."
        )


def _copied_callbacks(callbacks):
    """Deep copies of the user's callbacks (fit never changes them)."""
    return _per_callback(
        callbacks,
        copy.deepcopy,
        lambda name, exc: (
            f"Got a {name} callback that cannot be copied "
            f"({type(exc).__name__}: {exc}): fit trains with a copy of each "
            "callback, so that the objects passed in are left as they are. "
            "Expected callbacks that copy.deepcopy can copy (create locks, "
            "files or connections in on_train_begin instead)."
        ),
    )


def _check_picklable_callbacks(callbacks):
    """With ``memory``, the cache keys a trained net by its training
    settings, callbacks included, and stores the net with them: refuse
    callbacks that cannot be pickled (joblib's hashing error quoted the
    whole settings)."""
    _per_callback(
        callbacks,
        joblib.hash,
        lambda name, exc: (
            f"Got memory with a {name} callback that cannot be pickled "
            f"({type(exc).__name__}): the cache keys the trained network by "
            "its settings, callbacks included, and stores it with them. "
            "Expected picklable callbacks (no lambdas, locks or open files), "
            "or memory=None."
        ),
    )


def _cache(memory):
    """``check_memory(memory)``, whose folder (a path) exists or can be
    created, and can be written: else the OSError joblib would raise later
    (NotADirectoryError, FileNotFoundError, PermissionError ...), raised
    before training and naming ``memory`` and what it expects (joblib's
    named a path alone)."""
    if isinstance(memory, (str, os.PathLike)):
        path = os.fspath(memory)
        error = None
        if os.path.exists(path) and not os.path.isdir(path):
            error = NotADirectoryError(errno.ENOTDIR, "a file, not a folder")
        else:
            try:
                os.makedirs(path, exist_ok=True)
            except OSError as exc:
                error = exc
            else:
                if not os.access(path, os.W_OK | os.X_OK):
                    error = PermissionError(errno.EACCES, "a folder it cannot write")
        if error is not None:
            raise type(error)(
                error.errno,
                f"Got memory={path!r} ({error.strerror or error}); expected "
                "a folder this process can create or write (the cache of the "
                "trained networks), a joblib.Memory, or None",
            ) from (error if error.__traceback__ else None)
    return check_memory(memory)


class BaseAutoencoder(InferenceMixin, BaseEstimator):
    """Parameters, training and inference shared by every skcae estimator.

    Not public. A subclass sets ``_module_class`` and ``_takes_images`` and
    may extend ``_module_kwargs``, ``_check_params`` and ``_data_format``.
    """

    _parameter_constraints: dict = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "max_epochs": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        # (at most float32's largest: torch's Adam failed on 1e39 with "value
        # cannot be converted to type float without overflow", a probe)
        "lr": [
            Interval(Real, 0, FLOAT32_MAX, closed="right"),
            StrOptions({"auto"}),
        ],
        "lr_schedule": [StrOptions({"onecycle", "constant"})],
        "optimizer": [StrOptions(set(OPTIMIZERS)), HasMethods(["step", "zero_grad"])],
        "weight_decay": [Interval(Real, 0, FLOAT32_MAX, closed="both")],
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
    #: The fitted attribute holding the fitted model.
    _model_attribute = "model_"

    # -- parameters ------------------------------------------------------------
    def _data_format(self, fitted=True):
        """How images are laid out (None: the estimator takes no images)."""
        return None

    def _check_sample_shape(self, fitted):
        """Checks of the parameters against the input attributes of
        ``fitted`` (at fit only: a loaded model keeps what it was fitted
        with)."""

    def _check_shapes(self, data, fitted):
        """The parameters against the validated training ``data`` and its
        input attributes ``fitted``: ``latent_dim`` and
        :meth:`_check_sample_shape`."""
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
        self._check_sample_shape(fitted)

    def _check_params(self):
        """Checks beyond ``_parameter_constraints`` (run at the start of fit)."""
        if isinstance(self.optimizer, type) and not issubclass(
            self.optimizer, torch.optim.Optimizer
        ):
            raise ValueError(
                f"Got optimizer={self.optimizer!r}, but expected one of "
                f"{sorted(OPTIMIZERS)} or a torch.optim.Optimizer subclass."
            )
        if isinstance(self.optimizer, type) and (
            issubclass(self.optimizer, torch.optim.LBFGS)
            or not _takes(self.optimizer, "weight_decay")
        ):
            raise ValueError(
                f"Got optimizer={self.optimizer.__name__}, which skcae cannot "
                "train with: expected one of "
                f"{sorted(OPTIMIZERS)} or a torch.optim.Optimizer subclass that "
                "takes weight_decay and steps without a closure (LBFGS needs "
                "one)."
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
        check_n_jobs(self.n_jobs)  # (0: the constraints take any int)
        for cb in self.callbacks or ():
            if not isinstance(cb, Callback) and not (
                isinstance(cb, tuple) and len(cb) == 2 and isinstance(cb[1], Callback)
            ):
                raise ValueError(
                    f"Got {cb!r} in callbacks, but expected skorch Callback "
                    "instances or (name, Callback) tuples."
                )

    def _module_kwargs(self, fitted):
        """Keyword arguments of ``_module_class``; ``fitted`` holds the fitted
        input attributes (``n_features_in_``, ``image_shape_``)."""
        return {
            "latent_dim": self.latent_dim,
            "activation": self.activation,
            "noise_std": self.noise_std,
            "mask_fraction": self.mask_fraction,
        }

    def _model_config(self, fitted, **score):
        """The :class:`~skcae._scorer.ModelConfig` of the fitted model."""
        if self._takes_images:
            n_standardized = n_channels = fitted["image_shape_"][0]
        else:
            n_standardized, n_channels = fitted["n_features_in_"], 1
        return ModelConfig(
            module_class=self._module_class,
            module_kwargs=tuple(sorted(self._module_kwargs(fitted).items())),
            n_standardized=int(n_standardized),
            n_channels=int(n_channels),
            latent_dim=int(self.latent_dim),
            **score,
        )

    @classmethod
    def _saved_attributes(cls):
        """The documented fitted attributes the model does not hold: what
        :mod:`skcae._persistence` saves besides the model's state."""
        names = ["device_", "history_", "n_iter_", "n_features_in_"]
        names += ["feature_names_in_"]
        if cls._takes_images:
            names += ["image_shape_", "input_shape_", "data_format_"]
        return names

    # -- fitting ---------------------------------------------------------------
    def _training_spec(self, n_train, seed, device, validation_fraction, kwargs):
        """The :class:`TrainingSpec` of this estimator's parameters, with the
        network's keyword arguments ``kwargs``."""
        n_steps = n_train - int(round(n_train * (validation_fraction or 0)))
        batch_size = self.batch_size
        if batch_size == "auto":
            batch_size = auto_batch_size(n_steps, sample_values(kwargs))
        max_epochs = self.max_epochs
        if max_epochs == "auto":
            max_epochs = auto_max_epochs(n_steps, batch_size)
        lr = self.lr
        if lr == "auto":
            lr = auto_lr(n_steps, batch_size, max_epochs)
        callbacks = tuple(_copied_callbacks(self.callbacks or []))
        return TrainingSpec(
            module_class=self._module_class,
            module_kwargs=tuple(sorted(kwargs.items())),
            optimizer=self.optimizer,
            lr=float(lr),
            weight_decay=float(self.weight_decay),
            max_epochs=int(max_epochs),
            batch_size=int(batch_size),
            lr_schedule=self.lr_schedule,
            validation_fraction=validation_fraction,
            n_iter_no_change=self.n_iter_no_change,
            device=device,
            mixed_precision=bool(self.mixed_precision),
            callbacks=callbacks,
            seed=seed,
            channels_last=bool(
                self._takes_images
                and self._data_format(fitted=False) == "channels_last"
            ),
        )

    def _validate_new(self, X):
        """Validate training data; return it and the new input attributes.

        Validation runs on a copy of the estimator without its fitted
        attributes, so the estimator itself is left as it is until
        :meth:`_commit`.
        """
        staging = copy.copy(self)
        for name in [k for k in vars(staging) if is_fitted_name(k)]:
            delattr(staging, name)
        data = validate_input(staging, X, reset=True, images=self._takes_images)
        fitted = {k: v for k, v in vars(staging).items() if is_fitted_name(k)}
        # parameters that do not fit X's shape are refused here too, before
        # the fitted model is let go (kernel_size=5 on 2x2 images threw it
        # away, a probe)
        self._check_shapes(data, fitted)
        return data, fitted

    def _holdout(self, n):
        """The fraction of the ``n`` training rows held out of training."""
        return self.validation_fraction

    def _fit_network(self, validated):
        """Standardise the validated training data (of
        :meth:`_validate_new`) and train the network on it.

        Returns the validated data, the new fitted attributes (``net_`` and
        the input and standardisation attributes), the :class:`TrainingSpec`
        and the :class:`~skcae._scorer.Standardization`. The
        :meth:`_holdout` fraction of the rows is held out of training.
        """
        data, fitted = validated
        return self._train_on(data, fitted)

    def _train_on(self, data, fitted, n_of=None, warn=True):
        """Standardise the validated ``data`` and train a network on it.

        ``fitted`` holds the input attributes of :meth:`_validate_new`; the
        return value is :meth:`_fit_network`'s, with ``fitted`` updated.
        The :meth:`_holdout` fraction is that of ``n_of`` samples (default:
        ``len(data)``); ``warn=False`` keeps quiet about clipped values.
        The parameters were checked against ``data``'s shape by
        :meth:`_validate_new` (a subset of X has the same).
        """
        device = resolve_device(self.device)
        statistics = fit_statistics(data.rows, warn=warn)
        seed = int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )
        spec = self._training_spec(
            len(data),
            seed,
            device,
            self._holdout(len(data) if n_of is None else n_of),
            self._module_kwargs(fitted),
        )
        self._check_callbacks(
            spec, len(data) if n_of is None else n_of, fitted.get("feature_names_in_")
        )
        net = self._train_network(spec, data.rows, statistics)
        history = net.history
        fitted.update(device_=device, net_=net, n_iter_=len(history))
        fitted["history_"] = {"train_loss": history[:, "train_loss"]}
        if spec.validation_fraction:
            fitted["history_"]["valid_loss"] = history[:, "valid_loss"]
        standardization = Standardization.from_statistics(statistics)
        fitted["center_"], fitted["scale_"] = statistics[0], statistics[1]
        fitted["data_range_"] = np.stack(statistics[2:])
        return data, fitted, spec, standardization.to(net.device)

    def _check_callbacks(self, spec, n, feature_names=None):
        """Refuse user callbacks that cannot work in this fit of ``n`` rows:
        an LRScheduler beside the one-cycle schedule (both would set the
        rate every step), and a callback that monitors a validation score
        (skorch's EarlyStopping and Checkpoint by default) when no rows are
        held out (skorch raised a KeyError about its history), names
        the net's own callbacks take in this fit, a monitor listed after a
        callback that watches its key, and monitor sets whose columns are
        not the training data's ``feature_names``."""
        reserved = [*SKORCH_CALLBACK_NAMES]
        reserved += [name for name, _ in own_callbacks(spec, self.verbose)]
        _check_monitor_order(spec.callbacks)
        for cb in spec.callbacks:  # monitor sets with the training columns
            check = getattr(_callback_of(cb), "_check_feature_names", None)
            if check is not None:
                check(feature_names)
        for cb in spec.callbacks:
            if isinstance(cb, tuple) and cb[0] in reserved:
                raise ValueError(
                    f"Got a callback named {cb[0]!r}, a name the net's own "
                    f"callbacks take in this fit ({', '.join(reserved)}). "
                    "Expected another name."
                )
            cb = _callback_of(cb)
            name = type(cb).__name__
            if isinstance(cb, LRScheduler) and spec.lr_schedule == "onecycle":
                raise ValueError(
                    f"Got callbacks with {name} and lr_schedule='onecycle': "
                    "both would set the learning rate at every step. Expected "
                    "lr_schedule='constant' to let your scheduler set the rate, "
                    "or no LRScheduler in callbacks."
                )
            monitor = getattr(cb, "monitor", None)
            if (
                isinstance(monitor, str)
                and monitor.startswith("valid")
                and not spec.validation_fraction
            ):
                raise ValueError(
                    f"Got callbacks with {name}, which monitors {monitor!r}, but "
                    f"this fit holds out no validation data "
                    f"({self._no_holdout_reason(n)}). Expected a callback "
                    "that monitors the training loss (e.g. monitor='train_loss'"
                    "), or validation_fraction=0.1 to hold out a share of X."
                )

    def _no_holdout_reason(self, n):
        """Why a fit of ``n`` rows holds out no validation data."""
        return "validation_fraction=None"

    def _fit_state(self, validated):
        """The fitted attributes of a fit on the validated data (the
        transformer's: a model of the standardisation and the network)."""
        _, fitted, _, standardization = self._fit_network(validated)
        fitted["model_"] = AutoencoderModel(
            self._model_config(fitted),
            network=fitted["net_"].module_,
            standardization=standardization,
        ).eval()
        return fitted

    def _train_network(self, spec, rows, statistics, indices=None, verbose=None):
        """A network trained by ``spec`` on ``rows`` (the ``indices`` subset),
        standardised with ``statistics``; from the cache of ``memory`` when
        one was trained on the same rows with the same spec."""
        train = train_network
        if self.memory is not None:
            _check_picklable_callbacks(spec.callbacks)
            train = _cache(self.memory).cache(train_network, ignore=["verbose"])
        return train(
            spec,
            rows,
            statistics,
            indices,
            verbose=self.verbose if verbose is None else verbose,
        )

    def _commit(self, fitted):
        """Replace the fitted state by ``fitted`` in one step.

        ``dict.update`` runs without releasing the GIL, so another thread
        sees every old attribute or every new one; attributes the new state
        lacks (``feature_names_in_`` of an earlier fit) go afterwards.
        """
        state = vars(self)
        stale = [k for k in state if is_fitted_name(k) and k not in fitted]
        state.update(fitted)
        for name in stale:
            state.pop(name, None)

    def _clear_fitted(self):
        """Remove every fitted attribute (after a failed fit), the model first,
        so no reader finds a model without what goes with it."""
        state = vars(self)
        state.pop(self._model_attribute, None)
        for name in [k for k in state if is_fitted_name(k)]:
            state.pop(name, None)

    def _fit(self, fit_state, X):
        """Validate X, run ``fit_state`` on it (the new fitted attributes)
        with the threads of ``n_jobs``, and commit its result.

        X that fails validation leaves the estimator as it was (a fitted one
        keeps its model, as scikit-learn's estimators do); a fit that fails
        later (a diverging loss, an interrupt, a callback's error) leaves it
        unfitted, so no half-trained model is taken for the old one.
        """
        self._check_params()
        validated = self._validate_new(X)
        try:
            with torch_threads(self.n_jobs):
                fitted = fit_state(validated)
        except BaseException:
            self._clear_fitted()
            raise
        self._commit(fitted)
        return self

    def __setstate__(self, state):
        # skorch pickles net_.module_ on its own: after unpickling (or a
        # deepcopy), the net holds the model's network again, not a copy
        super().__setstate__(state)
        model, net = state.get(self._model_attribute), state.get("net_")
        if model is not None and net is not None:
            net.module_ = model.network

    # -- inference -------------------------------------------------------------
    def _fitted(self):
        """One consistent snapshot of the fitted attributes (a dict).

        Raises NotFittedError when there is no fitted model.
        """
        state = dict(vars(self))  # one atomic copy, whatever fit is doing
        if self._model_attribute not in state:
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call "
                "'fit' with appropriate arguments before using this estimator."
            )
        return state

    def _validate(self, X):
        """Validate X against the fitted input attributes."""
        return validate_input(self, X, reset=False, images=self._takes_images)

    def _chunk(self, state):
        """Rows of the fitted model's scoring chunks (``chunk_rows``)."""
        return state[self._model_attribute].chunk_rows

    def _run(self, state, rows, fn, **kwargs):
        """:func:`run_batches` of ``fn`` over ``rows`` with the fitted model.

        The model's own device, not ``device_``: a CUDA model unpickled on a
        CPU-only machine is on the CPU.
        """
        model = state[self._model_attribute]
        device = next(model.parameters()).device
        return run_batches(
            model,
            rows,
            fn,
            device=device,
            mixed_precision=state["net_"].mixed_precision,
            **kwargs,
        )
