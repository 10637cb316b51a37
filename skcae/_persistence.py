"""Safe persistence: :func:`save` and :func:`load` without pickle.

File format (version 2): one zip archive holding exactly two members,

``config.json``
    ``{"format": "skcae", "format_version": 2, "class": <class name>,
    "params": <get_params(deep=False)>, "fitted": <small fitted attributes>,
    "score_model": <ScoreModel.config(), or null>, "net_history": <the skorch
    history, or null>, "versions": {...}}``. Values that JSON has no type for
    are tagged one-key objects: ``{"tuple": [...]}``, ``{"dict": {...}}``,
    ``{"ndarray": [...], "dtype": "<f8", "shape": [...]}`` (numpy scalars have
    shape ``[]``) and ``{"torch_optimizer": "AdamW"}``.
``model.safetensors``
    The network's ``state_dict()`` under ``net.<name>``, the score model's
    arrays under ``score.<name>`` and the fitted float arrays (``center_``,
    ``scale_``, ``data_range_``, ``validation_scores_``) under
    ``fitted.<name>``, in the `safetensors
    <https://huggingface.co/docs/safetensors>`_ format.

:func:`load` treats the file as untrusted. It parses JSON and safetensors
only, never pickle; it bounds every size before reading or allocating
(members, JSON nesting, the network's parameter count, each tensor's shape,
checked against the network that the saved parameters describe, built on
torch's meta device); it sets only the documented fitted attributes, each
checked for type, shape and finiteness; and whatever is wrong with the file,
it raises ValueError.
"""

import io
import json
import math
import os
import reprlib
import warnings
import zipfile

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ._base import (
    ESTIMATORS,
    fitted_attribute_names,
    module_spec,
    restore_network,
    validate_parameters,
)
from ._scoring import MAX_REFERENCES, ScoreModel
from ._training import resolve_device

FORMAT = "skcae"
FORMAT_VERSION = 2
CONFIG_MEMBER = "config.json"
WEIGHTS_MEMBER = "model.safetensors"
#: Largest ``config.json`` (uncompressed bytes) that :func:`load` reads.
MAX_CONFIG_BYTES = 16 * 2**20
#: Largest ``model.safetensors`` (uncompressed bytes) that :func:`load` reads.
MAX_WEIGHTS_BYTES = 2**30
#: Largest network (parameters and buffers) that :func:`load` builds.
MAX_PARAMETERS = 50_000_000
#: Largest ``n_features_in_`` (values per sample) that :func:`load` accepts.
MAX_FEATURES = 2**31 - 1
_MAX_FILE_BYTES = MAX_CONFIG_BYTES + MAX_WEIGHTS_BYTES + 2**20  # zip overhead
_MAX_DEPTH = 32  # nesting of tagged JSON values
_MAX_LAYERS = 64  # entries of channels / hidden_layer_sizes
_TOP_LEVEL = {"format", "format_version", "class", "params", "fitted"}
_TOP_LEVEL |= {"score_model", "net_history", "versions"}
_ARRAY_ATTRIBUTES = ("center_", "scale_", "data_range_", "validation_scores_")
_TAG_DTYPES = {
    np.dtype(name).newbyteorder(order).str
    for name in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16")
    + ("uint32", "uint64", "float16", "float32", "float64")
    for order in "<>"
}
# safetensors dtype names and item sizes; torch dtypes by name.
_ST_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4}
_ST_SIZES |= {"I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
_ST_NAMES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16"}
_ST_NAMES |= {torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32"}
_ST_NAMES |= {torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8"}
_ST_NAMES |= {torch.bool: "BOOL"}


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


# -- tagged JSON values ---------------------------------------------------------------
def _encode(value):
    """``value`` as JSON data, tagging types JSON lacks; raise _NotJSON if none."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.str in _TAG_DTYPES:
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
        and value is not torch.optim.Optimizer
        and getattr(torch.optim, value.__name__, None) is value
    ):
        return {"torch_optimizer": value.__name__}
    raise _NotJSON(f"a {type(value).__module__}.{type(value).__qualname__}")


def _decode(data, depth=0):
    """Invert :func:`_encode`; raise ValueError on anything it cannot produce."""
    if depth > _MAX_DEPTH:
        raise ValueError(f"a value is nested more than {_MAX_DEPTH} levels deep")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [_decode(v, depth + 1) for v in data]
    if not isinstance(data, dict):
        raise ValueError(f"unexpected JSON value {reprlib.repr(data)}")
    keys = set(data)
    if keys == {"tuple"} and isinstance(data["tuple"], list):
        return tuple(_decode(v, depth + 1) for v in data["tuple"])
    if keys == {"dict"} and isinstance(data["dict"], dict):
        return {k: _decode(v, depth + 1) for k, v in data["dict"].items()}
    if keys == {"ndarray", "dtype", "shape"}:
        return _decode_array(data)
    if keys == {"torch_optimizer"}:
        name = data["torch_optimizer"]
        optimizer = getattr(torch.optim, name, None) if isinstance(name, str) else None
        if not (
            isinstance(optimizer, type)
            and issubclass(optimizer, torch.optim.Optimizer)
            and optimizer is not torch.optim.Optimizer
        ):
            raise ValueError(f"unknown torch optimizer {reprlib.repr(name)}")
        return optimizer
    raise ValueError(f"unexpected JSON object with keys {sorted(keys)[:5]}")


def _decode_array(data):
    values, dtype, shape = data["ndarray"], data["dtype"], data["shape"]
    if not (isinstance(shape, list) and len(shape) <= 8 and all(map(_is_count, shape))):
        raise ValueError(f"invalid array shape {reprlib.repr(shape)}")
    if dtype == "object":
        if not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
            raise ValueError("an object array must hold a flat list of str")
        array = np.empty(len(values), dtype=object)
        array[:] = values
    elif dtype == "str" or dtype in _TAG_DTYPES:
        array = np.array(values, dtype=None if dtype == "str" else dtype)
        if dtype == "str" and array.dtype.kind != "U":
            raise ValueError("a str array must hold str")
    else:
        raise ValueError(f"unsupported array dtype {reprlib.repr(dtype)}")
    array = array.reshape(shape)
    return array[()] if array.ndim == 0 else array


def _decode_entry(what, name, data):
    try:
        return _decode(data)
    except ValueError as exc:
        raise ValueError(f"{what} {name}: {exc}") from exc


def _parse_json(raw, what):
    """Parse JSON bytes, refusing duplicate keys; ValueError for anything bad."""

    def unique(pairs):
        result = dict(pairs)
        if len(result) != len(pairs):
            raise ValueError(f"{what} repeats a key")
        return result

    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=unique)
    except RecursionError as exc:
        raise ValueError(f"{what} is nested too deeply") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{what} is not valid JSON ({exc})") from exc


# -- saving ---------------------------------------------------------------------------
def _plain(value):
    """``json.dumps`` default: numpy scalars (e.g. a float32 record) as Python's."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _net_history(estimator):
    """The skorch history as JSON data, or None (with a warning) if it is not."""
    try:
        return json.loads(json.dumps(estimator.net_.history.to_list(), default=_plain))
    except (TypeError, ValueError):  # a callback recorded values JSON cannot hold
        warnings.warn(
            f"The training history (net_.history) of {type(estimator).__name__} "
            "holds values JSON cannot represent and is not saved; the loaded "
            "estimator's net_.history is empty (history_ is kept).",
            UserWarning,
            stacklevel=3,
        )
        return None


def _params(estimator):
    params = {}
    for name, value in estimator.get_params(deep=False).items():
        if name == "callbacks":  # they only matter for fitting
            params[name] = None
            continue
        try:
            params[name] = _encode(value)
        except _NotJSON as exc:
            raise ValueError(
                f"Cannot save parameter {name}={reprlib.repr(value)}: it is {exc}, "
                "which the JSON config cannot hold (it takes None, bool, int, "
                "float, str, tuples, lists, str-keyed dicts, numpy arrays and "
                "torch.optim classes). Parameters only matter for fitting, so "
                "set it to a value the config can hold first (e.g. "
                "random_state=<int>, optimizer='adam' or a torch.optim class, "
                "memory=<a path>), or save with pickle/joblib instead."
            ) from exc
    return params


def _fitted(estimator):
    """The fitted attributes: JSON ones, and float arrays for safetensors."""
    fitted, arrays = {}, {}
    for name in fitted_attribute_names(estimator):
        if not hasattr(estimator, name):
            continue
        value = getattr(estimator, name)
        if name in _ARRAY_ATTRIBUTES:
            if not (isinstance(value, np.ndarray) and value.dtype.kind == "f"):
                raise ValueError(
                    f"Cannot save {name}={reprlib.repr(value)}: "
                    "expected a float ndarray."
                )
            arrays[f"fitted.{name}"] = torch.from_numpy(np.ascontiguousarray(value))
        elif name in _FITTED_CHECKS or isinstance(value, (bool, int, float, str)):
            fitted[name] = _encode(value)
        else:
            raise ValueError(
                f"Cannot save fitted attribute {name}={reprlib.repr(value)}: "
                "skcae.load has no check for it (a bug in skcae)."
            )
    return fitted, arrays


def _versions():
    import safetensors
    import sklearn
    import skorch

    from . import __version__

    return {
        "skcae": __version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "skorch": skorch.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
    }


def save(estimator, path):
    """Save a fitted skcae estimator to a single file, without pickle.

    The file is a zip archive holding ``config.json`` (class name,
    parameters, small fitted attributes such as ``offset_`` and
    ``image_shape_``, the score model's settings, the training history and
    the library versions) and ``model.safetensors`` (the network's weights,
    the score model's reference arrays and the standardisation). It is read
    back by :func:`load` with no risk of running code, unlike a pickle. The
    optimizer state is not saved: a loaded estimator scores and predicts
    exactly as the saved one, and :meth:`fit` retrains from scratch.

    Read more in the :ref:`User Guide <persistence>`.

    Parameters
    ----------
    estimator : fitted skcae estimator
        :class:`~skcae.ConvAutoencoderOutlierDetector`,
        :class:`~skcae.AutoencoderOutlierDetector` or
        :class:`~skcae.ConvAutoencoder`.
    path : str, path-like or binary file-like object
        Where to write; ``.skcae`` is a good extension.

    Raises
    ------
    ValueError
        If a parameter cannot be represented in JSON (e.g. a ``random_state``
        that is a RandomState instance, or an optimizer class that is not
        one of :mod:`torch.optim`'s); the message names it. Also if the
        network is larger than :func:`load` accepts (``MAX_PARAMETERS``).
    TypeError
        If ``estimator`` is not one of skcae's estimators.
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.

    See Also
    --------
    load : Read the file back.
    to_onnx : Export the scoring graph for inference without Python.

    Notes
    -----
    ``callbacks`` are saved as None: they only matter for fitting (and hold
    arbitrary objects), so the loaded estimator has ``callbacks=None``,
    while the values they recorded stay in ``net_.history``. A history
    holding values JSON cannot represent is dropped with a warning, and so
    are its per-batch records if the config would otherwise exceed
    ``MAX_CONFIG_BYTES``. A :meth:`set_output` configuration is not saved
    (a warning says so). ``net_`` is rebuilt from the parameters and the
    weights.

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
    cls = type(estimator)
    if ESTIMATORS.get(cls.__name__) is not cls:
        raise TypeError(
            f"Got a {cls.__module__}.{cls.__qualname__}, but skcae.save only saves "
            f"skcae's estimators: {sorted(ESTIMATORS)}."
        )
    check_is_fitted(estimator)
    st = _import_safetensors("skcae.save")
    state = estimator.net_.module_.state_dict()
    n_values = sum(t.numel() for t in state.values())
    if n_values > MAX_PARAMETERS:
        raise ValueError(
            f"Cannot save a network of {n_values:,} values: skcae.load accepts "
            f"at most MAX_PARAMETERS={MAX_PARAMETERS:,}; save it with "
            "pickle/joblib instead."
        )
    if getattr(estimator, "_sklearn_output_config", None):
        warnings.warn(
            "The set_output configuration is not saved; call set_output again "
            "on the loaded estimator.",
            UserWarning,
            stacklevel=2,
        )
    fitted, tensors = _fitted(estimator)
    tensors.update(
        (f"net.{k}", t.detach().cpu().contiguous().clone()) for k, t in state.items()
    )
    score_model = getattr(estimator, "score_model_", None)
    if score_model is not None:
        tensors.update(
            (f"score.{k}", torch.from_numpy(np.ascontiguousarray(v)))
            for k, v in score_model.arrays.items()
        )
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": cls.__name__,
        "params": _params(estimator),
        "fitted": fitted,
        "score_model": None if score_model is None else score_model.config(),
        "net_history": _net_history(estimator),
        "versions": _versions(),
    }
    text = json.dumps(config, indent=1).encode("utf-8")
    if len(text) > MAX_CONFIG_BYTES and config["net_history"]:
        warnings.warn(
            "The training history is too long to save whole; its per-batch "
            "records (net_.history[:, 'batches']) are left out.",
            UserWarning,
            stacklevel=2,
        )
        for epoch in config["net_history"]:
            epoch.pop("batches", None)
        text = json.dumps(config, indent=1).encode("utf-8")
    if len(text) > MAX_CONFIG_BYTES:
        raise ValueError(
            f"Cannot save: the config would take {len(text):,} bytes, more than "
            f"skcae.load reads (MAX_CONFIG_BYTES={MAX_CONFIG_BYTES:,}); save "
            "with pickle/joblib instead."
        )
    weights = st.save(tensors)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(CONFIG_MEMBER, text)
        archive.writestr(WEIGHTS_MEMBER, weights)


# -- reading the archive --------------------------------------------------------------
def _read_archive(fileobj):
    """``config.json`` and ``model.safetensors`` as bytes, every size bounded."""
    size = fileobj.seek(0, io.SEEK_END)
    fileobj.seek(0)
    if size > _MAX_FILE_BYTES:
        raise ValueError(f"it is {size:,} bytes, larger than any skcae file")
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ValueError(f"it is not a readable zip archive ({exc})") from exc
    limits = {CONFIG_MEMBER: MAX_CONFIG_BYTES, WEIGHTS_MEMBER: MAX_WEIGHTS_BYTES}
    with archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        unexpected = sorted(set(names) - set(limits))
        missing = sorted(set(limits) - set(names))
        if duplicated or unexpected or missing:
            raise ValueError(
                f"expected a zip of exactly {sorted(limits)}, but it has "
                + ", ".join(
                    f"{what} {reprlib.repr(found)}"
                    for what, found in (
                        ("duplicate members", duplicated),
                        ("unexpected members", unexpected),
                        ("no", missing),
                    )
                    if found
                )
            )
        members = {}
        for info in infos:
            limit = limits[info.filename]
            if info.file_size > limit:
                raise ValueError(
                    f"{info.filename} declares {info.file_size:,} bytes, more "
                    f"than the {limit:,} skcae.load reads"
                )
            try:
                with archive.open(info) as member:
                    data = member.read(limit + 1)  # the header may lie
            except (zipfile.BadZipFile, EOFError, OSError, RuntimeError) as exc:
                raise ValueError(f"{info.filename} is corrupted ({exc})") from exc
            except Exception as exc:  # zlib.error, NotImplementedError, ...
                raise ValueError(f"{info.filename} is unreadable ({exc!r})") from exc
            if len(data) > limit:
                raise ValueError(
                    f"{info.filename} holds more than the {limit:,} bytes "
                    "skcae.load reads"
                )
            members[info.filename] = data
    return members[CONFIG_MEMBER], members[WEIGHTS_MEMBER]


def _check_config(config):
    """The top-level entries of ``config.json``: types and format version."""
    if not isinstance(config, dict):
        raise ValueError(f"{CONFIG_MEMBER} must be a JSON object")
    if config.get("format") != FORMAT:
        raise ValueError(
            f"it is not a skcae file: {CONFIG_MEMBER} lacks 'format': {FORMAT!r}"
        )
    version = config.get("format_version")
    versions = config.get("versions")
    written_by = versions.get("skcae") if isinstance(versions, dict) else None
    if not _is_count(version) or version < 1:
        raise ValueError(f"invalid format_version {reprlib.repr(version)}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"it was written in skcae file format version {version}, newer than "
            f"this skcae reads (version {FORMAT_VERSION}; written by skcae "
            f"{written_by!r}); upgrade skcae"
        )
    if version < FORMAT_VERSION:
        raise ValueError(
            f"it was written by an older skcae ({written_by!r}, file format "
            f"version {version}), whose networks and scores this skcae computes "
            f"differently; this skcae reads version {FORMAT_VERSION} only. Refit "
            "the estimator with this skcae and save it again"
        )
    if set(config) != _TOP_LEVEL:
        raise ValueError(
            f"{CONFIG_MEMBER} has entries {sorted(set(config) ^ _TOP_LEVEL)} "
            f"missing or unexpected; expected {sorted(_TOP_LEVEL)}"
        )
    for key, kinds in (
        ("class", str),
        ("params", dict),
        ("fitted", dict),
        ("score_model", (dict, type(None))),
        ("net_history", (list, type(None))),
        ("versions", dict),
    ):
        if not isinstance(config[key], kinds):
            raise ValueError(f"{CONFIG_MEMBER}'s {key!r} entry has the wrong type")
    if config["class"] not in ESTIMATORS:
        raise ValueError(
            f"it holds a {reprlib.repr(config['class'])}, which is not one of "
            f"skcae's estimators {sorted(ESTIMATORS)}"
        )


def _build_estimator(cls, params):
    """``cls(**params)`` with every parameter given and valid."""
    names = set(cls._get_param_names())
    if set(params) != names:
        raise ValueError(
            f"the parameters of {cls.__name__} are {sorted(names)}, but the file "
            f"has unknown parameters {sorted(set(params) - names)[:5]} and "
            f"lacks {sorted(names - set(params))[:5]}"
        )
    if params["callbacks"] is not None:
        raise ValueError("expected callbacks=None (callbacks are not saved)")
    try:
        decoded = {k: _decode_entry("parameter", k, v) for k, v in params.items()}
        estimator = cls(**decoded)
        validate_parameters(estimator)
    except Exception as exc:
        raise ValueError(f"invalid parameters for {cls.__name__}: {exc}") from exc
    return estimator


# -- fitted attributes ----------------------------------------------------------------
def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_shape(value, lengths):
    return (
        isinstance(value, tuple)
        and len(value) in lengths
        and all(_is_count(v) and v >= 1 for v in value)
    )


def _is_real(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _n_features(value, fitted):
    return _is_count(value) and 1 <= value <= MAX_FEATURES


def _feature_names(value, fitted):
    return (
        isinstance(value, np.ndarray)
        and value.dtype == object
        and value.shape == (fitted["n_features_in_"],)
    )


def _image_shape(value, fitted):
    return _is_shape(value, (3,)) and math.prod(value) == fitted["n_features_in_"]


def _input_shape(value, fitted):
    return _is_shape(value, (1, 2, 3)) and math.prod(value) == fitted["n_features_in_"]


def _n_iter(value, fitted):
    return _is_count(value) and value >= 1


def _history(value, fitted):
    return isinstance(value, dict) and all(
        isinstance(k, str)
        and isinstance(v, list)
        and len(v) == fitted["n_iter_"]
        and all(map(_is_real, v))
        for k, v in value.items()
    )


def _device(value, fitted):
    if not isinstance(value, str) or len(value) > 32:
        return False
    try:
        return torch.device(value).type in ("cpu", "cuda", "mps")
    except (RuntimeError, TypeError, ValueError):
        return False


def _offset(value, fitted):
    return isinstance(value, float) and math.isfinite(value)


# Checks of the JSON fitted attributes, in the order they run (later ones
# read earlier ones from ``fitted``); the expected shape and extra check of
# each array attribute, with ``n`` the number of standardised channels.
_FITTED_CHECKS = {
    "n_features_in_": _n_features,
    "feature_names_in_": _feature_names,
    "image_shape_": _image_shape,
    "input_shape_": _input_shape,
    "n_iter_": _n_iter,
    "history_": _history,
    "device_": _device,
    "offset_": _offset,
}
_ARRAY_CHECKS = {
    "center_": (lambda n: (n,), None),
    "scale_": (lambda n: (n,), lambda a: (a > 0).all()),
    "data_range_": (lambda n: (2, n), lambda a: (a[0] <= a[1]).all()),
    "validation_scores_": (lambda n: (_ANY_ROWS,), None),
}
_OPTIONAL = {"feature_names_in_", "validation_scores_"}
_ANY_ROWS = -1  # in an expected shape: any positive length (None: a kNN reference)


def _check_fitted(estimator, fitted, array_names):
    """Decode and check the JSON fitted attributes against the whitelist."""
    allowed = set(fitted_attribute_names(estimator))
    stray = sorted(set(fitted) - (allowed - set(_ARRAY_ATTRIBUTES)))
    stray += sorted(array_names - (allowed & set(_ARRAY_ATTRIBUTES)))
    if stray:
        raise ValueError(
            f"{reprlib.repr(stray)} {'is' if len(stray) == 1 else 'are'} not "
            f"a fitted attribute of {type(estimator).__name__} that skcae saves"
        )
    missing = sorted(allowed - _OPTIONAL - set(fitted) - array_names)
    if missing:
        raise ValueError(f"it lacks the fitted attributes {missing}")
    values = {}
    order = [n for n in _FITTED_CHECKS if n in fitted]
    for name in order + [n for n in fitted if n not in _FITTED_CHECKS]:
        value = _decode_entry("fitted attribute", name, fitted[name])
        check = _FITTED_CHECKS.get(name)
        ok = check(value, values) if check else isinstance(value, (int, float, str))
        if not ok:
            raise ValueError(f"invalid fitted attribute {name}={reprlib.repr(value)}")
        values[name] = value
    return values


def _n_standardised(estimator, fitted):
    """Channels (images) or features (rows) of center_, scale_, data_range_."""
    if estimator._takes_images:
        return fitted["image_shape_"][0]
    return fitted["n_features_in_"]


# -- the weights ----------------------------------------------------------------------
def _read_header(buffer):
    """``{name: (dtype, shape)}`` from a safetensors buffer, every offset checked.

    The format: an 8-byte little-endian header length ``n``, ``n`` bytes of
    JSON ``{name: {"dtype", "shape", "data_offsets": [begin, end]}}`` (and an
    optional ``"__metadata__"`` of str), then the data, which the tensors
    must tile exactly.
    """
    if len(buffer) < 8:
        raise ValueError(f"{WEIGHTS_MEMBER} is shorter than its 8-byte header")
    n = int.from_bytes(buffer[:8], "little")
    if n > len(buffer) - 8:
        raise ValueError(
            f"{WEIGHTS_MEMBER} declares a header of {n:,} bytes, past its end"
        )
    header = _parse_json(buffer[8 : 8 + n], f"the header of {WEIGHTS_MEMBER}")
    if not isinstance(header, dict):
        raise ValueError(f"the header of {WEIGHTS_MEMBER} is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(v, str) for v in metadata.values()
    ):
        raise ValueError(f"{WEIGHTS_MEMBER} has invalid metadata")
    data_size = len(buffer) - 8 - n
    specs, spans = {}, []
    for name, entry in header.items():
        if not (
            isinstance(entry, dict)
            and set(entry) == {"dtype", "shape", "data_offsets"}
            and entry["dtype"] in _ST_SIZES
            and isinstance(entry["shape"], list)
            and len(entry["shape"]) <= 8
            and all(map(_is_count, entry["shape"]))
            and isinstance(entry["data_offsets"], list)
            and len(entry["data_offsets"]) == 2
            and all(map(_is_count, entry["data_offsets"]))
        ):
            raise ValueError(
                f"{WEIGHTS_MEMBER} has an invalid header entry for "
                f"{reprlib.repr(name)}: {reprlib.repr(entry)}"
            )
        begin, end = entry["data_offsets"]
        n_bytes = math.prod(entry["shape"]) * _ST_SIZES[entry["dtype"]]
        if not begin <= end <= data_size or end - begin != n_bytes:
            raise ValueError(
                f"{WEIGHTS_MEMBER}: the data offsets {[begin, end]} of "
                f"{reprlib.repr(name)} do not span its {n_bytes:,} bytes within "
                f"the {data_size:,} bytes of data"
            )
        specs[name] = (entry["dtype"], tuple(entry["shape"]))
        spans.append((begin, end))
    position = 0
    for begin, end in sorted(spans):
        if begin != position:
            raise ValueError(f"{WEIGHTS_MEMBER}: the tensors' data overlap or gap")
        position = end
    if position != data_size:
        raise ValueError(f"{WEIGHTS_MEMBER} has data no tensor covers")
    return specs


def _expected_network(estimator):
    """``{name: (dtype, shape)}`` of the network the parameters describe.

    It is built on torch's meta device, which allocates nothing, after the
    sizes of its layer lists are bounded; its size is then bounded by
    ``MAX_PARAMETERS``.
    """
    module_class, kwargs = module_spec(estimator)
    for key, value in kwargs.items():
        if isinstance(value, (tuple, list)) and len(value) > _MAX_LAYERS:
            raise ValueError(f"{key} has {len(value)} entries, more than {_MAX_LAYERS}")
    try:
        with torch.device("meta"):
            module = module_class(**kwargs)
    except Exception as exc:
        raise ValueError(f"the parameters describe no valid network ({exc})") from exc
    state = module.state_dict()
    n_values = sum(t.numel() for t in state.values())
    if n_values > MAX_PARAMETERS:
        raise ValueError(
            f"the parameters describe a network of {n_values:,} values, more than "
            f"MAX_PARAMETERS={MAX_PARAMETERS:,}"
        )
    return {f"net.{k}": (_ST_NAMES[t.dtype], tuple(t.shape)) for k, t in state.items()}


def _expected_score_model(estimator, config, fitted):
    """Check the score model's config against the parameters.

    Returns ``{name: (dtype, shape)}`` of its arrays (``None``: any number
    of reference rows, at most ``MAX_REFERENCES``).
    """
    is_detector = "offset_" in fitted_attribute_names(estimator)
    if not is_detector:
        if config is not None:
            raise ValueError(f"a {type(estimator).__name__} has no score_model")
        return {}
    if config is None:
        raise ValueError("it lacks the score_model of the detector")
    expected = estimator._score_model().config()  # what fit would build
    if set(config) != set(expected) or any(
        config[k] != v or type(config[k]) is not type(v)
        for k, v in expected.items()
        if k != "calibrations"
    ):
        raise ValueError(
            f"the score_model {reprlib.repr(config)} does not match the "
            f"parameters (expected {reprlib.repr(expected)} and calibrations)"
        )
    if expected["score_type"] != "hybrid" and config["calibrations"] != {}:
        raise ValueError(f"score_type={expected['score_type']!r} has no calibrations")
    d = estimator.latent_dim
    s = 2 * _n_standardised(estimator, fitted) if estimator._takes_images else 0
    shapes = {}
    if "latent" in expected["terms"]:
        shapes.update(code_center=(d,), code_whitening=(d, d))
        shapes.update(latent_reference=(None, d))
    if "stats" in expected["terms"]:
        shapes.update(stats_center=(s,), stats_scale=(s,))
        shapes.update(stats_reference=(None, s))
    return {f"score.{k}": ("F64", v) for k, v in shapes.items()}


def _check_tensors(specs, expected):
    """The header's tensors must be the expected ones: names, dtypes, shapes."""
    missing = sorted(set(expected) - set(specs))
    unexpected = sorted(set(specs) - set(expected))
    if missing or unexpected:
        problems = [f"lacks the tensors {reprlib.repr(missing)}"] if missing else []
        if unexpected:
            problems.append(f"has unexpected tensors {reprlib.repr(unexpected)}")
        raise ValueError(f"{WEIGHTS_MEMBER} {' and '.join(problems)}")
    for name, (dtype, shape) in expected.items():
        got_dtype, got_shape = specs[name]
        fits = len(got_shape) == len(shape) and all(
            g == e
            or (e is None and 1 <= g <= MAX_REFERENCES)
            or (e == _ANY_ROWS and g >= 1)
            for g, e in zip(got_shape, shape)
        )
        if got_dtype != dtype or not fits:
            raise ValueError(
                f"{WEIGHTS_MEMBER} holds {name} as {got_dtype} of shape "
                f"{got_shape}; expected {dtype} of shape {shape} (None: 1 to "
                f"{MAX_REFERENCES} rows; {_ANY_ROWS}: any positive length)"
            )


def _load(fileobj, device):
    st = _import_safetensors("skcae.load")
    raw_config, weights = _read_archive(fileobj)
    config = _parse_json(raw_config, CONFIG_MEMBER)
    _check_config(config)
    estimator = _build_estimator(ESTIMATORS[config["class"]], config["params"])
    specs = _read_header(weights)
    array_names = {n[7:] for n in specs if n.startswith("fitted.")}
    fitted = _check_fitted(estimator, config["fitted"], array_names)
    for name, value in fitted.items():  # only whitelisted, checked names
        setattr(estimator, name, value)
    n_std = _n_standardised(estimator, fitted)
    expected = _expected_network(estimator)
    expected.update(_expected_score_model(estimator, config["score_model"], fitted))
    for name in array_names:
        shape = _ARRAY_CHECKS[name][0](n_std)
        dtype = specs[f"fitted.{name}"][0]
        expected[f"fitted.{name}"] = (
            dtype if dtype in ("F32", "F64") else "F64",
            shape,
        )
    _check_tensors(specs, expected)

    tensors = st.load(weights)  # every name, dtype and size is checked above
    for name, tensor in tensors.items():
        if tensor.dtype.is_floating_point and not torch.isfinite(tensor).all():
            raise ValueError(f"{WEIGHTS_MEMBER}'s {name} holds NaN or infinity")
    for name in array_names:
        array = tensors[f"fitted.{name}"].numpy()
        check = _ARRAY_CHECKS[name][1]
        if check is not None and not check(array):
            raise ValueError(f"invalid fitted attribute {name}={reprlib.repr(array)}")
        setattr(estimator, name, array)
    if config["score_model"] is not None:
        arrays = {
            k[6:]: t.numpy() for k, t in tensors.items() if k.startswith("score.")
        }
        try:
            estimator.score_model_ = ScoreModel.from_config(
                config["score_model"],
                arrays,
                latent_dim=estimator.latent_dim,
                n_channels=n_std if estimator._takes_images else 1,
            )
        except Exception as exc:
            raise ValueError(f"invalid score_model ({exc})") from exc
    if device is None:  # the saved device, or the CPU if it is missing here
        try:
            device = resolve_device(estimator.device_)
        except ValueError:
            device = "cpu"
    estimator.device_ = device
    history = _check_history(config["net_history"])
    state = {k[4:]: t for k, t in tensors.items() if k.startswith("net.")}
    try:
        restore_network(estimator, state, history)
    except Exception as exc:
        raise ValueError(f"the network cannot be rebuilt ({exc!r})") from exc
    return estimator


def _check_history(history):
    """The skorch history: a list of str-keyed dicts (epochs, batches)."""
    if history is None:
        return None
    for epoch in history:
        if not isinstance(epoch, dict) or not isinstance(
            epoch.get("batches", []), list
        ):
            raise ValueError("net_history must be a list of epoch dicts")
        if not all(isinstance(b, dict) for b in epoch.get("batches", [])):
            raise ValueError("net_history's batches must be dicts")
    return history


def load(path, *, device=None):
    """Load an estimator saved by :func:`save`, treating the file as untrusted.

    Nothing in the file is unpickled or run. Every size is bounded before
    it is read or allocated (``MAX_CONFIG_BYTES``, ``MAX_WEIGHTS_BYTES``,
    ``MAX_PARAMETERS``), the parameters are validated as :meth:`fit` does,
    only the documented fitted attributes are set, each checked for type,
    shape and finiteness, and the weights must have exactly the names,
    dtypes and shapes of the network the parameters describe.

    Read more in the :ref:`User Guide <persistence>`.

    Parameters
    ----------
    path : str, path-like or binary file-like object
        A file written by :func:`save`; a file object must be seekable.
    device : str, default=None
        Torch device for the loaded network ("cpu", "cuda", "auto"); None
        uses the device it was saved from, or the CPU if that one is not
        available here. Sets ``device_``, not the ``device`` parameter.

    Returns
    -------
    estimator : skcae estimator
        Fitted, scoring exactly as the saved one on the same device, with
        ``callbacks=None`` (see :func:`save`).

    Raises
    ------
    ValueError
        For any file that is not a valid skcae file, whatever is wrong with
        it: not a zip, truncated, members missing, extra or too large,
        invalid JSON, a class that is not one of skcae's estimators, invalid
        parameters, fitted attributes of the wrong type or shape, weights
        that do not fit the parameters, an inconsistent score model, or a
        file format version other than this skcae's (files of skcae's
        format version 1 must be refitted and saved again). Also for an
        unknown or unavailable ``device``.
    OSError
        If ``path`` is a path that cannot be opened.

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
    >>> skcae.load(io.BytesIO(b"not a zip"))
    Traceback (most recent call last):
    ...
    ValueError: Cannot load the given file object: it is not a readable zip ...
    """
    if device is not None:
        device = resolve_device(device)
    if isinstance(path, (str, os.PathLike)):
        where = repr(os.fspath(path))
        fileobj = open(path, "rb")
    else:
        where, fileobj = "the given file object", path
    try:
        return _load(fileobj, device)
    except ValueError as exc:
        raise ValueError(f"Cannot load {where}: {exc}.") from exc
    except Exception as exc:  # anything else a hostile file may provoke
        raise ValueError(
            f"Cannot load {where}: it is not a valid skcae file ({exc!r})."
        ) from exc
    finally:
        if fileobj is not path:
            fileobj.close()


__all__ = ["load", "save"]
