"""skcae.to_onnx: the scoring graph, run by onnxruntime, matches the detector."""

import pickle
import sys

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

import skcae
from skcae import (
    AutoencoderOutlierDetector,
    ConvAutoencoder,
    ConvAutoencoderOutlierDetector,
)

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
ort = pytest.importorskip("onnxruntime")

FAST = dict(latent_dim=2, max_epochs=1, contamination=0.2, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def data():
    # 7x9 images: the network pads them to 8x10 and crops the output back.
    return np.random.RandomState(0).rand(50, 63) * 4.0


@pytest.fixture(scope="module")
def detector(data):
    return ConvAutoencoderOutlierDetector(
        image_shape=(7, 9), channels=(4,), **FAST
    ).fit(data[:40])


@pytest.fixture(scope="module")
def exported(detector, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "detector.onnx"
    skcae.to_onnx(detector, path)
    return path


def _session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _check_matches(session, detector, X):
    for n in (1, 3, len(X)):  # the graph was traced with a batch of 2
        score, label = session.run(None, {"X": X[:n].astype(np.float32)})
        assert score.shape == (n,) and score.dtype == np.float64
        assert label.dtype == np.int64
        np.testing.assert_allclose(
            score, detector.score_samples(X[:n]), rtol=1e-5, atol=1e-5
        )
        np.testing.assert_array_equal(label, detector.predict(X[:n]))


def test_onnxruntime_matches_score_samples_and_predict(detector, exported, data):
    assert detector.net_.module_._padded_hw != (7, 9)  # padding is exercised
    labels = detector.predict(data)
    assert set(labels.tolist()) == {-1, 1}  # both sides of the threshold
    _check_matches(_session(exported), detector, data)


def test_graph_inputs_outputs_and_metadata(detector, exported):
    model = onnx.load(str(exported))
    onnx.checker.check_model(model)
    (inp,) = model.graph.input
    assert inp.name == "X"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    batch, features = inp.type.tensor_type.shape.dim
    assert batch.dim_param and not batch.dim_value  # dynamic batch
    assert features.dim_value == 63
    outputs = {o.name: o.type.tensor_type.elem_type for o in model.graph.output}
    assert outputs == {
        "score": onnx.TensorProto.DOUBLE,
        "label": onnx.TensorProto.INT64,
    }
    meta = {p.key: p.value for p in model.metadata_props}
    assert float(meta["offset"]) == detector.offset_
    assert meta["estimator"] == "ConvAutoencoderOutlierDetector"


def test_dense_detector_exports_too(data, tmp_path):
    det = AutoencoderOutlierDetector(hidden_layer_sizes=(8,), **FAST).fit(data[:40])
    skcae.to_onnx(det, tmp_path / "dense.onnx")
    _check_matches(_session(tmp_path / "dense.onnx"), det, data)


def test_refuses_what_it_cannot_export(detector, data, tmp_path):
    with pytest.raises(NotFittedError):
        skcae.to_onnx(ConvAutoencoderOutlierDetector(), tmp_path / "a.onnx")
    transformer = ConvAutoencoder(
        image_shape=(7, 9), channels=(4,), max_epochs=1, latent_dim=2, device="cpu"
    ).fit(data[:10])
    with pytest.raises(TypeError, match="exports outlier detectors"):
        skcae.to_onnx(transformer, tmp_path / "b.onnx")
    changed = pickle.loads(pickle.dumps(detector))
    changed.score_samples = lambda X: 2 * detector.score_samples(X)
    with pytest.raises(NotImplementedError, match="score_samples is not minus"):
        skcae.to_onnx(changed, tmp_path / "c.onnx")
    assert not (tmp_path / "c.onnx").exists()


def test_missing_onnx_names_the_extra(detector, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r'pip install "skcae\[onnx\]"'):
        skcae.to_onnx(detector, tmp_path / "a.onnx")
