"""Readers and checks of untrusted files, for :func:`skcae.load`.

Nothing here trusts its input: every size is bounded before it is read or
allocated, and anything unexpected raises ValueError saying what is wrong.
:mod:`skcae._persistence` holds the file format and runs these in order:
bounded zip members (:func:`read_members`); JSON (:func:`parse_json`) and
the config's tagged values (:func:`encode_value`, :func:`decode_value`);
the safetensors header (:func:`read_safetensors_header`) against the
tensors expected of the network (:func:`module_tensors`, on torch's meta
device), the score model and the fitted arrays (:func:`check_tensors`);
and the fitted attributes (:data:`FITTED_CHECKS`, :func:`check_fitted`).
"""

import io
import json
import math
import reprlib
import zipfile

import numpy as np
import torch

from ._base import fitted_attribute_names
from ._outlier import score_model_for
from ._score_model import MAX_REFERENCES, ScoreModel

#: Largest ``n_features_in_`` (values per sample) that a file may declare.
MAX_FEATURES = 2**31 - 1
_MAX_DEPTH = 32  # nesting of tagged JSON values
_MAX_LAYERS = 64  # entries of channels / hidden_layer_sizes
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
#: In an expected tensor shape: any positive length (``None``: a kNN
#: reference, 1 to ``MAX_REFERENCES`` rows).
ANY_ROWS = -1


# -- the zip archive -------------------------------------------------------------------
def read_members(fileobj, limits, max_file_bytes):
    """``{name: bytes}`` of a zip holding exactly the members ``limits`` names.

    ``limits``: ``{name: largest uncompressed size}``, enforced whatever a
    member's header declares; the whole file takes at most ``max_file_bytes``.
    """
    size = fileobj.seek(0, io.SEEK_END)
    fileobj.seek(0)
    if size > max_file_bytes:
        raise ValueError(f"it is {size:,} bytes, larger than any skcae file")
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ValueError(f"it is not a readable zip archive ({exc})") from exc
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
    return members


# -- JSON and its tagged values -------------------------------------------------------
class NotJSON(TypeError):
    """A value that the config cannot represent."""


def parse_json(raw, what):
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


def encode_value(value):
    """``value`` as JSON data, tagging types JSON lacks; raise NotJSON if none.

    >>> encode_value((1, np.float32(0.5)))
    {'tuple': [1, {'ndarray': 0.5, 'dtype': '<f4', 'shape': []}]}
    >>> decode_value(encode_value({"a": (1, 2)}))
    {'a': (1, 2)}
    """
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
            raise NotJSON(f"an array of dtype {array.dtype}")
        return {"ndarray": array.tolist(), "dtype": dtype, "shape": list(array.shape)}
    if isinstance(value, tuple):
        return {"tuple": [encode_value(v) for v in value]}
    if isinstance(value, list):
        return [encode_value(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise NotJSON("a dict with keys that are not str")
        return {"dict": {k: encode_value(v) for k, v in value.items()}}
    if (
        isinstance(value, type)
        and issubclass(value, torch.optim.Optimizer)
        and value is not torch.optim.Optimizer
        and getattr(torch.optim, value.__name__, None) is value
    ):
        return {"torch_optimizer": value.__name__}
    raise NotJSON(f"a {type(value).__module__}.{type(value).__qualname__}")


def decode_value(data, depth=0):
    """Invert :func:`encode_value`; raise ValueError on anything it cannot produce."""
    if depth > _MAX_DEPTH:
        raise ValueError(f"a value is nested more than {_MAX_DEPTH} levels deep")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode_value(v, depth + 1) for v in data]
    if not isinstance(data, dict):
        raise ValueError(f"unexpected JSON value {reprlib.repr(data)}")
    keys = set(data)
    if keys == {"tuple"} and isinstance(data["tuple"], list):
        return tuple(decode_value(v, depth + 1) for v in data["tuple"])
    if keys == {"dict"} and isinstance(data["dict"], dict):
        return {k: decode_value(v, depth + 1) for k, v in data["dict"].items()}
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
    if not (isinstance(shape, list) and len(shape) <= 8 and all(map(is_count, shape))):
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


def decode_entry(what, name, data):
    """:func:`decode_value`, naming the entry (``what name``) in errors."""
    try:
        return decode_value(data)
    except ValueError as exc:
        raise ValueError(f"{what} {name}: {exc}") from exc


# -- safetensors -----------------------------------------------------------------------
def read_safetensors_header(buffer, what):
    """``{name: (dtype, shape)}`` from a safetensors buffer, every offset checked.

    The format: an 8-byte little-endian header length ``n``, ``n`` bytes of
    JSON ``{name: {"dtype", "shape", "data_offsets": [begin, end]}}`` (and an
    optional ``"__metadata__"`` of str), then the data, which the tensors
    must tile exactly. ``what`` names the buffer in errors.
    """
    if len(buffer) < 8:
        raise ValueError(f"{what} is shorter than its 8-byte header")
    n = int.from_bytes(buffer[:8], "little")
    if n > len(buffer) - 8:
        raise ValueError(f"{what} declares a header of {n:,} bytes, past its end")
    header = parse_json(buffer[8 : 8 + n], f"the header of {what}")
    if not isinstance(header, dict):
        raise ValueError(f"the header of {what} is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(v, str) for v in metadata.values()
    ):
        raise ValueError(f"{what} has invalid metadata")
    data_size = len(buffer) - 8 - n
    specs, spans = {}, []
    for name, entry in header.items():
        if not (
            isinstance(entry, dict)
            and set(entry) == {"dtype", "shape", "data_offsets"}
            and entry["dtype"] in _ST_SIZES
            and isinstance(entry["shape"], list)
            and len(entry["shape"]) <= 8
            and all(map(is_count, entry["shape"]))
            and isinstance(entry["data_offsets"], list)
            and len(entry["data_offsets"]) == 2
            and all(map(is_count, entry["data_offsets"]))
        ):
            raise ValueError(
                f"{what} has an invalid header entry for "
                f"{reprlib.repr(name)}: {reprlib.repr(entry)}"
            )
        begin, end = entry["data_offsets"]
        n_bytes = math.prod(entry["shape"]) * _ST_SIZES[entry["dtype"]]
        if not begin <= end <= data_size or end - begin != n_bytes:
            raise ValueError(
                f"{what}: the data offsets {[begin, end]} of "
                f"{reprlib.repr(name)} do not span its {n_bytes:,} bytes within "
                f"the {data_size:,} bytes of data"
            )
        specs[name] = (entry["dtype"], tuple(entry["shape"]))
        spans.append((begin, end))
    position = 0
    for begin, end in sorted(spans):
        if begin != position:
            raise ValueError(f"{what}: the tensors' data overlap or gap")
        position = end
    if position != data_size:
        raise ValueError(f"{what} has data no tensor covers")
    return specs


def module_tensors(module_class, kwargs, max_parameters):
    """``{name: (dtype, shape)}`` of the state of ``module_class(**kwargs)``.

    The module is built on torch's meta device, which allocates nothing,
    after the sizes of its layer lists are bounded; its size is then bounded
    by ``max_parameters`` (named ``MAX_PARAMETERS`` in the error).
    """
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
    if n_values > max_parameters:
        raise ValueError(
            f"the parameters describe a network of {n_values:,} values, more than "
            f"MAX_PARAMETERS={max_parameters:,}"
        )
    return {k: (_ST_NAMES[t.dtype], tuple(t.shape)) for k, t in state.items()}


def check_tensors(specs, expected, what):
    """The header's tensors must be the expected ones: names, dtypes, shapes
    (an expected length ``None``: 1 to ``MAX_REFERENCES``; ``ANY_ROWS``: any)."""
    missing = sorted(set(expected) - set(specs))
    unexpected = sorted(set(specs) - set(expected))
    if missing or unexpected:
        problems = [f"lacks the tensors {reprlib.repr(missing)}"] if missing else []
        if unexpected:
            problems.append(f"has unexpected tensors {reprlib.repr(unexpected)}")
        raise ValueError(f"{what} {' and '.join(problems)}")
    for name, (dtype, shape) in expected.items():
        got_dtype, got_shape = specs[name]
        fits = len(got_shape) == len(shape) and all(
            g == e
            or (e is None and 1 <= g <= MAX_REFERENCES)
            or (e == ANY_ROWS and g >= 1)
            for g, e in zip(got_shape, shape)
        )
        if got_dtype != dtype or not fits:
            raise ValueError(
                f"{what} holds {name} as {got_dtype} of shape "
                f"{got_shape}; expected {dtype} of shape {shape} (None: 1 to "
                f"{MAX_REFERENCES} rows; {ANY_ROWS}: any positive length)"
            )


def score_model_tensors(estimator, config, n_channels):
    """Check the score model's config against the parameters.

    Returns ``{name: (dtype, shape)}`` of its arrays (``None``: any number
    of reference rows, at most ``MAX_REFERENCES``), with ``n_channels`` the
    image channels of the image-statistics term.
    """
    is_detector = "offset_" in fitted_attribute_names(estimator)
    if not is_detector:
        if config is not None:
            raise ValueError(f"a {type(estimator).__name__} has no score_model")
        return {}
    if config is None:
        raise ValueError("it lacks the score_model of the detector")
    expected = score_model_for(estimator).config()  # what fit would build
    if set(config) != set(expected) or any(
        config[k] != v or type(config[k]) is not type(v)
        for k, v in expected.items()
        if k not in ("calibrations", "unit")
    ):
        raise ValueError(
            f"the score_model {reprlib.repr(config)} does not match the "
            f"parameters (expected {reprlib.repr(expected)} and calibrations)"
        )
    if expected["score_type"] != "hybrid" and config["calibrations"] != {}:
        raise ValueError(f"score_type={expected['score_type']!r} has no calibrations")
    shapes = ScoreModel.array_shapes(
        expected["terms"], latent_dim=estimator.latent_dim, n_channels=n_channels
    )
    return {
        k: ("F64", (None, v) if isinstance(v, int) else v) for k, v in shapes.items()
    }


# -- fitted attributes ----------------------------------------------------------------
def is_count(value):
    """A non-negative int (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_shape(value, lengths):
    return (
        isinstance(value, tuple)
        and len(value) in lengths
        and all(is_count(v) and v >= 1 for v in value)
    )


def _is_real(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _n_features(value, fitted):
    return is_count(value) and 1 <= value <= MAX_FEATURES


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
    return is_count(value) and value >= 1


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


#: Checks ``check(value, fitted)`` of the JSON fitted attributes, in the
#: order they run (later ones read earlier ones from ``fitted``).
FITTED_CHECKS = {
    "n_features_in_": _n_features,
    "feature_names_in_": _feature_names,
    "image_shape_": _image_shape,
    "input_shape_": _input_shape,
    "n_iter_": _n_iter,
    "history_": _history,
    "device_": _device,
    "offset_": _offset,
}
#: The fitted float arrays (saved as tensors): ``(shape(n), check(array))``
#: of each, with ``n`` the number of standardised channels (or features).
ARRAY_CHECKS = {
    "center_": (lambda n: (n,), None),
    "scale_": (lambda n: (n,), lambda a: (a > 0).all()),
    "data_range_": (lambda n: (2, n), lambda a: (a[0] <= a[1]).all()),
    "validation_scores_": (lambda n: (ANY_ROWS,), None),
}
ARRAY_ATTRIBUTES = tuple(ARRAY_CHECKS)
_OPTIONAL = {"feature_names_in_", "validation_scores_"}


def check_fitted(estimator, fitted, array_names):
    """Decode and check the JSON fitted attributes against the whitelist.

    With the saved fitted arrays (``array_names``) they must be those of
    :func:`~skcae._base.fitted_attribute_names` (but the optional ones).
    """
    allowed = set(fitted_attribute_names(estimator))
    stray = sorted(set(fitted) - (allowed - set(ARRAY_ATTRIBUTES)))
    stray += sorted(array_names - (allowed & set(ARRAY_ATTRIBUTES)))
    if stray:
        raise ValueError(
            f"{reprlib.repr(stray)} {'is' if len(stray) == 1 else 'are'} not "
            f"a fitted attribute of {type(estimator).__name__} that skcae saves"
        )
    missing = sorted(allowed - _OPTIONAL - set(fitted) - array_names)
    if missing:
        raise ValueError(f"it lacks the fitted attributes {missing}")
    values = {}
    order = [n for n in FITTED_CHECKS if n in fitted]
    for name in order + [n for n in fitted if n not in FITTED_CHECKS]:
        value = decode_entry("fitted attribute", name, fitted[name])
        check = FITTED_CHECKS.get(name)
        ok = check(value, values) if check else isinstance(value, (int, float, str))
        if not ok:
            raise ValueError(f"invalid fitted attribute {name}={reprlib.repr(value)}")
        values[name] = value
    return values


def fitted_array_tensors(dtypes, n_std):
    """``{name: (dtype, shape)}`` expected of the saved fitted arrays.

    ``dtypes`` maps each one's name to its saved dtype, kept if it is F32
    or F64; the shapes follow from ``n_std`` (see :data:`ARRAY_CHECKS`).
    """
    return {
        name: (
            dtype if dtype in ("F32", "F64") else "F64",
            ARRAY_CHECKS[name][0](n_std),
        )
        for name, dtype in dtypes.items()
    }


def check_fitted_arrays(arrays):
    """Check the values of the fitted arrays ``{name: ndarray}``; return them."""
    for name, array in arrays.items():
        check = ARRAY_CHECKS[name][1]
        if check is not None and not check(array):
            raise ValueError(f"invalid fitted attribute {name}={reprlib.repr(array)}")
    return arrays


def check_history(history):
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
