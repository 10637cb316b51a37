"""Safe persistence: :func:`save` and :func:`load` without pickle.

File format (version 11 where the score has the per-pixel "range" term, the
hybrid image score's; else 10 where ``fitted`` holds ``data_format_``, a
layout set since fit; else 9; see ``_PLAIN_VERSION``): one zip archive holding
exactly two members,

``config.json``
    ``{"format": "skcae", "format_version": 11, "class": <class name>,
    "params": <get_params(deep=False)>, "fitted": <small fitted attributes>,
    "net_history": <the skorch history, or null>, "versions": {...}}``.
    Values that JSON has no type for are tagged one-key objects:
    ``{"tuple": [...]}``, ``{"dict": {...}}``, ``{"ndarray": [...], "dtype":
    "<f8", "shape": [...]}`` (numpy scalars have shape ``[]``) and
    ``{"torch_optimizer": "AdamW"}``.
``model.safetensors``
    The fitted model's ``state_dict()`` (``scorer_`` of a detector,
    ``model_`` of the transformer: the standardisation, the network, the
    score's references, whitening and calibrations) under ``model.<name>``,
    and ``validation_scores_`` under ``fitted.validation_scores_``, in the
    `safetensors <https://huggingface.co/docs/safetensors>`_ format.

:func:`load` treats the file as untrusted. It parses JSON and safetensors
only, never pickle; it bounds every size before reading or allocating
(members, JSON nesting, the model's size, each tensor's shape, checked
against an empty build of the model that the saved parameters describe, on
torch's meta device, and at most ``MAX_REFERENCES`` reference rows); it
sets only the documented fitted attributes, each checked for type, shape
and finiteness, and every buffer of the model is checked for values that
``fit`` can give; whatever is wrong with the file, it raises ValueError.

The readers and checks of the untrusted file (bounded zip members, JSON and
its tagged values, the fitted attributes) live in :mod:`skcae._safe_files`;
this module holds the format, :func:`save`, and the order in which
:func:`load` runs those checks.
"""

import dataclasses
import io
import json
import os
import reprlib
import tempfile
import zipfile

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from . import _safe_files as safe
from ._base import ESTIMATORS
from ._files import atomic_write
from ._knn_terms import capped_neighbors, density_features_changed
from ._restore import build_estimator, materialize, model_specs, restore_net
from ._sklearn_compat import has_output_config
from ._training import resolve_device
from ._tuning import RELIABLE_REFERENCES
from ._warn import warn_user

FORMAT = "skcae"
FORMAT_VERSION = 12
#: The version a file is written in: 12 where its hybrid image score's
#: density term reads the pixels (images of at most 8x8 pixels, whose
#: density and range terms weigh PIXEL_DENSITY_WEIGHTS since version 12),
#: else 11 where its score has the per-pixel "range" term (the hybrid
#: image score since version 11, which version 9 and 10 readers do not
#: score), else 10 where it holds
#: ``data_format_`` (a fitted layout that ``data_format`` set since differs
#: from, which version 9 readers would not honour), else 9, which every
#: reader since version 9 reads the same.
_PIXEL_DENSITY_VERSION = 12
_RANGE_VERSION = 11
_LAYOUT_VERSION = 10
_PLAIN_VERSION = 9
#: The oldest version read: version 4 to 7 files (the same layout) still
#: load, unless this skcae scores them otherwise (version 5 widened the
#: density term under a float contamination, version 6 gave it other
#: features for small images, version 7 gave the kNN terms of a hybrid
#: score their full weight below _OLD_FULL_WEIGHT references and capped the
#: density term's neighbours at a twentieth of its references; version 8
#: holds up to 30,000 references where 7 held 10,000, and scores version 7
#: files as before; version 9 replaced the hybrid image score's mean
#: squared error term by the "residual" term, so older files of that score
#: must be refitted; version 11 added the "range" term to it, so version 9
#: and 10 files of that score must be refitted too; version 12 weighs the
#: density and range terms of 8x8 images more, so version 11 files of
#: those must be refitted).
_OLDEST_READ = 4
#: Before version 7 a kNN term of the hybrid score with fewer references
#: than this got references / _OLD_FULL_WEIGHT of its weight.
_OLD_FULL_WEIGHT = 1_000
CONFIG_MEMBER = "config.json"
WEIGHTS_MEMBER = "model.safetensors"
#: Largest ``config.json`` (uncompressed bytes) that :func:`load` reads.
MAX_CONFIG_BYTES = 16 * 2**20
#: Largest ``model.safetensors`` (uncompressed bytes) that :func:`load` reads.
MAX_WEIGHTS_BYTES = 2**30
#: Largest model (network parameters and buffers, the references excluded)
#: that :func:`load` builds.
MAX_PARAMETERS = 50_000_000
_MAX_FILE_BYTES = MAX_CONFIG_BYTES + MAX_WEIGHTS_BYTES + 2**20  # zip overhead
_TOP_LEVEL = {"format", "format_version", "class", "params", "fitted"}
_TOP_LEVEL |= {"net_history", "versions"}


def _import_safetensors(caller):
    try:
        import safetensors.torch
    except ImportError as exc:
        raise ImportError(
            f"{caller} requires safetensors, a dependency of skcae that is "
            "missing here. Install it with: pip install safetensors"
        ) from exc
    return safetensors.torch


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
        warn_user(
            f"The training history (net_.history) of {type(estimator).__name__} "
            "holds values JSON cannot represent and is not saved; the loaded "
            "estimator's net_.history is empty (history_ is kept).",
            UserWarning,
        )
        return None


def _params(estimator):
    params = {}
    for name, value in estimator.get_params(deep=False).items():
        if name == "callbacks":  # they only matter for fitting
            params[name] = None
            continue
        try:
            params[name] = safe.encode_value(value)
        except safe.NotJSON as exc:
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
    for name in type(estimator)._saved_attributes():
        if not hasattr(estimator, name):
            continue
        if name == "data_format_" and estimator.data_format_ == getattr(
            estimator, "data_format", None
        ):
            continue  # the saved parameter: a version 9 file reads it so
        value = getattr(estimator, name)
        if name in safe.ARRAY_ATTRIBUTES:
            if not (isinstance(value, np.ndarray) and value.dtype.kind == "f"):
                raise ValueError(
                    f"Cannot save {name}={reprlib.repr(value)}: "
                    "expected a float ndarray."
                )
            arrays[f"fitted.{name}"] = torch.from_numpy(np.ascontiguousarray(value))
        elif name in safe.FITTED_CHECKS or isinstance(value, (bool, int, float, str)):
            fitted[name] = safe.encode_value(value)
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
        network is larger than :func:`load` accepts (``MAX_PARAMETERS``),
        or its weights and references (``MAX_WEIGHTS_BYTES``), in which
        case nothing is written; and if a parameter that shapes the model
        (``score_type``, ``n_neighbors``, ``contamination``, ``channels``
        ...) was changed with ``set_params`` since ``fit``: :func:`load`
        rebuilds the model from the saved parameters, so it would score
        differently.
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
            f"skcae's estimators: {sorted(ESTIMATORS)}. For a Pipeline, save its "
            "skcae step (skcae.save(pipe[-1], path)) and its other steps with "
            "joblib.dump, or the whole Pipeline with joblib.dump (a pickle: load "
            "only files you trust)."
        )
    check_is_fitted(estimator)
    st = _import_safetensors("skcae.save")
    state = estimator._fitted()
    model = state[cls._model_attribute]
    _check_unchanged_since_fit(estimator, state, model)
    n_values = sum(t.numel() for t in model.network.state_dict().values())
    if n_values > MAX_PARAMETERS:
        raise ValueError(
            f"Cannot save a network of {n_values:,} values: skcae.load accepts "
            f"at most MAX_PARAMETERS={MAX_PARAMETERS:,}; save it with "
            "pickle/joblib instead."
        )
    if has_output_config(estimator):
        warn_user(
            "The set_output configuration is not saved; call set_output again "
            "on the loaded estimator.",
            UserWarning,
        )
    fitted, tensors = _fitted(estimator)
    tensors.update(
        (f"model.{k}", t.detach().cpu().contiguous().clone())
        for k, t in model.state_dict().items()
    )
    version = _file_version(model, fitted)
    config = {
        "format": FORMAT,
        "format_version": version,
        "class": cls.__name__,
        "params": _params(estimator),
        "fitted": fitted,
        "net_history": _net_history(estimator),
        "versions": _versions(),
    }
    text = json.dumps(config, indent=1).encode("utf-8")
    if len(text) > MAX_CONFIG_BYTES and config["net_history"]:
        warn_user(
            "The training history is too long to save whole; its per-batch "
            "records (net_.history[:, 'batches']) are left out.",
            UserWarning,
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
    if len(weights) > MAX_WEIGHTS_BYTES:  # e.g. 30,000 references of wide codes
        raise ValueError(
            f"Cannot save: the weights would take {len(weights):,} bytes, more "
            f"than skcae.load reads (MAX_WEIGHTS_BYTES={MAX_WEIGHTS_BYTES:,}); "
            "save with pickle/joblib instead."
        )

    def write(fileobj):
        with zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(CONFIG_MEMBER, text)
            zf.writestr(WEIGHTS_MEMBER, weights)

    if isinstance(path, (str, os.PathLike)):
        atomic_write(path, write)
    else:
        _check_binary_writer(path)
        # zipped in memory first: zipfile seeks back in its output, which
        # a stream may refuse (GzipFile: "Negative seek in write mode")
        buffer = io.BytesIO()
        write(buffer)
        path.write(buffer.getvalue())


def _text_mode(fileobj):
    """Whether ``fileobj`` is a text-mode file object: a TextIOBase, or no
    binary stream of io's with a mode string lacking "b" (a zip member,
    binary with the mode 'r', and a GzipFile, whose mode is an int, are
    binary streams)."""
    if isinstance(fileobj, io.TextIOBase):
        return True
    if isinstance(fileobj, (io.BufferedIOBase, io.RawIOBase)):
        return False
    mode = getattr(fileobj, "mode", None)
    return isinstance(mode, str) and "b" not in mode


def _check_binary_writer(target):
    """TypeError unless ``target`` is a file object that takes bytes (a
    text-mode file gave zipfile's "write() argument must be str")."""
    if not hasattr(target, "write"):
        raise TypeError(
            f"Got {type(target).__name__} as the place to save to; expected a "
            "path (str or pathlib.Path) or a binary file object (open(path, "
            "'wb'), io.BytesIO())."
        )
    if _text_mode(target):
        raise TypeError(
            "Got a text-mode file object to save to; expected a binary one "
            "(open(path, 'wb'), io.BytesIO()): a saved model is a zip file."
        )


# -- loading ---------------------------------------------------------------------------
class NotAModelSource(TypeError, ValueError):
    """:func:`load` was given neither a path nor a binary file object: a
    TypeError, and a ValueError as every other refusal of :func:`load` is."""


def _check_binary_reader(source):
    """:class:`NotAModelSource` unless ``source`` is a file object that gives
    bytes (bytes, None or a number were blamed on the file: "it is not a
    valid skcae file (AttributeError(...seek...))"; a text-mode file raised
    a decode error)."""
    start = "Cannot load the given file object: got"
    if isinstance(source, (bytes, bytearray, memoryview)):
        raise NotAModelSource(
            f"{start} {type(source).__name__}; expected a path (str or "
            "pathlib.Path) or a binary file object: for a saved model's bytes, "
            "pass io.BytesIO(data)."
        )
    if not (hasattr(source, "read") and hasattr(source, "seek")):
        raise NotAModelSource(
            f"{start} {type(source).__name__}; expected a path (str or "
            "pathlib.Path) or a seekable binary file object (open(path, 'rb'), "
            "io.BytesIO(data))."
        )
    if _text_mode(source):
        raise NotAModelSource(
            f"{start} a text-mode file; expected a binary one (open(path, 'rb'), "
            "io.BytesIO(data)): a saved model is a zip file."
        )


def _density_widened(config):
    """Whether version 5 scores the estimator of ``config`` otherwise than
    version 4 did: a density term under a float contamination."""
    params = config.get("params")
    cls = (
        ESTIMATORS.get(config.get("class"))
        if isinstance(config.get("class"), str)
        else None
    )
    if cls is None or not isinstance(params, dict):
        return False
    terms = getattr(cls, "_score_terms", {}).get(params.get("score_type"), ())
    # any value but "auto" is a rate (numpy scalars are saved as tagged dicts)
    contamination = params.get("contamination", "auto")
    return "density" in terms and contamination not in ("auto", None)


def _written_by(config):
    """The skcae version that wrote ``config``, or None."""
    versions = config.get("versions")
    return versions.get("skcae") if isinstance(versions, dict) else None


def _check_density_features(config, model):
    """ValueError for a file older than version 6 whose density term
    version 6 computes from other features (small images, see
    :func:`~skcae._knn_terms.density_features_changed`)."""
    version = config["format_version"]
    terms = getattr(model, "terms", {})
    if version >= 6 or "density" not in terms:
        return
    if not density_features_changed(model.config):
        return
    shape = "x".join(map(str, dict(model.config.module_kwargs)["input_shape"][1:]))
    raise ValueError(
        f"it was written by an older skcae ({_written_by(config)!r}, file "
        f"format version {version}) for {shape} images, whose density term "
        "this skcae computes from other features (the pixels of images up to "
        "8x8 pixels a side, the unpooled maps where the first encoder block's "
        "maps have a side of 8 pixels or less). Refit the estimator with this "
        "skcae and save it again"
    )


def _check_residual_term(config, model):
    """ValueError for a file older than version 9 whose score has the
    "residual" term here: its hybrid image score had the mean squared error
    in that term's place (the file holds no pixel weights)."""
    version = config["format_version"]
    if version >= 9 or "residual" not in getattr(model, "terms", {}):
        return
    raise ValueError(
        f"it was written by an older skcae ({_written_by(config)!r}, file "
        f"format version {version}) whose hybrid score had the mean squared "
        "error term where this skcae has the per-pixel 'residual' term (file "
        "format version 9). Refit the estimator with this skcae and save it "
        "again"
    )


def _file_version(model, fitted):
    """The format version a file of ``model`` and ``fitted`` is written in
    (see ``_PLAIN_VERSION``): the oldest that scores it as fitted."""
    if getattr(model, "weighs_pixel_density", False):
        return _PIXEL_DENSITY_VERSION
    if "range" in getattr(model, "terms", {}):
        return _RANGE_VERSION
    return _LAYOUT_VERSION if "data_format_" in fitted else _PLAIN_VERSION


def _check_range_term(config, model):
    """ValueError for a file older than version 11 whose score has the
    per-pixel "range" term here: its hybrid image score lacked that term
    (the file holds no pixel ranges)."""
    version = config["format_version"]
    if version >= _RANGE_VERSION or "range" not in getattr(model, "terms", {}):
        return
    raise ValueError(
        f"it was written by an older skcae ({_written_by(config)!r}, file "
        f"format version {version}) whose hybrid score lacked the per-pixel "
        "'range' term this skcae adds to it (file format version 11). Refit "
        "the estimator with this skcae and save it again"
    )


def _check_pixel_density_weights(config, model):
    """ValueError for a version 11 file whose hybrid image score reads the
    pixels in its density term: its density and range terms weighed
    less before version 12 (the weights are this skcae's, not the
    file's)."""
    version = config["format_version"]
    if version >= _PIXEL_DENSITY_VERSION or not getattr(
        model, "weighs_pixel_density", False
    ):
        return
    raise ValueError(
        f"it was written by an older skcae ({_written_by(config)!r}, file "
        f"format version {version}) whose hybrid score of images of at most "
        "8x8 pixels weighed its density and range terms less than this "
        "skcae does (file format version 12). Refit the estimator with this "
        "skcae and save it again"
    )


def _check_scored_alike(config, model, specs):
    """ValueError for a file older than version 7 that this skcae scores
    otherwise (``specs``: the tensors' shapes, checked): a hybrid score on
    fewer than ``_OLD_FULL_WEIGHT`` references, whose kNN terms had part of
    their weight, or a density term whose neighbourhood a float
    contamination widened past a twentieth of its references."""
    version = config["format_version"]
    if version >= 7:
        return
    rows = {
        name: specs[f"model.terms.{name}.reference"][1][0]
        for name, term in getattr(model, "terms", {}).items()
        if term.learns_from_references
    }
    k = model.config.density_neighbors
    if model.config.score_type == "hybrid" and min(rows.values()) < _OLD_FULL_WEIGHT:
        reason = (
            f"whose hybrid score gave its nearest-neighbour terms, with "
            f"{min(rows.values())} references (fewer than {_OLD_FULL_WEIGHT:,}), "
            f"that share of their weight; this skcae gives them their full "
            f"weight from {RELIABLE_REFERENCES} references on"
        )
    elif "density" in rows and capped_neighbors(k, rows["density"]) < k:
        reason = (
            f"whose density term took {k} neighbours among {rows['density']} "
            "references; this skcae takes at most a twentieth of them"
        )
    else:
        return
    raise ValueError(
        f"it was written by an older skcae ({_written_by(config)!r}, file "
        f"format version {version}) {reason}. Refit the estimator with this "
        "skcae and save it again"
    )


def _check_config(config):
    """The top-level entries of ``config.json``: types and format version."""
    if not isinstance(config, dict):
        raise ValueError(f"{CONFIG_MEMBER} must be a JSON object")
    if config.get("format") != FORMAT:
        raise ValueError(
            f"it is not a skcae file: {CONFIG_MEMBER} lacks 'format': {FORMAT!r}"
        )
    version = config.get("format_version")
    written_by = _written_by(config)
    if not safe.is_count(version) or version < 1:
        raise ValueError(f"invalid format_version {reprlib.repr(version)}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"it was written in skcae file format version {version}, newer than "
            f"this skcae reads (version {FORMAT_VERSION}; written by skcae "
            f"{written_by!r}); upgrade skcae"
        )
    if version == _OLDEST_READ and not _density_widened(config):
        pass  # scored as version 6 scores it (see _check_density_features)
    elif version == _OLDEST_READ:
        contamination = config["params"]["contamination"]
        raise ValueError(
            f"it was written by an older skcae ({written_by!r}, file format "
            f"version {version}) with contamination={contamination!r}, which "
            "this skcae scores with a wider density neighbourhood than the "
            "one the file's calibration and threshold were fitted for. Refit "
            "the estimator with this skcae and save it again"
        )
    elif version < _OLDEST_READ:
        raise ValueError(
            f"it was written by an older skcae ({written_by!r}, file format "
            f"version {version}), whose networks and scores this skcae computes "
            f"differently; this skcae reads versions {_OLDEST_READ} to "
            f"{FORMAT_VERSION} only. Refit "
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


# The parameter behind each field of a model's ModelConfig (and of its
# module's keyword arguments), for the message of a change since fit.
_CONFIG_PARAMETERS = {
    "terms": "score_type",
    "density_neighbors": "contamination",
    "smoothing": "score_smoothing",
    "top_fraction": "score_top_fraction",
    "input_shape": "image_shape",
    "n_standardized": "image_shape",
    "n_channels": "image_shape",
}


def _check_unchanged_since_fit(estimator, state, model):
    """ValueError when parameters that shape the fitted model were changed
    with ``set_params`` since ``fit``.

    They take effect at the next fit, and until then the estimator scores
    with the fitted model; but :func:`load` rebuilds the model from the
    saved parameters, so the loaded estimator would score differently (or
    not load at all).
    """
    saved = model.config
    try:
        now = estimator._model_config(state)
    except Exception:  # a parameter set to a value fit would refuse
        now = None
    if now == saved:
        return
    changed = set()
    for field in dataclasses.fields(saved):
        before = getattr(saved, field.name)
        after = None if now is None else getattr(now, field.name)
        if before == after:
            continue
        if field.name == "module_kwargs":
            before, after = dict(before), dict(after or ())
            changed.update(
                k for k in before.keys() | after.keys() if before.get(k) != after.get(k)
            )
        else:
            changed.add(field.name)
    names = sorted({_CONFIG_PARAMETERS.get(name, name) for name in changed})
    raise ValueError(
        f"Cannot save: {', '.join(names) or 'the parameters'} changed with "
        "set_params since fit. The fitted model was built with the earlier "
        "values and scores with them until the next fit, but skcae.load "
        "rebuilds the model from the saved parameters, so the loaded "
        "estimator would score differently. Fit again, or set them back, "
        "before saving."
    )


def _load(fileobj, device):
    _import_safetensors("skcae.load")
    limits = {CONFIG_MEMBER: MAX_CONFIG_BYTES, WEIGHTS_MEMBER: MAX_WEIGHTS_BYTES}
    members = safe.read_members(fileobj, limits, _MAX_FILE_BYTES)
    config = safe.parse_json(members[CONFIG_MEMBER], CONFIG_MEMBER)
    _check_config(config)
    cls = ESTIMATORS[config["class"]]
    estimator = build_estimator(cls, config["params"])
    with tempfile.TemporaryDirectory() as folder:
        with safe.open_safetensors(
            members.pop(WEIGHTS_MEMBER), WEIGHTS_MEMBER, folder
        ) as handle:
            specs = safe.header_specs(handle)
            array_names = {n[7:] for n in specs if n.startswith("fitted.")}
            fitted = safe.check_fitted(estimator, config["fitted"], array_names)
            if "data_format_" in type(estimator)._saved_attributes():
                # written only where it differs from the saved parameter
                fitted.setdefault("data_format_", estimator.data_format)
            model, expected, groups = model_specs(estimator, fitted, MAX_PARAMETERS)
            _check_density_features(config, model)
            _check_residual_term(config, model)
            _check_range_term(config, model)
            _check_pixel_density_weights(config, model)
            for name in array_names:  # validation_scores_, F32 or F64
                dtype = specs[f"fitted.{name}"][0]
                expected[f"fitted.{name}"] = (
                    dtype if dtype in ("F32", "F64") else "F64",
                    (safe.ANY_ROWS,),
                )
            safe.check_tensors(specs, expected, WEIGHTS_MEMBER, groups)
            _check_scored_alike(config, model, specs)
            tensors = {name: handle.get_tensor(name) for name in specs}
    for name, tensor in tensors.items():
        if tensor.dtype.is_floating_point and not torch.isfinite(tensor).all():
            raise ValueError(f"{WEIGHTS_MEMBER}'s {name} holds NaN or infinity")
    for name in array_names:
        fitted[name] = tensors[f"fitted.{name}"].numpy()
    if device is None:  # the saved device, or the CPU if it is missing here
        try:
            device = resolve_device(fitted["device_"])
        except ValueError:
            device = "cpu"
    fitted["device_"] = device
    state = {k[6:]: t for k, t in tensors.items() if k.startswith("model.")}
    try:
        model = materialize(model, state, device)
    except Exception as exc:
        raise ValueError(f"the model cannot be rebuilt ({exc!r})") from exc
    try:
        model.check()
    except ValueError as exc:
        raise ValueError(f"invalid model state: {exc}") from exc
    standardization = model.standardization
    fitted["center_"] = standardization.center.cpu().numpy().copy()
    fitted["scale_"] = standardization.scale.cpu().numpy().copy()
    fitted["data_range_"] = standardization.data_range.cpu().numpy().copy()
    fitted["net_"] = restore_net(estimator, fitted, model, config["net_history"])
    fitted[cls._model_attribute] = model
    estimator._commit(fitted)
    return estimator


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
        file format this skcae does not score as it was fitted: newer than
        its version 11, older than version 4, of version 4 or 5 with a
        density term that this skcae computes otherwise (a float
        ``contamination`` in version 4; images or first encoder maps of at
        most 8 pixels a side), or of version 4 to 6 with a hybrid score
        fitted on fewer than 1,000 references (its kNN terms had part of
        their weight) or a density term that a float ``contamination``
        gave more neighbours than a twentieth of its references, or older
        than version 11 with a hybrid score of images (version 9 put the
        "residual" term in the place of the mean squared error, version 11
        added the per-pixel "range" term): such files must be refitted and
        saved again.
        Also for an unknown or unavailable ``device``.
    TypeError
        If ``path`` is neither a path nor a seekable binary file object
        (bytes, None, a text-mode file); the error is a ValueError too.
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
        _check_binary_reader(path)
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
