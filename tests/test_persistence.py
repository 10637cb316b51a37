"""skcae.save / skcae.load: a zip of JSON and safetensors, never pickle."""

import io
import json
import pickle
import sys
import zipfile

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError

import skcae
from skcae import (
    AutoencoderOutlierDetector,
    ConvAutoencoder,
    ConvAutoencoderOutlierDetector,
)
from skcae.callbacks import ReconstructionMonitor

pytest.importorskip("safetensors")

FAST = dict(latent_dim=2, max_epochs=2, batch_size=32, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def X():
    return load_digits().data[:120]


@pytest.fixture(scope="module")
def detector(X):
    return ConvAutoencoderOutlierDetector(
        image_shape=(8, 8), channels=(4,), contamination=0.1, **FAST
    ).fit(X)


def _saved(estimator):
    buffer = io.BytesIO()
    skcae.save(estimator, buffer)
    return buffer.getvalue()


def _rewrite(data, *, config=None, weights=None, drop=()):
    """A copy of a saved file with config.json / model.safetensors replaced."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if config is not None:
        members["config.json"] = json.dumps(config(json.loads(members["config.json"])))
    if weights is not None:
        from safetensors.torch import load as st_load
        from safetensors.torch import save as st_save

        members["model.safetensors"] = st_save(
            weights(st_load(members["model.safetensors"]))
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            if name not in drop:
                archive.writestr(name, content)
    return buffer.getvalue()


def _assert_same_fitted_state(loaded, estimator):
    assert type(loaded) is type(estimator)
    assert loaded.get_params() == estimator.get_params()
    for name, value in vars(estimator).items():
        if name.endswith("_") and not name.startswith("_") and name != "net_":
            np.testing.assert_equal(getattr(loaded, name), value, err_msg=name)
            assert type(getattr(loaded, name)) is type(value), name
    assert loaded.net_.history.to_list() == estimator.net_.history.to_list()


@pytest.mark.parametrize(
    "estimator",
    [
        ConvAutoencoderOutlierDetector(
            image_shape=[8, 8], channels=(4,), optimizer=torch.optim.AdamW, **FAST
        ),
        AutoencoderOutlierDetector(
            hidden_layer_sizes=(8,), threshold=30.0, validation_fraction=0.25, **FAST
        ),
        ConvAutoencoder(image_shape=(1, 8, 8), channels=(4,), **FAST),
    ],
    ids=lambda est: type(est).__name__,
)
def test_round_trip_is_identical_for_every_estimator(estimator, X, tmp_path):
    estimator.fit(X)
    path = tmp_path / "model.skcae"
    skcae.save(estimator, path)
    loaded = skcae.load(path)
    _assert_same_fitted_state(loaded, estimator)
    assert loaded.optimizer == estimator.optimizer  # a class is stored by name
    for method in ("score_samples", "decision_function", "predict", "transform"):
        if hasattr(estimator, method):
            np.testing.assert_array_equal(
                getattr(loaded, method)(X), getattr(estimator, method)(X)
            )
    if estimator.validation_fraction:  # the same held-out rows
        np.testing.assert_array_equal(
            loaded.net_.train_split.indices(len(X))[1],
            estimator.net_.train_split.indices(len(X))[1],
        )
    buffers = dict(loaded.net_.module_.named_buffers())
    assert not torch.equal(buffers["shift"], torch.zeros_like(buffers["shift"]))


def test_feature_names_survive(X):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=[f"pixel_{i}" for i in range(64)])
    det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), channels=(4,), **FAST)
    det.fit(df)
    loaded = skcae.load(io.BytesIO(_saved(det)))
    _assert_same_fitted_state(loaded, det)
    np.testing.assert_array_equal(loaded.score_samples(df), det.score_samples(df))
    with pytest.raises(ValueError, match="feature names"):
        loaded.score_samples(df.rename(columns={"pixel_0": "other"}))


def test_file_is_a_zip_of_json_and_safetensors(detector):
    from safetensors.torch import load as st_load

    with zipfile.ZipFile(io.BytesIO(_saved(detector))) as archive:
        assert sorted(archive.namelist()) == ["config.json", "model.safetensors"]
        config = json.loads(archive.read("config.json"))
        tensors = st_load(archive.read("model.safetensors"))
    assert config["format"] == "skcae" and config["format_version"] == 1
    assert config["class"] == "ConvAutoencoderOutlierDetector"
    assert config["fitted"]["offset_"] == detector.offset_
    assert config["params"]["channels"] == {"tuple": [4]}
    assert {"skcae", "torch", "scikit-learn"} <= set(config["versions"])
    assert {"shift", "scale"} <= set(tensors)
    state = detector.net_.module_.state_dict()
    assert set(tensors) == set(state)
    for key, tensor in tensors.items():
        assert torch.equal(tensor, state[key])


def test_load_never_unpickles(detector, X, monkeypatch):
    data = _saved(detector)

    def forbidden(*args, **kwargs):
        raise AssertionError("skcae.load must not unpickle")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    loaded = skcae.load(io.BytesIO(data))
    np.testing.assert_array_equal(loaded.score_samples(X), detector.score_samples(X))


def test_load_onto_a_chosen_device(detector):
    data = _saved(detector)
    assert skcae.load(io.BytesIO(data), device="cpu").device_ == "cpu"
    on_gpu = _rewrite(
        data, config=lambda c: {**c, "fitted": {**c["fitted"], "device_": "cuda"}}
    )
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert skcae.load(io.BytesIO(on_gpu)).device_ == expected


@pytest.mark.parametrize(
    "param, value, fix",
    [
        ("callbacks", [ReconstructionMonitor(np.zeros((2, 64)))], None),
        ("random_state", np.random.RandomState(0), 0),
        ("optimizer", type("MyAdam", (torch.optim.Adam,), {}), "adam"),
    ],
)
def test_unrepresentable_parameter_is_named_at_save(detector, param, value, fix):
    det = pickle.loads(pickle.dumps(detector))  # a fitted copy
    det.set_params(**{param: value})
    with pytest.raises(ValueError, match=f"Cannot save parameter {param}="):
        _saved(det)
    det.set_params(**{param: fix})  # the advice in the message works
    skcae.load(io.BytesIO(_saved(det)))


def test_unrepresentable_fitted_state_is_skipped_with_a_warning(detector, X):
    det = pickle.loads(pickle.dumps(detector))
    det.extra_ = object()
    det.net_.history.record("odd", object())
    with pytest.warns(UserWarning, match=r"\['extra_', 'net_.history'\]"):
        data = _saved(det)
    loaded = skcae.load(io.BytesIO(data))
    assert not hasattr(loaded, "extra_") and len(loaded.net_.history) == 0
    np.testing.assert_array_equal(loaded.score_samples(X), det.score_samples(X))


def test_save_refuses_unfitted_and_foreign_estimators(detector):
    with pytest.raises(NotFittedError):
        skcae.save(ConvAutoencoderOutlierDetector(), io.BytesIO())

    class Sub(ConvAutoencoderOutlierDetector):
        pass

    sub = Sub(image_shape=(8, 8), channels=(4,), **FAST)
    with pytest.raises(TypeError, match="only saves skcae's estimators"):
        skcae.save(sub, io.BytesIO())


def _replace_member(data, name, content):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    members[name] = content
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n, c in members.items():
            archive.writestr(n, c)
    return buffer.getvalue()


def _shrink_first_weight(state):
    # a weight whose first axis really shrinks (the output conv has 1 row)
    key = next(k for k in sorted(state) if k.endswith("weight") and len(state[k]) > 1)
    return {**state, key: state[key][:1].contiguous()}


BAD_FILES = {
    "not a zip": (lambda d: b"not a zip at all", "not a readable skcae file"),
    "truncated": (lambda d: d[: len(d) // 2], "not a readable skcae file"),
    "no weights": (
        lambda d: _rewrite(d, drop=("model.safetensors",)),
        r"lacks \['model.safetensors'\]",
    ),
    "bad json": (
        lambda d: _replace_member(d, "config.json", b"{"),
        "not a readable skcae file",
    ),
    "config not an object": (
        lambda d: _rewrite(d, config=lambda c: "{"),
        "not a skcae file",
    ),
    "newer version": (
        lambda d: _rewrite(d, config=lambda c: {**c, "format_version": 99}),
        "format version 99, newer than this skcae reads",
    ),
    "unknown class": (
        lambda d: _rewrite(d, config=lambda c: {**c, "class": "os.system"}),
        "'os.system', which is not one of skcae's estimators",
    ),
    "unknown param": (
        lambda d: _rewrite(
            d, config=lambda c: {**c, "params": {**c["params"], "bogus": 1}}
        ),
        "parameters that do not fit",
    ),
    "bad param value": (
        lambda d: _rewrite(
            d, config=lambda c: {**c, "params": {**c["params"], "lr": -1.0}}
        ),
        "parameters that do not fit",
    ),
    "missing fitted attribute": (
        lambda d: _rewrite(
            d,
            config=lambda c: {
                **c,
                "fitted": {k: v for k, v in c["fitted"].items() if k != "image_shape_"},
            },
        ),
        "lacks what is needed to rebuild",
    ),
    "wrong tensor shape": (
        lambda d: _rewrite(d, weights=_shrink_first_weight),
        "do not match a ConvAutoencoderOutlierDetector",
    ),
    "missing tensor": (
        lambda d: _rewrite(
            d, weights=lambda s: {k: v for k, v in s.items() if k != "scale"}
        ),
        r"do not match .*\['scale'\]",
    ),
    "garbage weights": (
        lambda d: _replace_member(d, "model.safetensors", b"\x00" * 16),
        "unreadable weights",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_give_a_clear_value_error(detector, case):
    corrupt, match = BAD_FILES[case]
    with pytest.raises(ValueError, match=match):
        skcae.load(io.BytesIO(corrupt(_saved(detector))))


def test_missing_safetensors_names_the_extra(detector, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(ImportError, match="pip install safetensors"):
        skcae.save(detector, io.BytesIO())
