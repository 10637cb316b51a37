"""DaskScorer: lazy, block-wise scoring of Dask arrays, equal to in-memory results."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import skcae._dask_scoring
from skcae import ConvAutoencoderOutlierDetector, DaskScorer

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

METHODS = [
    "score_samples",
    "decision_function",
    "predict",
    "encode",
    "anomaly_map",
    "reconstruct",
]


@pytest.fixture(scope="module")
def gray(digits):
    return digits[0].reshape(-1, 8, 8)


@pytest.fixture(scope="module")
def gray_detector(gray):
    return ConvAutoencoderOutlierDetector(
        channels=(4,), latent_dim=2, max_epochs=2, device="cpu", random_state=0
    ).fit(gray[:300])


@pytest.fixture
def applied(monkeypatch):
    """Count the calls of the block task (and of the local probe)."""
    count = [0]
    original = skcae._dask_scoring._apply

    def counted(*args):
        count[0] += 1
        return original(*args)

    monkeypatch.setattr(skcae._dask_scoring, "_apply", counted)
    return lambda: count[0]


@pytest.mark.parametrize("method", METHODS)
def test_every_method_equals_the_in_memory_result(method, gray, gray_detector):
    X = gray[:700]
    lazy = getattr(DaskScorer(gray_detector), method)(
        da.from_array(X, chunks=(256, 8, 8))
    )
    expected = getattr(gray_detector, method)(X)
    assert isinstance(lazy, da.Array)
    assert lazy.shape == expected.shape and lazy.dtype == expected.dtype
    assert lazy.chunks[0] == (256, 256, 188)
    with dask.config.set(scheduler="threads"):
        np.testing.assert_array_equal(lazy.compute(), expected)


def test_colour_images_chunked_along_every_axis(rgb, fitted_rgb):
    X = da.from_array(rgb, chunks=(7, 2, 3, 2))  # split samples are merged
    scorer = DaskScorer(fitted_rgb)
    maps = scorer.anomaly_map(X)
    assert maps.shape == (40, 3, 6, 5) and maps.chunks[0] == (7,) * 5 + (5,)
    np.testing.assert_array_equal(maps.compute(), fitted_rgb.anomaly_map(rgb))
    np.testing.assert_array_equal(
        scorer.predict(X.astype(np.float32)).compute(),
        fitted_rgb.predict(rgb.astype(np.float32)),
    )


def test_lazy_until_computed_and_one_estimator_key(gray, gray_detector, applied):
    scorer = DaskScorer(gray_detector)
    X = da.from_array(gray, chunks=(300, 8, 8))
    scores, labels = scorer.score_samples(X), scorer.predict(X)
    assert applied() == 2  # the two local one-sample probes, nothing else
    graph = dict(dask.array.core.concatenate([scores, labels]).__dask_graph__())
    keys = [k for k in graph if "skcae-estimator" in str(k)]
    assert len(keys) == 1  # one estimator for every block of both arrays
    scores, labels = dask.compute(scores, labels, scheduler="synchronous")
    assert applied() == 2 + 2 * 6
    np.testing.assert_array_equal(scores, gray_detector.score_samples(gray))


def test_n_jobs_is_set_on_a_copy(gray_detector):
    scorer = DaskScorer(gray_detector, n_jobs=2)
    shipped = scorer._delayed_estimator(dask).compute()
    assert shipped.n_jobs == 2 and shipped is not gray_detector
    assert gray_detector.n_jobs is None  # the caller's estimator is untouched
    kept = DaskScorer(gray_detector, n_jobs=None)._delayed_estimator(dask).compute()
    assert kept.n_jobs is None


def test_pipelines(gray, gray_detector):
    pipe = make_pipeline(FunctionTransformer(lambda X: X / 16.0), gray_detector)
    scorer = DaskScorer(pipe, n_jobs=1)
    shipped = scorer._delayed_estimator(dask).compute()
    assert shipped[-1].n_jobs == 1 and pipe[-1].n_jobs is None
    X = da.from_array(gray[:100] * 16.0, chunks=50)
    np.testing.assert_array_equal(
        scorer.decision_function(X).compute(), pipe.decision_function(gray[:100] * 16)
    )


def test_arrays_in_memory_go_straight_to_the_estimator(gray, gray_detector):
    scores = DaskScorer(gray_detector).score_samples(gray[:10])
    assert isinstance(scores, np.ndarray)
    np.testing.assert_array_equal(scores, gray_detector.score_samples(gray[:10]))


def test_image_files_on_dask(tmp_path, gray, gray_detector):
    Image = pytest.importorskip("PIL.Image")
    from skcae.images import ImageFiles

    pixels = gray[:50].astype(np.uint8)
    for i, image in enumerate(pixels):
        Image.fromarray(image).save(tmp_path / f"{i:02d}.png")
    X = da.from_array(ImageFiles(tmp_path), chunks=(20, 8, 8))
    np.testing.assert_array_equal(
        DaskScorer(gray_detector).score_samples(X).compute(),
        gray_detector.score_samples(pixels),
    )


def test_errors(gray, gray_detector, fitted_transformer):
    scorer = DaskScorer(gray_detector)
    with pytest.raises(ValueError, match=r"X holds images of shape \(1, 4, 4\)"):
        scorer.score_samples(da.zeros((10, 4, 4), chunks=5))  # at once, locally
    with pytest.raises(ValueError, match=r"shape \(10,\); expected samples"):
        scorer.score_samples(da.zeros(10, chunks=5))
    X = da.from_array(gray, chunks=100)
    unknown = X[X[:, 0, 0] >= 0]
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        scorer.score_samples(unknown)
    with pytest.raises(AttributeError, match="no method 'score_samples'"):
        DaskScorer(fitted_transformer).score_samples(X)
    with pytest.raises(NotFittedError):
        DaskScorer(ConvAutoencoderOutlierDetector())
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="non-zero int"):
            DaskScorer(gray_detector, n_jobs=bad)
    codes = DaskScorer(fitted_transformer).encode(X.reshape(-1, 64))
    assert codes.shape == (1797, 2)


def test_without_dask(monkeypatch, gray, gray_detector):
    X = da.from_array(gray, chunks=100)
    monkeypatch.setitem(__import__("sys").modules, "dask.array", None)
    with pytest.raises(ImportError, match=r'pip install "skcae\[dask\]"'):
        DaskScorer(gray_detector).score_samples(X)


@pytest.mark.slow
def test_local_cluster_of_two_processes_equals_in_memory(gray, gray_detector):
    distributed = pytest.importorskip("dask.distributed")
    X = np.concatenate([gray] * 3)  # 5391 images, 6 blocks
    X_dask = da.from_array(X, chunks=(1000, 8, 8))
    scorer = DaskScorer(gray_detector)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
        distributed.get_task_stream() as stream,
    ):
        results = dask.compute(
            *(getattr(scorer, m)(X_dask) for m in METHODS), scheduler=client
        )
    for method, result in zip(METHODS, results):
        np.testing.assert_array_equal(result, getattr(gray_detector, method)(X))
    keys = [str(t["key"]) for t in stream.data]
    # the estimator is one task, run once; the other worker fetched its result
    assert sum("skcae-estimator" in k for k in keys) == 1
    workers = {t["worker"] for t in stream.data if "apply" in str(t["key"])}
    assert len(workers) == 2  # both worker processes scored blocks


def test_a_new_threshold_or_refit_reaches_the_scorer(gray):
    # the copy sent to the workers is remade when the estimator changes: the
    # first one stayed behind (52 flagged directly, 3 by the scorer)
    det = ConvAutoencoderOutlierDetector(
        channels=(4,), latent_dim=2, max_epochs=2, device="cpu", random_state=0
    ).fit(gray[:100])
    scorer, X = DaskScorer(det), da.from_array(gray[:200], chunks=(50, 8, 8))
    first = scorer.score_samples(X)
    assert scorer.score_samples(X).name == first.name  # unchanged: one copy
    det.set_threshold_from(gray[100:200], false_positive_rate=0.3)
    np.testing.assert_array_equal(
        scorer.predict(X).compute(scheduler="synchronous"), det.predict(gray[:200])
    )
    det.set_params(latent_dim=3).fit(gray[100:200])
    codes = scorer.encode(X)
    assert codes.shape == (200, 3)
    np.testing.assert_array_equal(
        codes.compute(scheduler="synchronous"), det.encode(gray[:200])
    )


def test_pipelines_that_refuse_zeros(gray, gray_detector):
    # the local probe falls back on X's first sample where zeros fail
    pipe = make_pipeline(FunctionTransformer(np.log), gray_detector)
    X = gray[:100] + 1.0
    scores = DaskScorer(pipe).score_samples(da.from_array(X, chunks=50))
    np.testing.assert_array_equal(
        scores.compute(scheduler="synchronous"), pipe.score_samples(X)
    )


def test_unknown_chunk_sizes_on_any_axis_are_named(gray, gray_detector):
    X = da.from_array(gray.reshape(len(gray), 64), chunks=(300, 64))
    keep = da.from_array(np.ones(64, bool), chunks=64)
    flat = make_pipeline(
        FunctionTransformer(lambda X: X.reshape(-1, 8, 8)), gray_detector
    )
    with pytest.raises(ValueError, match=r"\(1797, nan\) with unknown chunk sizes"):
        DaskScorer(flat).score_samples(X[:, keep])


def test_nan_is_named_as_a_row_of_x_not_of_its_block(gray, gray_detector):
    """A NaN in row 750 of a Dask array of blocks of 100 rows: the error
    names row 750 of X, as the in-memory path does (it said "sample 50"),
    as the first of its block, not of X: blocks are scored in parallel, and
    with NaN in rows 0 and 5 the error of the block of rows 5 to 9 called
    row 5 "the first" (a probe; here the wording, which now says so)."""
    X = gray.astype(float)
    X[750, 3, 2] = np.nan
    with pytest.raises(ValueError, match="sample 750") as in_memory:
        gray_detector.score_samples(X)
    assert "1 of 1797 samples" in str(in_memory.value)
    scored = DaskScorer(gray_detector).score_samples(da.from_array(X, chunks=100))
    with pytest.raises(
        ValueError,
        match=r"of the 100 samples read at rows 700 to 799 of X "
        r"\(the first of these: sample 750; other blocks, scored in parallel, "
        r"may hold some too\)",
    ):
        scored.compute()


def test_a_refused_shape_is_named_as_x_not_as_its_probe(gray, gray_detector):
    """Channels-last gray images of shape (300, 8, 8, 1): the error said
    "Got X of shape=(1, 8, 8, 1)", the one-sample probe's (a hostile probe)."""
    X = gray[:300, :, :, None]
    with pytest.raises(ValueError) as in_memory:
        gray_detector.score_samples(X)
    with pytest.raises(ValueError) as on_dask:
        DaskScorer(gray_detector).score_samples(da.from_array(X, chunks=(50, 8, 8, 1)))
    assert "shape=(300, 8, 8, 1)" in str(in_memory.value)
    assert str(on_dask.value) == str(in_memory.value)


def test_a_tabular_detector_names_the_dask_arrays_shape(gray):
    """ "Got X of shape (1, 8, 8)" (no "="), the probe's, for a Dask X of 300
    images given to the tabular detector (a review)."""
    from skcae import AutoencoderOutlierDetector

    X = gray[:300].reshape(300, 64)
    det = AutoencoderOutlierDetector(hidden_layer_sizes=(4,), max_epochs=1).fit(X)
    with pytest.raises(ValueError, match=r"Got X of shape \(300, 8, 8\)"):
        DaskScorer(det).score_samples(da.from_array(gray[:300], chunks=(50, 8, 8)))


def test_unknown_chunk_sizes_are_refused_with_the_fix(gray, gray_detector):
    """A Dask array after a boolean mask has NaN lengths: the estimator
    itself refused it with "cannot convert float NaN to integer" (a probe);
    now, as DaskScorer does, it names compute_chunk_sizes()."""
    X = da.from_array(gray[:100], chunks=(33, 8, 8))
    masked = X[X[:, 0, 0] >= 0]
    assert np.isnan(masked.shape[0])
    for call in (gray_detector.score_samples, gray_detector.predict):
        with pytest.raises(ValueError, match=r"compute_chunk_sizes\(\) first"):
            call(masked)
    with pytest.raises(ValueError, match=r"shape \(nan, 8, 8\) with unknown chunk"):
        ConvAutoencoderOutlierDetector(max_epochs=1).fit(masked)
    masked.compute_chunk_sizes()
    np.testing.assert_array_equal(
        gray_detector.score_samples(masked), gray_detector.score_samples(gray[:100])
    )
