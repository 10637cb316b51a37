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
import os
import reprlib
import zipfile

import numpy as np
import torch

from ._tuning import MAX_REFERENCES

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
# safetensors dtype names of torch dtypes.
_ST_NAMES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16"}
_ST_NAMES |= {torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32"}
_ST_NAMES |= {torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8"}
_ST_NAMES |= {torch.bool: "BOOL"}
#: In an expected tensor shape: any positive length (``None``: a kNN
#: reference, 1 to ``MAX_REFERENCES`` rows).
ANY_ROWS = -1


# -- the zip archive -------------------------------------------------------------------


def _short(exc, text=str, limit=160):
    """An exception's message, cut to ``limit`` characters: zipfile quotes a
    garbled local header's raw bytes (hundreds of escaped characters)."""
    message = text(exc)
    if message.startswith("File name in directory"):
        return "its local header does not match the archive's directory"
    return message if len(message) <= limit else message[: limit - 3] + "..."


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
        fileobj.seek(0)
        if fileobj.read(1) == b"\x80":  # pickle's protocol opcode
            raise ValueError(
                "it starts like a pickle (as joblib.dump or pickle.dump write), "
                "not a file of skcae.save: skcae.load never unpickles, which "
                "can run any code. Expected a file skcae.save wrote; load a "
                "pickle you trust with joblib.load, then skcae.save it"
            ) from exc
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
                raise ValueError(
                    f"{info.filename} is corrupted ({_short(exc)})"
                ) from exc
            except Exception as exc:  # zlib.error, NotImplementedError, ...
                raise ValueError(
                    f"{info.filename} is unreadable ({_short(exc, repr)})"
                ) from exc
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
def open_safetensors(buffer, what, folder):
    """The safetensors library's reader of ``buffer`` (written to a file in
    ``folder``, which it maps): a ``safe_open`` handle, whose header (names,
    dtypes, shapes, offsets tiling the data) the library has checked, and
    nothing read yet. ValueError for anything the library refuses."""
    from safetensors import safe_open

    path = os.path.join(folder, "model.safetensors")
    with open(path, "wb") as f:
        f.write(buffer)
    try:
        return safe_open(path, framework="pt")
    except Exception as exc:  # SafetensorError, OSError
        raise ValueError(f"{what} is not a valid safetensors file ({exc})") from exc


def header_specs(handle):
    """``{name: (dtype, shape)}`` of an open safetensors file (no data read)."""
    specs = {}
    for name in handle.keys():
        view = handle.get_slice(name)
        specs[name] = (view.get_dtype(), tuple(view.get_shape()))
    return specs


def state_specs(module, max_parameters, row_buffers=()):
    """``{name: (dtype, shape)}`` of ``module``'s state (an empty build on
    the meta device), its size bounded by ``max_parameters`` (named
    ``MAX_PARAMETERS`` in the error). The buffers named in ``row_buffers``
    have any number of rows (their first length is None)."""
    state = module.state_dict()
    n_values = sum(t.numel() for t in state.values())
    if n_values > max_parameters:
        raise ValueError(
            f"the parameters describe a network of {n_values:,} values, more than "
            f"MAX_PARAMETERS={max_parameters:,}"
        )
    return {
        k: (
            _ST_NAMES[t.dtype],
            (None, *t.shape[1:]) if k in row_buffers else tuple(t.shape),
        )
        for k, t in state.items()
    }


def check_tensors(specs, expected, what, groups=()):
    """The header's tensors must be the expected ones: names, dtypes, shapes
    (an expected length ``None``: 1 to ``MAX_REFERENCES`` rows; ``ANY_ROWS``:
    any). The tensors of each group in ``groups`` have equal row counts."""
    missing = sorted(set(expected) - set(specs))
    unexpected = sorted(set(specs) - set(expected))
    if missing or unexpected:
        names = reprlib.Repr()
        names.maxlist, names.maxstring = 10, 120
        problems = [f"lacks the tensors {names.repr(missing)}"] if missing else []
        if unexpected:
            problems.append(f"has unexpected tensors {names.repr(unexpected)}")
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
    for group in groups:
        rows = {specs[name][1][0] for name in group}
        if len(rows) > 1:
            raise ValueError(
                f"{what} holds {sorted(group)} with different numbers of rows "
                f"{sorted(rows)}; expected one per reference"
            )


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
    """X's shape per sample at fit: a layout of ``image_shape_`` (C, H, W)
    that fit can give (flat, H x W for one channel, C x H x W, H x W x C),
    as it shapes what the estimator returns in the input's form."""
    if not (
        _is_shape(value, (1, 2, 3)) and math.prod(value) == fitted["n_features_in_"]
    ):
        return False
    image = fitted.get("image_shape_")
    if image is None:
        return True
    c, h, w = image
    layouts = {(c * h * w,), (c, h, w), (h, w, c)} | ({(h, w)} if c == 1 else set())
    return tuple(value) in layouts


def _data_format(value, fitted):
    return value in (None, "channels_first", "channels_last")


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
    "data_format_": _data_format,
    "n_iter_": _n_iter,
    "history_": _history,
    "device_": _device,
    "offset_": _offset,
}
#: The fitted float arrays saved as tensors (beside the model's state).
ARRAY_ATTRIBUTES = ("validation_scores_",)
#: (``data_format_`` is written only where it differs from the saved
#: ``data_format`` parameter, in a file of version 10 or later; elsewhere, and in files
#: written before it was kept, the loaded model's is that parameter.)
_OPTIONAL = {"feature_names_in_", "validation_scores_", "data_format_"}


def check_fitted(estimator, fitted, array_names):
    """Decode and check the JSON fitted attributes against the whitelist.

    With the saved fitted arrays (``array_names``) they must be those of
    the estimator's ``_saved_attributes()`` (but the optional ones).
    """
    allowed = set(type(estimator)._saved_attributes())
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
