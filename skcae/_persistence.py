"""Safe persistence: :func:`save` and :func:`load` without pickle.

File format (version 1): one zip archive holding two members,

``config.json``
    ``{"format": "skcae", "format_version": 1, "class": <class name>,
    "params": <get_params(deep=False)>, "fitted": <fitted attributes>,
    "net_history": <the skorch history, or null>, "net_seed": <the seed of
    the validation split>, "versions": {...}}``.
    Values that JSON has no type for are tagged one-key objects:
    ``{"tuple": [...]}``, ``{"ndarray": [...], "dtype": "<f8", "shape": [...]}``
    (numpy scalars have shape ``[]``), ``{"dict": {...}}`` and
    ``{"torch_optimizer": "AdamW"}``.
``model.safetensors``
    The network's ``state_dict()`` (weights and the ``shift`` / ``scale``
    buffers) in the `safetensors <https://huggingface.co/docs/safetensors>`_
    format.

Loading parses JSON and safetensors only, so it never runs code from the
file; the class is looked up by name among the estimators skcae exports.
"""

import json
import reprlib
import warnings
import zipfile

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ._training import resolve_device

FORMAT = "skcae"
FORMAT_VERSION = 1
_CONFIG = "config.json"
_WEIGHTS = "model.safetensors"
_NOT_SAVED = ("net_",)  # fitted attributes rebuilt from the weights instead
_KEPT_PRIVATE = ("_sklearn_output_config",)  # set_output's configuration
_DTYPE_KINDS = "biuf"  # bools, ints, unsigned ints, floats


class _NotJSON(TypeError):
    """A value that the config cannot represent."""


def _import_safetensors(caller):
    try:
        import safetensors.torch
    except ImportError as exc:
        raise ImportError(
            f"{caller} requires safetensors, a dependency of skcae that is "
            "missing here. Install it with: pip install safetensors"
        ) from exc
    return safetensors.torch


def _estimator_classes():
    """The allow-list: estimator classes exported in ``skcae.__all__``."""
    import skcae

    classes = {}
    for name in skcae.__all__:
        obj = getattr(skcae, name, None)
        if (
            isinstance(obj, type)
            and issubclass(obj, BaseEstimator)
            and hasattr(obj, "_build_net")
        ):
            classes[name] = obj
    return classes


def _encode(value):
    """``value`` as JSON data, tagging types JSON lacks; raise _NotJSON if none."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.kind in _DTYPE_KINDS:
            dtype = array.dtype.str
        elif array.dtype.kind == "U":
            dtype = "str"
        elif array.dtype == object and all(isinstance(v, str) for v in array.flat):
            dtype = "object"
        else:
            raise _NotJSON(f"an array of dtype {array.dtype}")
        return {"ndarray": array.tolist(), "dtype": dtype, "shape": list(array.shape)}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise _NotJSON("a dict with keys that are not str")
        return {"dict": {k: _encode(v) for k, v in value.items()}}
    if (
        isinstance(value, type)
        and issubclass(value, torch.optim.Optimizer)
        and getattr(torch.optim, value.__name__, None) is value
    ):
        return {"torch_optimizer": value.__name__}
    raise _NotJSON(f"a {type(value).__module__}.{type(value).__qualname__}")


def _decode(data):
    """Invert :func:`_encode`; raise ValueError on anything it cannot produce."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [_decode(v) for v in data]
    if not isinstance(data, dict):
        raise ValueError(f"unexpected JSON value {data!r}")
    if set(data) == {"tuple"} and isinstance(data["tuple"], list):
        return tuple(_decode(v) for v in data["tuple"])
    if set(data) == {"dict"} and isinstance(data["dict"], dict):
        return {k: _decode(v) for k, v in data["dict"].items()}
    if set(data) == {"ndarray", "dtype", "shape"}:
        dtype = data["dtype"]
        if dtype == "object":
            array = np.empty(len(data["ndarray"]), dtype=object)
            array[:] = data["ndarray"]
        elif dtype == "str" or np.dtype(dtype).kind in _DTYPE_KINDS:
            array = np.array(data["ndarray"], dtype=None if dtype == "str" else dtype)
        else:
            raise ValueError(f"unsupported dtype {dtype!r}")
        array = array.reshape(data["shape"])
        return array[()] if array.ndim == 0 else array
    if set(data) == {"torch_optimizer"}:
        optimizer = getattr(torch.optim, str(data["torch_optimizer"]), None)
        if not (
            isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer)
        ):
            raise ValueError(f"unknown torch optimizer {data['torch_optimizer']!r}")
        return optimizer
    raise ValueError(f"unexpected JSON object with keys {sorted(data)}")


def _config(estimator):
    """The JSON-ready description of a fitted estimator (everything but weights)."""
    import sklearn
    import skorch

    from . import __version__

    params = {}
    for name, value in estimator.get_params(deep=False).items():
        try:
            params[name] = _encode(value)
        except _NotJSON as exc:
            raise ValueError(
                f"Cannot save parameter {name}={reprlib.repr(value)}: it is {exc}, "
                "which "
                "the JSON config cannot hold (it takes None, bool, int, float, "
                "str, tuples, lists, str-keyed dicts, numpy arrays and "
                "torch.optim classes). Parameters only matter for fitting, so "
                "set it to a value the config can hold first (e.g. "
                "set_params(callbacks=None), random_state=<int>, "
                "optimizer='adam' or a torch.optim class), or save with "
                "pickle/joblib instead."
            ) from exc
    fitted, skipped = {}, []
    for name, value in vars(estimator).items():
        wanted = name in _KEPT_PRIVATE or (
            name.endswith("_") and not name.startswith("_")
        )
        if not wanted or name in _NOT_SAVED:
            continue
        try:
            fitted[name] = _encode(value)
        except _NotJSON:
            skipped.append(name)
    history = estimator.net_.history.to_list()
    try:
        json.dumps(history)
    except (TypeError, ValueError):  # a callback recorded values JSON cannot hold
        history = None
        skipped.append("net_.history")
    if skipped:
        warnings.warn(
            f"Fitted attribute(s) {skipped} of {type(estimator).__name__} are not "
            "JSON-representable and are not saved; the loaded estimator lacks "
            "them.",
            UserWarning,
            stacklevel=3,
        )
    seed = getattr(estimator.net_.train_split, "seed", 0)  # the validation split
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": type(estimator).__name__,
        "params": params,
        "fitted": fitted,
        "net_history": history,
        "net_seed": seed if isinstance(seed, int) else 0,
        "versions": {
            "skcae": __version__,
            "torch": torch.__version__,
            "scikit-learn": sklearn.__version__,
            "skorch": skorch.__version__,
            "numpy": np.__version__,
        },
    }


def save(estimator, path):
    """Save a fitted skcae estimator to a single file, without pickle.

    The file is a zip archive holding ``config.json`` (class name,
    parameters, fitted attributes such as ``offset_`` and ``image_shape_``,
    the training history and the library versions) and
    ``model.safetensors`` (the network's weights and buffers). It can be
    read back by :func:`load` with no risk of running code, unlike a pickle.
    The optimizer state is not saved: a loaded estimator scores and predicts
    exactly as the saved one, and :meth:`fit` retrains from scratch.

    Read more in the :ref:`User Guide <persistence>`.

    Parameters
    ----------
    estimator : fitted skcae estimator
        Any estimator exported by skcae, e.g.
        :class:`~skcae.ConvAutoencoderOutlierDetector`.
    path : str, path-like or binary file-like object
        Where to write; ``.skcae`` is a good extension.

    Raises
    ------
    ValueError
        If a parameter cannot be represented in JSON (e.g. ``callbacks`` or
        a ``random_state`` that is a RandomState instance); the message names
        it. Set it to None (``estimator.set_params(callbacks=None)``: it only
        matters for fitting) before saving. Optimizer classes from
        :mod:`torch.optim` are stored by name; other classes are refused.
    TypeError
        If ``estimator`` is not a skcae estimator.
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.

    See Also
    --------
    load : Read the file back.
    to_onnx : Export the scoring graph for inference without Python.

    Notes
    -----
    Weights are stored with ``safetensors``, a dependency of skcae.
    Fitted attributes that JSON cannot represent are skipped with a warning;
    ``net_`` is rebuilt from the parameters and the weights.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.datasets import load_digits
    >>> import skcae
    >>> X = load_digits().data[:100]
    >>> det = skcae.ConvAutoencoderOutlierDetector(
    ...     image_shape=(8, 8), channels=(4,), latent_dim=2, max_epochs=1,
    ...     device="cpu", random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "detector.skcae")
    >>> skcae.save(det, path)
    >>> loaded = skcae.load(path)
    >>> bool((loaded.score_samples(X) == det.score_samples(X)).all())
    True
    """
    classes = _estimator_classes()
    name = type(estimator).__name__
    if classes.get(name) is not type(estimator):
        raise TypeError(
            f"Got a {type(estimator).__module__}.{name}, but skcae.save only "
            f"saves skcae's estimators: {sorted(classes)}."
        )
    check_is_fitted(estimator)
    st = _import_safetensors("skcae.save")
    config = json.dumps(_config(estimator), indent=1)
    state = {
        key: tensor.detach().cpu().contiguous().clone()
        for key, tensor in estimator.net_.module_.state_dict().items()
    }
    weights = st.save(state)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_CONFIG, config)
        archive.writestr(_WEIGHTS, weights)


def _read(path):
    """The config dict and the weights' bytes of a saved file."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = [m for m in (_CONFIG, _WEIGHTS) if m not in names]
            if missing:
                raise ValueError(
                    f"{path!r} is not a complete skcae file: the archive lacks "
                    f"{missing}."
                )
            config = json.loads(archive.read(_CONFIG).decode("utf-8"))
            weights = archive.read(_WEIGHTS)
    except (
        zipfile.BadZipFile,
        EOFError,
        OSError,
        UnicodeDecodeError,
        json.JSONDecodeError,
    ) as exc:
        raise ValueError(
            f"{path!r} is not a readable skcae file (a zip with {_CONFIG} and "
            f"{_WEIGHTS}): {exc}. It may be truncated or corrupted."
        ) from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(
            f"{path!r} is not a skcae file: its {_CONFIG} has no 'format': {FORMAT!r}."
        )
    version = config.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"{path!r} has an invalid format_version {version!r}.")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path!r} was written in skcae file format version {version}, newer "
            f"than this skcae reads (up to {FORMAT_VERSION}); upgrade skcae "
            f"(it was saved with skcae {config.get('versions', {}).get('skcae')})."
        )
    for key, kind in (("class", str), ("params", dict), ("fitted", dict)):
        if not isinstance(config.get(key), kind):
            raise ValueError(
                f"{path!r} is corrupted: {_CONFIG} lacks a valid {key!r} entry."
            )
    return config, weights


def load(path, *, device=None):
    """Load an estimator saved by :func:`save`, without unpickling anything.

    Read more in the :ref:`User Guide <persistence>`.

    Parameters
    ----------
    path : str, path-like or binary file-like object
        A file written by :func:`save`.
    device : str, default=None
        Torch device for the loaded network ("cpu", "cuda", "auto"); None
        uses the device it was saved from, or the CPU if that one is a GPU
        and none is available. Sets ``device_``, not the ``device``
        parameter.

    Returns
    -------
    estimator : skcae estimator
        Fitted, scoring exactly as the saved one on the same device.

    Raises
    ------
    ValueError
        If the file is not a skcae file, is truncated or corrupted, names a
        class skcae does not export, lacks entries, holds weights that do not
        fit the saved parameters, or was written in a newer format version.

    See Also
    --------
    save : Write the file.

    Examples
    --------
    >>> import io
    >>> from sklearn.datasets import load_digits
    >>> import skcae
    >>> X = load_digits().data[:100]
    >>> det = skcae.ConvAutoencoderOutlierDetector(
    ...     image_shape=(8, 8), channels=(4,), latent_dim=2, max_epochs=1,
    ...     device="cpu", random_state=0).fit(X)
    >>> buffer = io.BytesIO()
    >>> skcae.save(det, buffer)
    >>> loaded = skcae.load(buffer)
    >>> type(loaded).__name__, loaded.image_shape_, loaded.predict(X).shape
    ('ConvAutoencoderOutlierDetector', (1, 8, 8), (100,))
    """
    from skorch.history import History

    st = _import_safetensors("skcae.load")
    config, weights = _read(path)
    classes = _estimator_classes()
    name = config["class"]
    if name not in classes:
        raise ValueError(
            f"{path!r} holds a {name!r}, which is not one of skcae's estimators "
            f"{sorted(classes)}; it may come from another skcae version."
        )
    cls = classes[name]
    try:
        params = {k: _decode(v) for k, v in config["params"].items()}
        fitted = {k: _decode(v) for k, v in config["fitted"].items()}
        estimator = cls(**params)
        estimator._validate_params()
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{path!r} holds parameters that do not fit {name}: {exc}"
        ) from exc
    for key, value in fitted.items():
        setattr(estimator, key, value)
    if device is not None:
        estimator.device_ = resolve_device(device)
    elif str(getattr(estimator, "device_", "cpu")).startswith("cuda") and (
        not torch.cuda.is_available()
    ):
        estimator.device_ = "cpu"
    try:
        state = st.load(weights)
    except Exception as exc:  # safetensors raises its own error type
        raise ValueError(
            f"{path!r} holds unreadable weights in {_WEIGHTS}: {exc}"
        ) from exc
    try:
        seed = config.get("net_seed", 0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # every weight is overwritten below
            net = estimator._build_net(seed, estimator._module_kwargs())
            net.initialize()
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f"{path!r} lacks what is needed to rebuild the {name} network: {exc}"
        ) from exc
    module = net.module_
    expected = module.state_dict()
    problems = sorted(set(expected) ^ set(state))
    problems += [
        f"{key}: shape {tuple(state[key].shape)} instead of "
        f"{tuple(expected[key].shape)}"
        for key in sorted(set(expected) & set(state))
        if state[key].shape != expected[key].shape
    ]
    if problems:
        raise ValueError(
            f"{path!r} holds weights that do not match a {name} with the saved "
            f"parameters (missing, unexpected or reshaped tensors): {problems}."
        )
    module.load_state_dict(state)
    history = config.get("net_history")
    if isinstance(history, list):
        net.history_ = History(history)
    estimator.net_ = net
    return estimator


__all__ = ["load", "save"]
