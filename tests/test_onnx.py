"""skcae.to_onnx: the scoring graph, run by onnxruntime, matches the detector."""

import io
import logging
import sys
import threading
import warnings

import numpy as np
import pytest
import torch
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
pytestmark = pytest.mark.slow  # each export traces the graph: seconds

SMALL = dict(latent_dim=2, max_epochs=1, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def images():
    """7x9 gray images: the network pads them to 8x10 and crops back."""
    return np.random.RandomState(0).rand(60, 7, 9) * 4.0


def _session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _check_matches(path, detector, X):
    session = _session(path)
    for n in (1, 3, len(X)):  # the graph was traced with a batch of 2
        score, label = session.run(None, {"X": X[:n].astype(np.float32)})
        assert score.shape == (n,) and score.dtype == np.float64
        assert label.dtype == np.int64
        np.testing.assert_allclose(
            score, detector.score_samples(X[:n]), rtol=1e-4, atol=1e-6
        )
        np.testing.assert_array_equal(label, detector.predict(X[:n]))


@pytest.mark.parametrize("score_type", ["hybrid", "reconstruction", "latent"])
def test_every_score_type_matches(images, score_type, tmp_path):
    det = ConvAutoencoderOutlierDetector(
        channels=(4,), score_type=score_type, contamination=0.2, **SMALL
    ).fit(images[:40])
    assert det.net_.module_._padded_hw != (7, 9)  # padding is exercised
    skcae.to_onnx(det, tmp_path / "det.onnx")
    X = np.r_[images[40:], images[40:] * 3]  # inliers and outliers
    assert set(det.predict(X).tolist()) == {-1, 1}  # both sides of the threshold
    _check_matches(tmp_path / "det.onnx", det, X)


def test_every_initializer_is_read(images, tmp_path):
    """The exporter left initializers no node reads, and onnxruntime printed
    'Removing initializer ... It is not used by any node' whenever a
    session opened the file (the user guide's snippet did). Names read only
    inside the Scan's body count as read."""
    from skcae._onnx import _used_names

    det = ConvAutoencoderOutlierDetector(channels=(4,), **SMALL).fit(images[:40])
    skcae.to_onnx(det, tmp_path / "det.onnx")
    model = onnx.load(tmp_path / "det.onnx")
    used = _used_names(model.graph)
    assert model.graph.initializer
    assert [i.name for i in model.graph.initializer if i.name not in used] == []
    _check_matches(tmp_path / "det.onnx", det, images[40:])


@pytest.mark.parametrize(
    "score_type, binary", [("density", False), ("hybrid", False), ("density", True)]
)
def test_equidistant_neighbours_on_quantised_images_match(score_type, binary, tmp_path):
    # sklearn's digits take 17 values: many references are equidistant from
    # an image, and onnxruntime's float32 search ordered them otherwise than
    # torch's (up to 5% apart in score, a label flipped; a hostile probe);
    # binary images tie in groups larger than any margin (a review)
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = ((X > 7) if binary else X / 16.0).astype(float).reshape(-1, 8, 8)
    det = ConvAutoencoderOutlierDetector(
        channels=(4,),
        latent_dim=4,
        max_epochs=2,
        n_jobs=1,
        score_type=score_type,
        random_state=0,
    ).fit(X[y == 3][:100])
    skcae.to_onnx(det, tmp_path / "det.onnx")
    score, label = _session(tmp_path / "det.onnx").run(
        None, {"X": X.astype(np.float32)}
    )
    np.testing.assert_allclose(score, det.score_samples(X), rtol=1e-5)
    np.testing.assert_array_equal(label, det.predict(X))


def test_the_graph_takes_the_fitted_form_or_flat_rows(tmp_path):
    X = np.random.RandomState(0).rand(40, 6, 5, 3)
    det = ConvAutoencoderOutlierDetector(
        channels=(4,), data_format="channels_last", **SMALL
    ).fit(X)
    skcae.to_onnx(det, tmp_path / "fitted.onnx")
    _check_matches(tmp_path / "fitted.onnx", det, X)  # (n, 6, 5, 3) as fitted
    skcae.to_onnx(det, tmp_path / "flat.onnx", input_form="flat")
    score, _ = _session(tmp_path / "flat.onnx").run(
        None, {"X": X.reshape(40, -1).astype(np.float32)}
    )
    np.testing.assert_allclose(score, det.score_samples(X), rtol=1e-4, atol=1e-6)


def test_smoothed_top_fraction_scores_export(images, tmp_path):
    det = ConvAutoencoderOutlierDetector(
        channels=(4,),
        score_type="reconstruction",
        score_smoothing=3,
        score_top_fraction=0.2,
        **SMALL,
    ).fit(images[:40])
    skcae.to_onnx(det, tmp_path / "det.onnx")
    _check_matches(tmp_path / "det.onnx", det, images[40:])


def test_graph_inputs_outputs_and_metadata(images, tmp_path):
    det = ConvAutoencoderOutlierDetector(channels=(4,), **SMALL).fit(images[:40])
    skcae.to_onnx(det, tmp_path / "det.onnx")
    model = onnx.load(str(tmp_path / "det.onnx"))
    onnx.checker.check_model(model)
    (inp,) = model.graph.input
    assert inp.name == "X"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    batch, height, width = inp.type.tensor_type.shape.dim
    assert batch.dim_param and not batch.dim_value  # dynamic batch
    assert (height.dim_value, width.dim_value) == (7, 9)
    outputs = {o.name: o.type.tensor_type.elem_type for o in model.graph.output}
    assert outputs == {
        "score": onnx.TensorProto.DOUBLE,
        "label": onnx.TensorProto.INT64,
    }
    meta = {p.key: p.value for p in model.metadata_props}
    assert float(meta["offset"]) == det.offset_
    assert meta["estimator"] == "ConvAutoencoderOutlierDetector"
    assert meta["score_type"] == "hybrid" and meta["input_shape"] == "[7, 9]"


@pytest.mark.parametrize("score_type", ["hybrid", "reconstruction"])
def test_dense_detector_exports_too(images, score_type, tmp_path):
    X = images.reshape(60, -1)
    det = AutoencoderOutlierDetector(
        hidden_layer_sizes=(8,), score_type=score_type, **SMALL
    ).fit(X[:40])
    skcae.to_onnx(det, tmp_path / "dense.onnx")
    _check_matches(tmp_path / "dense.onnx", det, X)


def test_refuses_what_it_cannot_export(images, tmp_path):
    with pytest.raises(NotFittedError):
        skcae.to_onnx(ConvAutoencoderOutlierDetector(), tmp_path / "a.onnx")
    transformer = ConvAutoencoder(channels=(4,), **SMALL).fit(images[:10])
    with pytest.raises(TypeError, match="exports skcae's outlier detectors"):
        skcae.to_onnx(transformer, tmp_path / "b.onnx")
    det = ConvAutoencoderOutlierDetector(channels=(4,), **SMALL).fit(images[:40])
    with pytest.raises(ValueError, match="input_form"):
        skcae.to_onnx(det, tmp_path / "d.onnx", input_form="nchw")


def test_refuses_data_float32_rounds_away(images, tmp_path):
    # 1e8 + values of spread ~1: float32 stores them in steps of 8, so the
    # graph (float32 input) would score noise; score_samples works in float64
    det = ConvAutoencoderOutlierDetector(channels=(4,), **SMALL).fit(1e8 + images[:40])
    with pytest.raises(
        ValueError,
        match=r"offset is large relative to its spread: mean 1e\+08, "
        r"standard deviation 1\.1.*input X is float32.*steps of 8.*"
        r"subtract a constant near the mean",
    ):
        skcae.to_onnx(det, tmp_path / "offset.onnx")
    assert not (tmp_path / "offset.onnx").exists()
    # the same data without the offset export (test_every_score_type_matches)


def test_refuses_data_beyond_float32(images, tmp_path):
    # fitting and scoring work in float64; the graph's float32 input cannot
    huge = ConvAutoencoderOutlierDetector(channels=(4,), **SMALL).fit(
        images[:40] * 1e300
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "overflow encountered in cast"
        with pytest.raises(
            ValueError,
            match=r"fitted on values up to 4e\+300 in magnitude, but the ONNX "
            r"graph's input X is float32.*Rescale X",
        ):
            skcae.to_onnx(huge, tmp_path / "huge.onnx")
    tiny = ConvAutoencoderOutlierDetector(channels=(4,), **SMALL).fit(
        images[:40] * 1e-300
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(
            ValueError,
            match=r"(?s)values up to 4e-300 in magnitude .*below the smallest "
            r"normal float32 value.*Rescale X",
        ):
            skcae.to_onnx(tiny, tmp_path / "tiny.onnx")
    assert not list(tmp_path.iterdir())


def test_missing_onnx_names_the_extra(images, monkeypatch, tmp_path):
    det = ConvAutoencoderOutlierDetector(channels=(4,), **SMALL).fit(images[:40])
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r'pip install "skcae\[onnx\]"'):
        skcae.to_onnx(det, tmp_path / "a.onnx")


DETECTORS = {
    "conv": lambda st: ConvAutoencoderOutlierDetector(
        channels=(4,), score_type=st, **SMALL
    ),
    "dense": lambda st: AutoencoderOutlierDetector(
        hidden_layer_sizes=(8,), score_type=st, **SMALL
    ),
}


@pytest.mark.parametrize("kind", list(DETECTORS))
@pytest.mark.parametrize("score_type", ["hybrid", "reconstruction", "latent"])
def test_in_memory_loaded_and_onnx_scores_are_equal(images, kind, score_type, tmp_path):
    """One scorer_: what score_samples runs, what save writes, what ONNX is."""
    X = images if kind == "conv" else images.reshape(len(images), -1)
    det = DETECTORS[kind](score_type).fit(X[:40])
    buffer = io.BytesIO()
    skcae.save(det, buffer)
    loaded = skcae.load(buffer)
    test = np.r_[X[40:], 3 * X[40:]]
    np.testing.assert_array_equal(loaded.score_samples(test), det.score_samples(test))
    skcae.to_onnx(loaded, tmp_path / "det.onnx")
    _check_matches(tmp_path / "det.onnx", det, test)


def test_batches_of_several_chunks_match(images, tmp_path):
    """600 rows: three of the graph's 256-row chunks, the last one padded."""
    det = ConvAutoencoderOutlierDetector(channels=(4,), **SMALL).fit(images[:40])
    skcae.to_onnx(det, tmp_path / "det.onnx")
    X = np.random.RandomState(1).rand(600, 7, 9) * 4.0
    score, label = _session(tmp_path / "det.onnx").run(
        None, {"X": X.astype(np.float32)}
    )
    np.testing.assert_allclose(score, det.score_samples(X), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(label, det.predict(X))


def test_concurrent_exports_leave_no_global_state_changed(images, tmp_path):
    det = ConvAutoencoderOutlierDetector(channels=(4,), **SMALL).fit(images[:40])
    logger = logging.getLogger("torch.onnx")
    level, filters = logger.level, list(warnings.filters)
    errors = []

    def export(i):
        try:
            skcae.to_onnx(det, tmp_path / f"det{i}.onnx")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=export, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert logger.level == level and warnings.filters == filters
    for i in range(3):
        _check_matches(tmp_path / f"det{i}.onnx", det, images[40:])


def test_a_failed_export_leaves_the_old_file(images, tmp_path, monkeypatch):
    det = ConvAutoencoderOutlierDetector(channels=(4,), **SMALL).fit(images[:40])
    path = tmp_path / "det.onnx"
    path.write_bytes(b"the old file")

    def broken(*args, **kwargs):
        raise RuntimeError("exporter failed")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(RuntimeError, match="exporter failed"):
        skcae.to_onnx(det, path)
    assert path.read_bytes() == b"the old file"
    assert [p.name for p in tmp_path.iterdir()] == ["det.onnx"]  # no temp file


@pytest.mark.parametrize("same", ["zeros", "copies"])
def test_refuses_a_graph_that_would_not_reproduce_the_scores(
    same, tmp_path, monkeypatch
):
    """Every training image the same: onnxruntime's arithmetic gave NaN, or
    -2.6e74 where score_samples gave -3.4e6, for the default score. With
    one distinct kNN reference the image itself scores as typical (minus
    log 2) and any other far below, but the graph's float32 input moved it
    a hair (-4.6e5). The export refuses before exporting, leaving no file."""
    digit = np.arange(64.0).reshape(8, 8) % 16
    image = np.zeros((8, 8)) if same == "zeros" else digit
    train = np.repeat(image[None], 40, axis=0)
    det = ConvAutoencoderOutlierDetector(channels=(4,), **SMALL).fit(train)
    if same == "copies":
        scores = det.score_samples(np.stack([image, image + 1]))
        assert scores[0] == pytest.approx(-np.log(2.0), rel=1e-6)
        assert np.isfinite(scores[1]) and scores[1] < -100
    path = tmp_path / "det.onnx"

    def exported(*args, **kwargs):
        raise AssertionError("exported a graph it then refuses")

    monkeypatch.setattr(torch.onnx, "export", exported)
    with pytest.raises(ValueError, match="too degenerate for the graph"):
        skcae.to_onnx(det, path)
    assert not path.exists()


def test_a_nan_sample_is_never_labelled_an_inlier(images, tmp_path):
    """The graph cannot refuse NaN: its score was NaN and, by ``score <
    offset`` being false, its label +1 (a hostile probe)."""
    for score_type in ("hybrid", "reconstruction"):
        det = ConvAutoencoderOutlierDetector(
            channels=(4,), score_type=score_type, **SMALL
        ).fit(images[:40])
        skcae.to_onnx(det, tmp_path / "m.onnx")
        X = images[40:44].astype(np.float32)
        X[0, 3, 3] = np.nan
        score, label = _session(tmp_path / "m.onnx").run(None, {"X": X})
        assert np.isnan(score[0]) and label[0] == -1
        np.testing.assert_array_equal(label[1:], det.predict(images[41:44]))


def test_opset_version_is_checked_and_written(images, tmp_path, caplog):
    """Asked for an opset below 18 the exporter printed the converter's
    tracebacks and wrote 18; True, -1 and "18" went on too (a hostile
    probe)."""
    det = ConvAutoencoderOutlierDetector(channels=(4,), **SMALL).fit(images[:40])
    for bad in (17, 10, -1, True, "18", 18.0, onnx.defs.onnx_opset_version() + 1):
        with pytest.raises(ValueError, match=r"opset_version=.*an int from 18"):
            skcae.to_onnx(det, tmp_path / "m.onnx", opset_version=bad)
    assert not (tmp_path / "m.onnx").exists()
    skcae.to_onnx(det, tmp_path / "m.onnx", opset_version=19)
    model = onnx.load(tmp_path / "m.onnx")
    assert [o.version for o in model.opset_import if o.domain == ""] == [19]
    _check_matches(tmp_path / "m.onnx", det, images)
    # the newest: onnxscript's converter hands it to onnx's and warned on
    # stderr that it would (a review); the level of its logger comes back
    newest = onnx.defs.onnx_opset_version()
    level = logging.getLogger("onnxscript").level
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        skcae.to_onnx(det, tmp_path / "newest.onnx", opset_version=newest)
    assert not [r for r in caplog.records if r.name.startswith("onnxscript")]
    assert logging.getLogger("onnxscript").level == level
    model = onnx.load(tmp_path / "newest.onnx")
    assert [o.version for o in model.opset_import if o.domain == ""] == [newest]


def test_a_bytes_path_is_a_type_error(images, tmp_path):
    det = ConvAutoencoderOutlierDetector(channels=(4,), **SMALL).fit(images[:40])
    for bad in (bytes(tmp_path / "m.onnx"), None, 3):
        with pytest.raises(TypeError, match="path of the .onnx file; expected a str"):
            skcae.to_onnx(det, bad)


def test_a_callers_autocast_or_float64_default_does_not_reach_the_export(
    images, tmp_path
):
    """Under the caller's bfloat16 autocast the graph held bfloat16 convs that
    onnxruntime refused; under a float64 default its input was double (a
    review)."""
    det = ConvAutoencoderOutlierDetector(channels=(4,), **SMALL).fit(images[:40])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        skcae.to_onnx(det, tmp_path / "autocast.onnx")
    _check_matches(tmp_path / "autocast.onnx", det, images)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        skcae.to_onnx(det, tmp_path / "float64.onnx")
    finally:
        torch.set_default_dtype(before)
    _check_matches(tmp_path / "float64.onnx", det, images)


def test_the_first_exports_of_a_process_in_concurrent_threads():
    """The check of an export runs the graph's Scan through torch.compile,
    whose state is not thread-safe: beside another thread's export it broke
    that export and every later one of the process. A fresh interpreter, so
    that no earlier export of the suite hides it."""
    import subprocess
    import textwrap

    code = textwrap.dedent(
        """
        import os, tempfile, threading
        import numpy as np
        import skcae
        X = np.random.RandomState(0).rand(60, 7, 9)
        det = skcae.ConvAutoencoderOutlierDetector(
            channels=(4,), latent_dim=2, max_epochs=1, random_state=0).fit(X)
        folder, errors = tempfile.mkdtemp(), []
        def export(i):
            try:
                skcae.to_onnx(det, os.path.join(folder, f"{i}.onnx"))
            except Exception as exc:
                errors.append(repr(exc)[:200])
        threads = [threading.Thread(target=export, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(errors)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout[-2000:]
