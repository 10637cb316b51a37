"""skcae.save / skcae.load: a zip of JSON and safetensors, never pickle.

The round trips must be bit-identical; every hostile file must give a
ValueError that says what is wrong, and nothing else.
"""

import copy
import io
import json
import pickle
import struct
import sys
import time
import warnings
import zipfile

import numpy as np
import pytest
import torch
from _settings import TINY, TINY_DENSE
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError

import skcae
from skcae import (
    AutoencoderOutlierDetector,
    ConvAutoencoder,
    ConvAutoencoderOutlierDetector,
    _persistence,
)
from skcae.callbacks import ReconstructionMonitor

st = pytest.importorskip("safetensors.torch")

CONFIG, WEIGHTS = "config.json", "model.safetensors"
FAST = {k: TINY[k] for k in ("latent_dim", "batch_size", "device", "random_state")}
FAST["max_epochs"] = 1


@pytest.fixture(scope="module")
def X():
    return load_digits().data[:120]


@pytest.fixture(scope="module")
def detector(X):
    return ConvAutoencoderOutlierDetector(
        image_shape=(8, 8), channels=(4,), **FAST
    ).fit(X)


@pytest.fixture(scope="module")
def saved(detector):
    return _saved(detector)


def _saved(estimator):
    buffer = io.BytesIO()
    skcae.save(estimator, buffer)
    return buffer.getvalue()


def _reload(estimator):
    return skcae.load(io.BytesIO(_saved(estimator)))


# -- round trips -----------------------------------------------------------------------
def _channels_last(X):
    images = X.reshape(-1, 8, 8, 1)
    return np.concatenate([images, 16 - images, images / 2], axis=3)  # (n, 8, 8, 3)


ROUND_TRIPS = {
    "conv-hybrid": lambda: ConvAutoencoderOutlierDetector(
        image_shape=[8, 8], channels=(4,), optimizer=torch.optim.AdamW, **FAST
    ),
    "conv-reconstruction": lambda: ConvAutoencoderOutlierDetector(
        image_shape=(8, 8),
        channels=(4,),
        score_type="reconstruction",
        score_smoothing=3,
        score_top_fraction=0.5,
        contamination=0.1,
        **FAST,
    ),
    "conv-latent": lambda: ConvAutoencoderOutlierDetector(
        image_shape=(1, 8, 8),
        channels=(4,),
        score_type="latent",
        threshold=1.5,
        validation_fraction=0.25,
        **FAST,
    ),
    "conv-channels-last": lambda: ConvAutoencoderOutlierDetector(
        data_format="channels_last", channels=(4,), **FAST
    ),
    "autoencoder": lambda: ConvAutoencoder(image_shape=(8, 8), channels=(4,), **FAST),
    "dense-reconstruction": lambda: AutoencoderOutlierDetector(
        hidden_layer_sizes=(8,), validation_fraction=0.25, **FAST
    ),
    "dense-hybrid": lambda: AutoencoderOutlierDetector(
        hidden_layer_sizes=(8,), score_type="hybrid", n_neighbors=3, **FAST
    ),
}


MODEL_ATTRIBUTES = {"net_", "scorer_", "model_", "center_", "scale_", "data_range_"}


def _assert_same_fitted_state(loaded, estimator):
    assert type(loaded) is type(estimator)
    assert loaded.get_params() == estimator.get_params()
    names = type(estimator)._saved_attributes() + ["center_", "scale_", "data_range_"]
    for name in names:
        assert hasattr(loaded, name) == hasattr(estimator, name), name
        if hasattr(estimator, name):
            value = getattr(estimator, name)
            np.testing.assert_equal(getattr(loaded, name), value, err_msg=name)
            assert type(getattr(loaded, name)) is type(value), name
            assert getattr(getattr(loaded, name), "dtype", None) == getattr(
                value, "dtype", None
            ), name
    params = set(estimator.get_params())
    assert set(vars(loaded)) <= params | set(names) | MODEL_ATTRIBUTES
    attribute = type(estimator)._model_attribute
    model, loaded_model = getattr(estimator, attribute), getattr(loaded, attribute)
    assert loaded_model.config == model.config
    state = model.state_dict()
    assert loaded_model.state_dict().keys() == state.keys()
    for key, tensor in state.items():
        assert torch.equal(loaded_model.state_dict()[key], tensor), key
    assert loaded.net_.module_ is loaded_model.network
    assert loaded.net_.history.to_list() == estimator.net_.history.to_list()


@pytest.mark.parametrize("case", list(ROUND_TRIPS))
def test_round_trip_is_bit_identical(case, X, tmp_path):
    X = _channels_last(X) if case == "conv-channels-last" else X
    estimator = ROUND_TRIPS[case]().fit(X)
    path = tmp_path / "model.skcae"
    skcae.save(estimator, path)
    loaded = skcae.load(path)
    _assert_same_fitted_state(loaded, estimator)
    codes = estimator.encode(X)
    np.testing.assert_array_equal(loaded.encode(X), codes)
    np.testing.assert_array_equal(loaded.decode(codes), estimator.decode(codes))
    for method in ("score_samples", "decision_function", "predict", "transform"):
        if hasattr(estimator, method):
            np.testing.assert_array_equal(
                getattr(loaded, method)(X), getattr(estimator, method)(X)
            )
    for method in ("reconstruct", "anomaly_map"):
        np.testing.assert_array_equal(
            getattr(loaded, method)(X[:7]), getattr(estimator, method)(X[:7])
        )
    assert loaded.optimizer == estimator.optimizer  # a class is stored by name


def test_feature_names_survive(X):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=[f"pixel_{i}" for i in range(64)])
    det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), channels=(4,), **FAST)
    loaded = _reload(det.fit(df))
    _assert_same_fitted_state(loaded, det)
    np.testing.assert_array_equal(loaded.score_samples(df), det.score_samples(df))
    with pytest.raises(ValueError, match="feature names"):
        loaded.score_samples(df.rename(columns={"pixel_0": "other"}))


def test_file_is_a_zip_of_json_and_safetensors(detector, saved):
    with zipfile.ZipFile(io.BytesIO(saved)) as archive:
        assert sorted(archive.namelist()) == [CONFIG, WEIGHTS]
        config = json.loads(archive.read(CONFIG))
        tensors = st.load(archive.read(WEIGHTS))
    # the hybrid image score has the "range" term since format 11, and on
    # images of at most 8x8 pixels heavier density and range terms since 12
    assert config["format"] == "skcae" and config["format_version"] == 12
    assert "model.terms.range.low" in tensors
    assert config["class"] == "ConvAutoencoderOutlierDetector"
    assert config["params"]["channels"] == {"tuple": [4]}
    assert config["fitted"]["offset_"] == detector.offset_
    assert {"skcae", "torch", "scikit-learn", "safetensors"} <= set(config["versions"])
    state = detector.scorer_.state_dict()  # standardisation, network, terms
    expected = {f"model.{k}" for k in state} | {"fitted.validation_scores_"}
    assert set(tensors) == expected
    assert "model.terms.density.reference" in tensors
    assert "model.standardization.center" in tensors
    for key, tensor in state.items():
        assert torch.equal(tensors[f"model.{key}"], tensor)


def test_load_never_unpickles(detector, saved, X, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("skcae.load must not unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    loaded = skcae.load(io.BytesIO(saved))
    np.testing.assert_array_equal(loaded.score_samples(X), detector.score_samples(X))


def test_a_loaded_net_validates_in_the_fitted_nets_batches(detector, saved):
    loaded = skcae.load(io.BytesIO(saved))
    key = "iterator_valid__batch_size"
    assert loaded.net_.get_params()[key] == detector.net_.get_params()[key] == 256


@pytest.mark.parametrize("many_rows", [False, True], ids=["120-rows", "400-rows"])
def test_a_loaded_net_reports_the_auto_settings_it_was_trained_with(many_rows):
    """batch_size, max_epochs and lr "auto" resolve from the rows trained on;
    a loaded net_ reports the values the fit used (it reported those of 2
    rows: lr 8e-3 where the fit had used 6e-3), and those of 2 rows only
    where the saved history lost its per-batch records."""
    rows = np.random.RandomState(0).rand(400 if many_rows else 120, 8, 8)
    det = ConvAutoencoderOutlierDetector(
        channels=(2,), latent_dim=2, random_state=0
    ).fit(rows)
    loaded = skcae.load(io.BytesIO(_saved(det)))
    for name in ("lr", "batch_size", "max_epochs"):
        assert getattr(loaded.net_, name) == getattr(det.net_, name)
    assert det.net_.lr < 8e-3 and det.net_.max_epochs > 4
    no_batches = _with_config(
        lambda c: [epoch.pop("batches") for epoch in c["net_history"]]
    )(_saved(det))
    assert skcae.load(io.BytesIO(no_batches)).net_.lr == 8e-3


@pytest.mark.parametrize(
    "change, name",
    [
        ({"n_neighbors": 9}, "n_neighbors"),
        ({"score_type": "reconstruction"}, "score_type"),
        ({"contamination": 0.2}, "contamination"),
        ({"score_top_fraction": 0.5}, "score_top_fraction"),
        ({"latent_dim": 3}, "latent_dim"),
        ({"channels": (3,)}, "channels"),
    ],
)
def test_save_refuses_a_model_whose_parameters_changed_since_fit(
    detector, change, name
):
    """set_params takes effect at the next fit; load rebuilds the model from
    the saved parameters, so saving after such a change wrote files that
    loaded with other scores (n_neighbors) or not at all (score_type)."""
    changed = clone(detector).set_params(**change)
    changed.__dict__.update(
        {k: v for k, v in vars(detector).items() if k.endswith("_")}
    )
    with pytest.raises(ValueError, match=f"Cannot save: {name} changed"):
        skcae.save(changed, io.BytesIO())


def test_a_threshold_changed_since_fit_saves_the_fitted_one(detector, X):
    """threshold, like max_epochs, shapes nothing that load rebuilds: the
    saved offset_ is the fitted one, as in memory."""
    changed = clone(detector).set_params(threshold=1.0, max_epochs=3)
    changed.__dict__.update(
        {k: v for k, v in vars(detector).items() if k.endswith("_")}
    )
    loaded = skcae.load(io.BytesIO(_saved(changed)))
    np.testing.assert_array_equal(loaded.predict(X), detector.predict(X))
    assert loaded.offset_ == detector.offset_


def test_load_onto_a_chosen_device(saved):
    assert skcae.load(io.BytesIO(saved), device="cpu").device_ == "cpu"
    on_gpu = _with_config(lambda c: c["fitted"].update(device_="cuda"))(saved)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert skcae.load(io.BytesIO(on_gpu)).device_ == expected
    with pytest.raises(ValueError, match="device='nonsense'"):
        skcae.load(io.BytesIO(saved), device="nonsense")


# -- save ------------------------------------------------------------------------------
def test_callbacks_are_saved_as_none_and_their_records_kept(X):
    monitor = ReconstructionMonitor(X[:10], X[:10] + 8.0)
    det = ConvAutoencoderOutlierDetector(
        image_shape=(8, 8),
        channels=(4,),
        callbacks=[monitor],
        **{**FAST, "max_epochs": 2},
    ).fit(X)
    loaded = _reload(det)
    assert loaded.callbacks is None and det.callbacks == [monitor]
    costs = det.net_.history[:, ("inlier_cost", "outlier_cost")]
    assert len(costs) == 2
    assert loaded.net_.history[:, ("inlier_cost", "outlier_cost")] == costs
    np.testing.assert_array_equal(loaded.score_samples(X), det.score_samples(X))


@pytest.mark.parametrize(
    "param, value, fix",
    [
        ("random_state", np.random.RandomState(0), 0),
        ("optimizer", type("MyAdam", (torch.optim.Adam,), {}), "adam"),
        ("optimizer", torch.optim.Optimizer, "adam"),
    ],
)
def test_unrepresentable_parameter_is_named_at_save(detector, param, value, fix):
    det = copy.deepcopy(detector)
    det.set_params(**{param: value})
    with pytest.raises(ValueError, match=f"Cannot save parameter {param}="):
        _saved(det)
    det.set_params(**{param: fix})  # the advice in the message works
    _reload(det)


def test_unrepresentable_history_is_dropped_with_a_warning(detector, X):
    det = copy.deepcopy(detector)
    det.net_.history.record("odd", object())
    with pytest.warns(UserWarning, match="net_.history.*not saved"):
        data = _saved(det)
    loaded = skcae.load(io.BytesIO(data))
    assert len(loaded.net_.history) == 0 and loaded.history_ == det.history_
    np.testing.assert_array_equal(loaded.score_samples(X), det.score_samples(X))


def test_long_history_loses_its_batches_with_a_warning(detector, monkeypatch):
    size = len(json.dumps(json.loads(_members(_saved(detector))[CONFIG]), indent=1))
    monkeypatch.setattr(_persistence, "MAX_CONFIG_BYTES", size - 100)
    with pytest.warns(UserWarning, match="per-batch records"):
        loaded = skcae.load(io.BytesIO(_saved(detector)))
    assert "batches" not in loaded.net_.history[-1]
    assert (
        loaded.net_.history[:, "train_loss"] == detector.net_.history[:, "train_loss"]
    )
    monkeypatch.setattr(_persistence, "MAX_CONFIG_BYTES", 1000)
    with pytest.raises(ValueError, match="config would take"):
        with pytest.warns(UserWarning):
            _saved(detector)


def test_save_refuses_what_load_would_refuse(detector, monkeypatch, tmp_path):
    monkeypatch.setattr(_persistence, "MAX_PARAMETERS", 100)
    with pytest.raises(ValueError, match="MAX_PARAMETERS=100"):
        _saved(detector)
    monkeypatch.undo()
    # weights and references beyond what load reads: nothing is written
    # (30,000 references of wide codes can pass 1 GiB)
    size = len(_members(_saved(detector))[WEIGHTS])
    path = tmp_path / "det.skcae"
    skcae.save(detector, path)
    before = path.read_bytes()
    monkeypatch.setattr(_persistence, "MAX_WEIGHTS_BYTES", size - 1)
    with pytest.raises(ValueError, match=rf"weights would take {size:,} bytes"):
        skcae.save(detector, path)
    assert path.read_bytes() == before
    monkeypatch.setattr(_persistence, "MAX_WEIGHTS_BYTES", size)
    skcae.load(io.BytesIO(_saved(detector)))


def test_set_output_is_not_saved_silently(X):
    ae = ConvAutoencoder(image_shape=(8, 8), channels=(4,), **FAST).fit(X)
    ae.set_output(transform="default")
    with pytest.warns(UserWarning, match="set_output"):
        _saved(ae)


def test_save_refuses_unfitted_and_foreign_estimators():
    with pytest.raises(NotFittedError):
        skcae.save(ConvAutoencoderOutlierDetector(), io.BytesIO())

    class Sub(ConvAutoencoderOutlierDetector):
        pass

    with pytest.raises(TypeError, match="only saves skcae's estimators"):
        skcae.save(Sub(), io.BytesIO())
    # a Pipeline around a detector: the message says what to do instead
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    pipe = make_pipeline(MinMaxScaler(), ConvAutoencoderOutlierDetector())
    with pytest.raises(TypeError, match=r"skcae.save\(pipe\[-1\], path\)"):
        skcae.save(pipe, io.BytesIO())


def test_missing_safetensors_names_the_extra(detector, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(ImportError, match="pip install safetensors"):
        skcae.save(detector, io.BytesIO())


# -- hostile files ---------------------------------------------------------------------
def _members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(items, compression=zipfile.ZIP_STORED):
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns on duplicate names
        with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
            for name, content in items:
                archive.writestr(name, content)
    return buffer.getvalue()


def _with_members(edit):
    def corrupt(data):
        members = list(_members(data).items())
        return _zip(edit(members))

    return corrupt


#: The hybrid image score's terms before file format 9.
OLD_HYBRID_TERMS = ("mse", "pooled", "density", "stats", "latent")
#: ... and before file format 11.
HYBRID_TERMS_9 = ("residual", "pooled", "density", "stats", "latent")


@pytest.fixture
def old_hybrid_terms(monkeypatch):
    """Fit as skcae did before file format 9 (the mean squared error where
    the "residual" term is now), so that a file whose version is set back
    holds what such a file held."""
    from skcae import _outlier

    monkeypatch.setitem(_outlier.SCORE_TERMS, "hybrid", OLD_HYBRID_TERMS)
    monkeypatch.setitem(skcae._tuning.TERM_WEIGHTS, "mse", 1.0)


def _with_config(edit, *, raw=False):
    """``edit`` the config dict in place (raw: return new text for the old)."""

    def corrupt(data):
        members = _members(data)
        if raw:
            members[CONFIG] = edit(members[CONFIG])
        else:
            config = json.loads(members[CONFIG])
            edit(config)
            members[CONFIG] = json.dumps(config)
        return _zip(members.items())

    return corrupt


def _with_tensors(edit):
    """``edit`` the dict of saved tensors in place."""

    def corrupt(data):
        members = _members(data)
        tensors = dict(st.load(members[WEIGHTS]))
        edit(tensors)
        members[WEIGHTS] = st.save(tensors)
        return _zip(members.items())

    return corrupt


def _raw_weights(edit):
    def corrupt(data):
        members = _members(data)
        members[WEIGHTS] = edit(members[WEIGHTS])
        return _zip(members.items())

    return corrupt


def _with_header(edit):
    """``edit`` the safetensors header dict in place; the data is kept."""

    def repack(buffer):
        n = int.from_bytes(buffer[:8], "little")
        header = json.loads(buffer[8 : 8 + n])
        edit(header)
        text = json.dumps(header).encode()
        return len(text).to_bytes(8, "little") + text + buffer[8 + n :]

    return _raw_weights(repack)


def _first_entry(header):
    return next(
        e
        for k, e in header.items()
        if k != "__metadata__" and e["data_offsets"][0] == 0
    )


def _lie_about_size(name, size):
    """A zip whose central directory declares ``size`` bytes for ``name``."""

    def corrupt(data):
        members = _members(data)
        blob = bytearray(_zip(members.items(), compression=zipfile.ZIP_DEFLATED))
        start = 0
        while (start := blob.find(b"PK\x01\x02", start)) >= 0:
            length = struct.unpack_from("<H", blob, start + 28)[0]
            if blob[start + 46 : start + 46 + length] == name.encode():
                struct.pack_into("<I", blob, start + 24, size)
            start += 4
        return bytes(blob)

    return corrupt


def _set(section, **values):
    return _with_config(lambda c: c[section].update(values))


def _drop(section, key):
    return _with_config(lambda c: c[section].pop(key))


def _nested(depth):
    value = 1.0
    for _ in range(depth):
        value = [value]
    return value


def _shrink(name):
    return _with_tensors(lambda t: t.update({name: t[name][:1].contiguous()}))


def _nan(name):
    def edit(tensors):
        tensors[name] = tensors[name].clone()
        tensors[name].view(-1)[0] = float("nan")

    return _with_tensors(edit)


def _set_tensor(name, value):
    def edit(tensors):
        tensors[name] = torch.full_like(tensors[name], value)

    return _with_tensors(edit)


CAL = "model.terms.{}.calibration.{}"


A_CONFIG = json.dumps({"format": "skcae"}).encode()
STD, NET = "model.standardization.", "model.network."
REF = "model.terms.density.reference"


def H(header):
    """The header entry of the standardisation's center (8 bytes of F64)."""
    return header[STD + "center"]


def T(tensors):
    """Any small float32 tensor of the network, to misplace."""
    return tensors[NET + "decoder_fc.0.bias"]


HOSTILE = {
    # the archive
    "not a zip": (lambda d: b"not a zip at all", "not a readable zip archive"),
    # what joblib.dump / pickle.dump write (never unpickled: named as such)
    "a pickle": (
        lambda d: __import__("pickle").dumps({"any": "object"}),
        "it starts like a pickle .* skcae.load never unpickles",
    ),
    "empty file": (lambda d: b"", "not a readable zip archive"),
    "truncated": (lambda d: d[: len(d) // 2], "not a readable zip archive"),
    "tail cut": (lambda d: d[:-10], "not a readable zip archive"),
    "no config": (
        _with_members(lambda m: [x for x in m if x[0] != CONFIG]),
        r"has no \['config.json'\]",
    ),
    "no weights": (
        _with_members(lambda m: [x for x in m if x[0] != WEIGHTS]),
        r"has no \['model.safetensors'\]",
    ),
    "extra member": (
        _with_members(lambda m: [*m, ("evil.py", b"import os")]),
        r"unexpected members \['evil.py'\]",
    ),
    "path traversal": (
        _with_members(lambda m: [*m, ("../../config.json", b"{}")]),
        r"unexpected members \['../../config.json'\]",
    ),
    "duplicate member": (
        _with_members(lambda m: [*m, (CONFIG, A_CONFIG)]),
        r"duplicate members \['config.json'\]",
    ),
    "lying member size": (_lie_about_size(CONFIG, 100), "config.json is corrupted"),
    # the first member's name length: zipfile then quotes raw bytes
    "garbled local header": (
        lambda d: d[:26] + b"\xff\xff" + d[28:],
        r"config.json is corrupted \(its local header does not match the archive's "
        r"directory\)\.$",
    ),
    # config.json
    "config not JSON": (_with_config(lambda t: b"{", raw=True), "not valid JSON"),
    "config not UTF-8": (
        _with_config(lambda t: b"\xff\xfe{}", raw=True),
        "config.json is not valid JSON",
    ),
    "deeply nested JSON": (
        _with_config(lambda t: b"[" * 100_000 + b"]" * 100_000, raw=True),
        "config.json is nested too deeply",
    ),
    "deeply nested value": (
        _set("params", lr=_nested(40)),
        "nested more than 32 levels",
    ),
    "duplicate key": (
        _with_config(
            lambda t: t.replace(
                b'"format": "skcae"', b'"format": "skcae", "format": 1'
            ),
            raw=True,
        ),
        "repeats a key",
    ),
    "config a list": (_with_config(lambda t: b"[]", raw=True), "a JSON object"),
    "wrong format": (
        _with_config(lambda c: c.update(format="pickle")),
        "not a skcae file",
    ),
    "newer format version": (
        _with_config(lambda c: c.update(format_version=99)),
        "format version 99, newer than this skcae reads",
    ),
    "format version 1": (
        _with_config(lambda c: c.update(format_version=1)),
        "older skcae .*Refit the estimator",
    ),
    "format version 2": (
        _with_config(lambda c: c.update(format_version=2)),
        "older skcae .*file format version 2.*Refit the estimator",
    ),
    "format version 3": (
        _with_config(lambda c: c.update(format_version=3)),
        "older skcae .*file format version 3.*Refit the estimator",
    ),
    "format version str": (
        _with_config(lambda c: c.update(format_version="2")),
        "invalid format_version '2'",
    ),
    "unexpected entry": (
        _with_config(lambda c: c.update(exec="print(1)")),
        r"entries \['exec'\] missing or unexpected",
    ),
    "missing entry": (
        _with_config(lambda c: c.pop("versions")),
        r"entries \['versions'\] missing or unexpected",
    ),
    "unknown class": (
        _with_config(lambda c: c.update({"class": "os.system"})),
        "'os.system', which is not one of skcae's estimators",
    ),
    "class BaseEstimator": (
        _with_config(lambda c: c.update({"class": "BaseEstimator"})),
        "'BaseEstimator', which is not one of skcae's estimators",
    ),
    "class not str": (
        _with_config(lambda c: c.update({"class": ["skcae"]})),
        "'class' entry has the wrong type",
    ),
    "params not a dict": (
        _with_config(lambda c: c.update(params=[])),
        "'params' entry has the wrong type",
    ),
    # parameters
    "unknown parameter": (_set("params", bogus=1), r"unknown parameters \['bogus'\]"),
    "missing parameter": (_drop("params", "lr"), r"lacks \['lr'\]"),
    "parameter of wrong type": (_set("params", lr="fast"), "The 'lr' parameter"),
    "parameter failing a check": (
        _set("params", kernel_size=2),
        "kernel_size=2, but expected an odd int",
    ),
    "unknown tag": (
        _set("params", lr={"pickle": "cos\nsystem"}),
        r"unexpected JSON object with keys \['pickle'\]",
    ),
    "array tag of bad dtype": (
        _set("params", image_shape={"ndarray": [1], "dtype": "<M8[s]", "shape": [1]}),
        "unsupported array dtype",
    ),
    "optimizer base class": (
        _set("params", optimizer={"torch_optimizer": "Optimizer"}),
        "unknown torch optimizer 'Optimizer'",
    ),
    "optimizer not a class": (
        _set("params", optimizer={"torch_optimizer": "lr_scheduler"}),
        "unknown torch optimizer 'lr_scheduler'",
    ),
    "callbacks": (_set("params", callbacks=[]), "expected callbacks=None"),
    "huge network": (
        _set("params", channels={"tuple": [20000, 20000]}),
        "network of 7,2.* values, more than MAX_PARAMETERS=50,000,000",
    ),
    "huge latent_dim": (
        _set("params", latent_dim=10**9),
        "more than MAX_PARAMETERS",
    ),
    "too many layers": (
        _set("params", channels=[1] * 100),
        "channels has 100 entries, more than 64",
    ),
    "impossible network": (
        _set("params", channels=[4, 4, 4, 4, 4]),
        "describe no valid network .*pooled at most 4 times",
    ),
    # fitted attributes
    "__class__": (_set("fitted", __class__="str"), r"\['__class__'\] is not a fitted"),
    "score_samples": (
        _set("fitted", score_samples=None),
        r"\['score_samples'\] is not a fitted",
    ),
    "net_": (_set("fitted", net_=None), r"\['net_'\] is not a fitted"),
    "array in the JSON": (_set("fitted", center_=[0.0]), r"\['center_'\] is not a"),
    "missing offset_": (
        _drop("fitted", "offset_"),
        r"lacks the fitted attributes \['offset_'\]",
    ),
    "image_shape_ a list": (
        _set("fitted", image_shape_=[1, 8, 8]),
        "invalid fitted attribute image_shape_",
    ),
    "image_shape_ of another size": (
        _set("fitted", image_shape_={"tuple": [1, 4, 4]}),
        "invalid fitted attribute image_shape_",
    ),
    "huge image_shape_": (
        _set(
            "fitted",
            n_features_in_=2**30,
            image_shape_={"tuple": [1, 2**15, 2**15]},
            input_shape_={"tuple": [2**15, 2**15]},
        ),
        "more than MAX_PARAMETERS",
    ),
    "n_features_in_ over the bound": (
        _set(
            "fitted",
            n_features_in_=10**12,
            image_shape_={"tuple": [1, 10**6, 10**6]},
            input_shape_={"tuple": [10**12]},
        ),
        "invalid fitted attribute n_features_in_",
    ),
    "n_features_in_ a bool": (
        _set("fitted", n_features_in_=True),
        "invalid fitted attribute n_features_in_",
    ),
    "input_shape_ of another size": (
        _set("fitted", input_shape_={"tuple": [63]}),
        "invalid fitted attribute input_shape_",
    ),
    "input_shape_ of the size but no layout of image_shape_": (
        _set("fitted", input_shape_={"tuple": [4, 16]}),
        "invalid fitted attribute input_shape_",
    ),
    "offset_ NaN": (_set("fitted", offset_=float("nan")), "attribute offset_=nan"),
    "offset_ a str": (_set("fitted", offset_="0.5"), "attribute offset_='0.5'"),
    "device_ meta": (_set("fitted", device_="meta"), "attribute device_='meta'"),
    "device_ unknown": (_set("fitted", device_="gpu9"), "attribute device_='gpu9'"),
    "n_iter_ zero": (_set("fitted", n_iter_=0), "attribute n_iter_=0"),
    "history_ of another length": (
        _set("fitted", history_={"dict": {"train_loss": [1.0, 2.0]}}),
        "invalid fitted attribute history_",
    ),
    "feature_names_in_ too short": (
        _set(
            "fitted",
            feature_names_in_={"ndarray": ["a"], "dtype": "object", "shape": [1]},
        ),
        "invalid fitted attribute feature_names_in_",
    ),
    "net_history not epochs": (
        _with_config(lambda c: c.update(net_history=[1, 2])),
        "net_history must be a list of epoch dicts",
    ),
    # the tensors
    "NaN in center_": (_nan(STD + "center"), "standardization.center holds NaN"),
    "scale_ zero": (_set_tensor(STD + "scale", 0.0), "scale must be positive"),
    "center_ too long": (
        _with_tensors(lambda t: t.update({STD + "center": torch.zeros(2).double()})),
        r"model.standardization.center as F64 of shape \(2,\)",
    ),
    "data_range_ inverted": (
        _with_tensors(
            lambda t: t.update({STD + "data_range": t[STD + "data_range"].flip(0)})
        ),
        "data_range is inverted",
    ),
    "missing fitted array": (
        _with_tensors(lambda t: t.pop(STD + "scale")),
        r"lacks the tensors \['model.standardization.scale'\]",
    ),
    "fitted array not whitelisted": (
        _with_tensors(lambda t: t.update({"fitted.__dict__": torch.zeros(1)})),
        r"\['__dict__'\] is not a fitted attribute",
    ),
    "wrong tensor shape": (
        _shrink(NET + "encoder_fc.weight"),
        r"network.encoder_fc.weight as F32 of shape \(1, 64\); expected F32 of "
        r"shape \(2, 64\)",
    ),
    "wrong tensor dtype": (
        _with_tensors(lambda t: t.update({NET + "decoder_fc.0.bias": T(t).double()})),
        "holds model.network.decoder_fc.0.bias as F64",
    ),
    "missing tensor": (
        _with_tensors(lambda t: t.pop(NET + "encoder_fc.bias")),
        r"lacks the tensors \['model.network.encoder_fc.bias'\]",
    ),
    "extra tensor": (
        _with_tensors(lambda t: t.update({NET + "extra": torch.zeros(3)})),
        r"unexpected tensors \['model.network.extra'\]",
    ),
    "tensor of no section": (
        _with_tensors(lambda t: t.update({"payload": torch.zeros(3)})),
        r"unexpected tensors \['payload'\]",
    ),
    "NaN weight": (_nan(NET + "encoder_fc.weight"), "encoder_fc.weight holds NaN"),
    # the safetensors header
    "garbage weights": (
        _raw_weights(lambda b: b"\x00" * 16),
        "not a valid safetensors file .*invalid JSON in header",
    ),
    "weights shorter than a header": (
        _raw_weights(lambda b: b"abc"),
        "not a valid safetensors file .*header too small",
    ),
    "header length past the end": (
        _raw_weights(lambda b: (2**63).to_bytes(8, "little") + b[8:]),
        "not a valid safetensors file .*header too large",
    ),
    "header not an object": (
        _raw_weights(lambda b: (2).to_bytes(8, "little") + b"[]"),
        "model.safetensors is not a valid safetensors file .*invalid type: sequence",
    ),
    "header offsets out of range": (
        _with_header(lambda h: _first_entry(h)["data_offsets"].__setitem__(1, 10**9)),
        "invalid shape, data type, or offset",
    ),
    "header offsets overlap": (
        _with_header(
            lambda h: _first_entry(h).update(
                data_offsets=[o + 4 for o in _first_entry(h)["data_offsets"]]
            )
        ),
        "invalid offset for tensor",
    ),
    "header shape not the data's": (
        _with_header(lambda h: H(h).update(shape=[7])),
        "invalid shape, data type, or offset",
    ),
    "header dtype unknown": (
        _with_header(lambda h: H(h).update(dtype="F128")),
        "unknown variant `F128`",
    ),
    "header negative shape": (
        _with_header(lambda h: H(h).update(shape=[-1])),
        "invalid value: integer `-1`",
    ),
    "data no tensor covers": (
        _raw_weights(lambda b: b + b"\x00" * 8),
        "file not fully covered",
    ),
    "header metadata not str": (
        _with_header(lambda h: h.update(__metadata__={"a": 1})),
        "invalid type: integer `1`, expected a string",
    ),
    # the score: its terms' buffers and calibrations
    "score terms missing": (
        _with_tensors(lambda t: t.pop("model.terms.density.reference")),
        r"lacks the tensors \['model.terms.density.reference'\]",
    ),
    "unknown score_type": (_set("params", score_type="magic"), "The 'score_type'"),
    "score terms not the parameters'": (
        _with_tensors(lambda t: t.update({"model.terms.knn.reference": T(t) * 1})),
        r"unexpected tensors \['model.terms.knn.reference'\]",
    ),
    "n_neighbors invalid": (_set("params", n_neighbors=0), "The 'n_neighbors'"),
    "missing calibration": (
        _with_tensors(lambda t: t.pop(CAL.format("density", "center"))),
        r"lacks the tensors \['model.terms.density.calibration.center'\]",
    ),
    "negative calibration spread": (
        _set_tensor(CAL.format("residual", "spread"), -1.0),
        "invalid calibration for 'residual'",
    ),
    "calibration spread below its floor": (
        _set_tensor(CAL.format("residual", "spread"), 1e-300),
        r"invalid calibration for 'residual': spread 1e-300",
    ),
    "calibration eps that flags everything": (
        _set_tensor(CAL.format("density", "eps"), 1e300),
        r"invalid calibration for 'density'.*eps 1e\+300",
    ),
    "calibration not numbers": (
        _with_tensors(
            lambda t: t.update({CAL.format("residual", "eps"): torch.tensor(1)})
        ),
        r"holds model.terms.residual.calibration.eps as I64",
    ),
    "wrong reference shape": (
        _with_tensors(lambda t: t.update({REF: t[REF][:, :1] * 1})),
        r"model.terms.density.reference as F64 of shape \(114, 1\)",
    ),
    "zero pixel weights": (
        _set_tensor("model.terms.residual.weight", 0.0),
        "the 'residual' term's pixel weights are invalid",
    ),
    "pixel weights fit cannot give": (
        _set_tensor("model.terms.residual.weight", 1e308),
        "the 'residual' term's pixel weights are invalid",
    ),
    "wrong pixel weight shape": (
        _with_tensors(
            lambda t: t.update(
                {"model.terms.residual.weight": t["model.terms.residual.weight"][:2]}
            )
        ),
        r"model.terms.residual.weight as F64 of shape \(2, 8\)",
    ),
    "negative reference densities": (
        _set_tensor("model.terms.density.density", -1.0),
        "the 'density' term's reference densities are invalid",
    ),
    "density eps out of range": (
        _set_tensor("model.terms.density.eps", 1e300),
        "the 'density' term's eps 1e\\+300 is invalid",
    ),
    "missing score array": (
        _with_tensors(lambda t: t.pop("model.terms.density.center")),
        r"lacks the tensors \['model.terms.density.center'\]",
    ),
    "NaN in the references": (
        _nan("model.terms.stats.reference"),
        "model.terms.stats.reference holds NaN",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_file_gives_a_clear_value_error(saved, case):
    corrupt, match = HOSTILE[case]
    with pytest.raises(ValueError, match=match) as info:
        skcae.load(io.BytesIO(corrupt(saved)))
    assert type(info.value) is ValueError
    assert str(info.value).startswith("Cannot load the given file object: ")


def test_hostile_path_is_named(saved, tmp_path):
    path = tmp_path / "bad.skcae"
    path.write_bytes(saved[:100])
    with pytest.raises(ValueError, match=f"Cannot load {str(path)!r}: it is not"):
        skcae.load(path)


@pytest.mark.parametrize("name", ["__class__", "score_samples", "__dict__"])
def test_a_file_cannot_set_other_attributes(saved, name, monkeypatch):
    built = []
    build = _persistence.build_estimator

    def spy(cls, params):
        built.append(build(cls, params))
        return built[-1]

    monkeypatch.setattr(_persistence, "build_estimator", spy)
    with pytest.raises(ValueError, match="is not a fitted attribute"):
        skcae.load(io.BytesIO(_set("fitted", **{name: "str"})(saved)))
    (estimator,) = built
    assert type(estimator) is ConvAutoencoderOutlierDetector
    assert name not in vars(estimator)
    assert not [k for k in vars(estimator) if k.endswith("_")]  # nothing set


def test_huge_network_is_refused_before_anything_is_allocated(saved, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("nothing may be built")

    monkeypatch.setattr(_persistence, "materialize", forbidden)
    corrupt = _set("params", channels={"tuple": [20000]}, kernel_size=9999)(saved)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="more than MAX_PARAMETERS"):
        skcae.load(io.BytesIO(corrupt))
    assert time.perf_counter() - start < 1.0


def test_zip_bomb_is_refused_by_its_declared_size(saved, monkeypatch):
    monkeypatch.setattr(_persistence, "MAX_CONFIG_BYTES", 2**20)
    members = _members(saved)
    members[CONFIG] = b" " * (4 * 2**20)  # compresses to a few kB
    bomb = _zip(members.items(), compression=zipfile.ZIP_DEFLATED)
    assert len(bomb) < 200_000  # declares 4 MB
    with pytest.raises(ValueError, match="config.json declares 4,194,304 bytes"):
        skcae.load(io.BytesIO(bomb))


def test_zip_bomb_lying_about_its_size_is_cut_short(saved):
    members = _members(saved)
    members[WEIGHTS] = b"\x00" * (4 * 2**20)
    bomb = _lie_about_size(WEIGHTS, 64)(
        _zip(members.items(), compression=zipfile.ZIP_DEFLATED)
    )
    with pytest.raises(ValueError, match="model.safetensors is corrupted"):
        skcae.load(io.BytesIO(bomb))


def test_bounded_reader_stops_past_the_limit(saved, monkeypatch):
    # A member stream that yields more than its header declared is cut at
    # the limit, whatever the header says.
    limit = len(_members(saved)[WEIGHTS]) + 10
    monkeypatch.setattr(_persistence, "MAX_WEIGHTS_BYTES", limit)
    real_open = zipfile.ZipFile.open

    def endless(self, info, *args, **kwargs):
        if info.filename == WEIGHTS:
            return io.BytesIO(b"\x00" * (limit + 5000))
        return real_open(self, info, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", endless)
    with pytest.raises(ValueError, match=f"holds more than the {limit:,} bytes"):
        skcae.load(io.BytesIO(saved))


def test_oversized_file_is_refused_before_unzipping(saved, monkeypatch):
    monkeypatch.setattr(_persistence, "_MAX_FILE_BYTES", 100)
    with pytest.raises(ValueError, match="larger than any skcae file"):
        skcae.load(io.BytesIO(saved))


def test_a_non_file_object_gives_a_value_error():
    with pytest.raises(ValueError, match="Cannot load the given file object"):
        skcae.load(object())


ODD_VALUES = [None, -1, "x", {"tuple": []}]


def test_any_odd_value_anywhere_gives_a_value_error(saved):
    # Every entry of params and fitted replaced by odd values:
    # load either succeeds or raises ValueError, never anything else.
    config = json.loads(_members(saved)[CONFIG])
    cases = [
        (section, key, value)
        for section in ("params", "fitted")
        for key in config[section]
        for value in ODD_VALUES
    ]
    loaded = 0
    for section, key, value in cases:
        data = _with_config(lambda c: c[section].update({key: value}))(saved)
        try:
            skcae.load(io.BytesIO(data))
            loaded += 1
        except ValueError:
            pass
    assert loaded < len(cases) // 4


@pytest.mark.parametrize(
    "params, loads",
    [
        (dict(contamination="auto"), True),
        (dict(contamination=0.1, score_type="reconstruction"), True),
        (dict(contamination=0.1), False),
        (dict(contamination=0.1, score_type="density"), False),
        (dict(contamination=np.float32(0.1)), False),
    ],
)
def test_format_4_files_load_unless_their_density_term_widened(
    params, loads, tmp_path, monkeypatch, old_hybrid_terms
):
    """Version 5 scores a density term under a float contamination with more
    neighbours than version 4 calibrated it for: such version 4 files are
    refused with a refit message; every other version 4 file scores as
    before."""
    # as if version 7 had kept the old weights of this fit's 178 references
    monkeypatch.setattr(skcae._persistence, "_OLD_FULL_WEIGHT", 1)
    X, y = load_digits(return_X_y=True)
    X = np.kron(X.reshape(-1, 8, 8), np.ones((3, 3)))  # 24x24: the density
    det = ConvAutoencoderOutlierDetector(**TINY, **params)  # term of version 5
    det.fit(X[y == 0])
    path = tmp_path / "det.skcae"
    skcae.save(det, path)
    old = _with_config(lambda c: c.update(format_version=4))(path.read_bytes())
    path.write_bytes(old)
    if loads:
        loaded = skcae.load(path)
        np.testing.assert_array_equal(loaded.score_samples(X), det.score_samples(X))
    else:
        with pytest.raises(ValueError, match=r"version 4\) with contamination="):
            skcae.load(path)


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize(
    "side, params, loads",
    [
        (8, {}, False),  # version 6: the density term reads the pixels
        (16, {}, False),  # and the first block's 8x8 maps unpooled
        (24, {}, True),  # 12x12 maps, pooled 2x as before
        (8, dict(score_type="reconstruction"), True),  # no density term
    ],
)
def test_older_files_load_unless_their_density_features_changed(
    version, side, params, loads, tmp_path, monkeypatch, old_hybrid_terms
):
    monkeypatch.setattr(skcae._persistence, "_OLD_FULL_WEIGHT", 1)  # as above
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8)[y == 0]
    if side != 8:
        X = np.kron(X, np.ones((side // 8, side // 8)))
    det = ConvAutoencoderOutlierDetector(**TINY, **params).fit(X)
    buffer = io.BytesIO()
    skcae.save(det, buffer)
    old = _with_config(lambda c: c.update(format_version=version))(buffer.getvalue())
    if loads:
        loaded = skcae.load(io.BytesIO(old))
        np.testing.assert_array_equal(loaded.score_samples(X), det.score_samples(X))
    else:
        message = (
            rf"file format version {version}\) for {side}x{side} images, whose "
            "density term this skcae computes from other features"
        )
        with pytest.raises(ValueError, match=message):
            skcae.load(io.BytesIO(old))


@pytest.mark.parametrize("version", [4, 5, 6])
@pytest.mark.parametrize(
    "params, old_full_weight, loads",
    [
        ({}, 1_000, False),  # 178 references: the kNN terms had 18% weight
        ({}, 150, True),  # as if they had had full weight already
        (dict(score_type="density"), 1_000, True),  # one term: no weights
        (dict(score_type="reconstruction"), 1_000, True),
        # a float contamination: 40 neighbours asked for, 8 of ~170 taken now
        (dict(score_type="density", contamination=0.1), 1_000, False),
    ],
)
def test_older_hybrid_files_on_few_references_are_refused(
    version, params, old_full_weight, loads, monkeypatch, old_hybrid_terms
):
    """Version 7 gives the hybrid score's kNN terms their full weight below
    1,000 references, and the density term at most a twentieth of its
    references as neighbours: an older file that scored otherwise is refused
    with a refit message; the others score as before."""
    X, y = load_digits(return_X_y=True)
    X = np.kron(X.reshape(-1, 8, 8)[y == 0], np.ones((3, 3)))  # 24x24
    det = ConvAutoencoderOutlierDetector(**TINY, **params).fit(X)
    buffer = io.BytesIO()
    skcae.save(det, buffer)
    old = _with_config(lambda c: c.update(format_version=version))(buffer.getvalue())
    monkeypatch.setattr(skcae._persistence, "_OLD_FULL_WEIGHT", old_full_weight)
    if loads:
        loaded = skcae.load(io.BytesIO(old))
        np.testing.assert_array_equal(loaded.score_samples(X), det.score_samples(X))
    elif "contamination" in params:
        message = (
            rf"version {version}\) whose density term took 40 neighbours among "
            r"1\d\d references; this skcae takes at most a twentieth"
            if version > 4  # version 4 is refused for its narrower one
            else r"version 4\) with contamination=0.1"
        )
        with pytest.raises(ValueError, match=message):
            skcae.load(io.BytesIO(old))
    else:
        message = (
            rf"file format version {version}\) whose hybrid score gave its "
            r"nearest-neighbour terms, with 1\d\d references \(fewer than 1,000\), "
            "that share of their weight; this skcae gives them their full "
            "weight from 100 references on"
        )
        with pytest.raises(ValueError, match=message):
            skcae.load(io.BytesIO(old))
    # this version's own files load whatever their references
    np.testing.assert_array_equal(
        skcae.load(io.BytesIO(buffer.getvalue())).score_samples(X),
        det.score_samples(X),
    )


def test_a_model_fitted_with_a_kernel_over_the_new_bound_still_loads(monkeypatch):
    # the bound on kernel_size is checked at fit only: files of earlier
    # versions fitted with kernel_size=17 on 8x8 images must still load
    from skcae import _conv

    X = np.random.RandomState(0).rand(40, 8, 8)
    monkeypatch.setattr(
        _conv.BaseConvAutoencoder, "_check_sample_shape", lambda *a: None
    )
    det = skcae.ConvAutoencoderOutlierDetector(
        channels=(2,), latent_dim=2, max_epochs=1, kernel_size=17, random_state=0
    ).fit(X)
    monkeypatch.undo()
    buffer = io.BytesIO()
    skcae.save(det, buffer)
    loaded = skcae.load(io.BytesIO(buffer.getvalue()))
    np.testing.assert_array_equal(loaded.score_samples(X), det.score_samples(X))


def test_format_7_files_score_as_before(old_hybrid_terms):
    """Version 8 only allows more references (30,000, where 7 held 10,000):
    a version 7 file loads and scores exactly as the fitted estimator."""
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8)[y == 0]
    det = ConvAutoencoderOutlierDetector(**TINY).fit(X)
    buffer = io.BytesIO()
    skcae.save(det, buffer)
    old = _with_config(lambda c: c.update(format_version=7))(buffer.getvalue())
    loaded = skcae.load(io.BytesIO(old))
    np.testing.assert_array_equal(loaded.score_samples(X), det.score_samples(X))
    assert loaded.offset_ == det.offset_


def _check_older_hybrid_files(version, monkeypatch, message):
    """Fit a hybrid image, a reconstruction and a dense hybrid detector as
    the (monkeypatched) older skcae did, save them as file format
    ``version``, and load them with this skcae: the hybrid image file is
    refused with ``message``, the others load and score as fitted."""
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8)[y == 0]
    fitted = {
        "hybrid": ConvAutoencoderOutlierDetector(**TINY).fit(X),
        "reconstruction": ConvAutoencoderOutlierDetector(
            **TINY, score_type="reconstruction"
        ).fit(X),
        "dense": AutoencoderOutlierDetector(**TINY_DENSE).fit(X.reshape(len(X), -1)),
    }
    saved = {}
    for name, det in fitted.items():
        buffer = io.BytesIO()
        skcae.save(det, buffer)
        saved[name] = _with_config(lambda c: c.update(format_version=version))(
            buffer.getvalue()
        )
    monkeypatch.undo()  # this skcae reads them
    for name, det in fitted.items():
        if name == "hybrid":
            with pytest.raises(ValueError, match=message):
                skcae.load(io.BytesIO(saved[name]))
            continue
        loaded = skcae.load(io.BytesIO(saved[name]))
        Xs = X if name != "dense" else X.reshape(len(X), -1)
        np.testing.assert_array_equal(loaded.score_samples(Xs), det.score_samples(Xs))


@pytest.mark.parametrize("version", [7, 8])
def test_older_hybrid_image_files_are_refused_with_a_refit_message(
    version, old_hybrid_terms, monkeypatch
):
    """Version 9 put the "residual" term in the place of the hybrid image
    score's mean squared error: an older hybrid file of images (which holds
    no pixel weights) is refused with a refit message, not with a list of
    missing tensors; other score types and the dense detector's hybrid
    score (which kept its terms) load and score as before."""
    message = (
        rf"file format version {version}\) whose hybrid score had the "
        "mean squared error term where this skcae has the per-pixel "
        "'residual' term .*Refit the estimator"
    )
    _check_older_hybrid_files(version, monkeypatch, message)


@pytest.mark.parametrize("version", [9, 10])
def test_hybrid_image_files_before_the_range_term_are_refused(version, monkeypatch):
    """Version 11 added the per-pixel "range" term to the hybrid image
    score: a version 9 or 10 file of that score (which holds no pixel
    ranges) is refused with a refit message, not with a list of missing
    tensors; other score types and the dense detector's hybrid score
    load and score as before."""
    from skcae import _outlier

    monkeypatch.setitem(_outlier.SCORE_TERMS, "hybrid", HYBRID_TERMS_9)
    message = (
        rf"file format version {version}\) whose hybrid score lacked the "
        "per-pixel 'range' term .*Refit the estimator"
    )
    _check_older_hybrid_files(version, monkeypatch, message)


def test_8x8_hybrid_files_before_the_pixel_density_weights_are_refused(monkeypatch):
    """Version 12 weighs the density and range terms of a hybrid score of
    images of at most 8x8 pixels (whose density term reads the pixels)
    more; the weights are this skcae's, not the file's, so a version 11
    file of such a score is refused with a refit message; other score
    types and the dense detector load and score as before."""
    from skcae import _scorer

    monkeypatch.setattr(_scorer, "PIXEL_DENSITY_WEIGHTS", {})  # as version 11
    message = (
        r"file format version 11\) whose hybrid score of images of at most "
        "8x8 pixels weighed its density and range terms less.*Refit the "
        "estimator"
    )
    _check_older_hybrid_files(11, monkeypatch, message)


def test_larger_hybrid_image_files_stay_format_11(tmp_path):
    """16x16 images: the density term reads the first block's maps, the
    weights are TERM_WEIGHTS as in version 11, and the file says 11."""
    rng = np.random.RandomState(0)
    X = rng.rand(40, 16, 16)
    det = ConvAutoencoderOutlierDetector(**TINY).fit(X)
    assert not det.scorer_.weighs_pixel_density
    path = tmp_path / "m.skcae"
    skcae.save(det, path)
    with zipfile.ZipFile(path) as archive:
        assert json.loads(archive.read(CONFIG))["format_version"] == 11
    np.testing.assert_array_equal(
        skcae.load(path).score_samples(X), det.score_samples(X)
    )


def test_save_to_a_text_file_or_a_non_file_says_what_it_takes(tmp_path):
    """A text-mode file gave zipfile's "write() argument must be str, not
    bytes", a memoryview an AttributeError (a hostile probe)."""
    det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), **TINY)
    det.fit(np.random.RandomState(0).rand(40, 64))
    with open(tmp_path / "m.skcae", "w") as text:
        with pytest.raises(TypeError, match="text-mode file object.*'wb'"):
            skcae.save(det, text)
    with pytest.raises(TypeError, match="Got memoryview .*binary file object"):
        skcae.save(det, memoryview(bytearray(8)))
    buffer = io.BytesIO()
    skcae.save(det, buffer)
    buffer.seek(0)
    assert skcae.load(buffer).offset_ == det.offset_
    # a binary stream whose mode is no string (GzipFile's is an int)
    import gzip

    with gzip.open(tmp_path / "m.skcae.gz", "wb") as packed:
        skcae.save(det, packed)
    with gzip.open(tmp_path / "m.skcae.gz", "rb") as packed:
        assert skcae.load(io.BytesIO(packed.read())).offset_ == det.offset_


def test_load_from_a_non_file_says_what_it_takes(tmp_path):
    """bytes, None or a number were blamed on the file ("not a valid skcae
    file (AttributeError(...seek...))"), a text-mode file raised a decode
    error (a hostile probe)."""
    det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), **TINY)
    det.fit(np.random.RandomState(0).rand(40, 64))
    path = tmp_path / "m.skcae"
    skcae.save(det, path)
    data = path.read_bytes()
    for bad in (data, bytes(path), None, 123):
        with pytest.raises(TypeError, match=f"got {type(bad).__name__}; expected"):
            skcae.load(bad)
        with pytest.raises(ValueError, match="Cannot load the given file object"):
            skcae.load(bad)  # as every refusal of load
    with pytest.raises(TypeError, match="io.BytesIO"):
        skcae.load(data)
    with open(path) as text:
        with pytest.raises(TypeError, match="text-mode file; expected.*'rb'"):
            skcae.load(text)
    assert skcae.load(io.BytesIO(data)).offset_ == det.offset_
    # a zip member is a binary stream whose mode is 'r' (not text: a review)
    import zipfile

    with zipfile.ZipFile(tmp_path / "models.zip", "w") as archive:
        archive.writestr("m.skcae", data)
    with zipfile.ZipFile(tmp_path / "models.zip") as archive:
        with archive.open("m.skcae") as member:
            assert member.mode == "r"
            assert skcae.load(member).offset_ == det.offset_
