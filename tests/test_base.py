"""skcae._base: encode / decode / reconstruct / anomaly_map, memory, registry."""

import pickle
import subprocess
import sys
import threading

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Callback

from skcae import (
    AutoencoderOutlierDetector,
    ConvAutoencoder,
    ConvAutoencoderOutlierDetector,
)
from skcae._base import ESTIMATORS


def _network(det, images):
    """Codes and reconstructions (data units) straight from the module."""
    module = det.net_.module_.eval()
    z = (images - det.center_.reshape(1, -1, 1, 1)) / det.scale_.reshape(1, -1, 1, 1)
    with torch.no_grad():
        x = torch.as_tensor(z, dtype=torch.float32)
        recon = module(x).numpy() * det.scale_.reshape(1, -1, 1, 1)
        return module.encode(x).numpy(), recon + det.center_.reshape(1, -1, 1, 1)


def test_encode_is_the_encoder_output(fitted, digits):
    X = digits[0][:200]
    codes = fitted.encode(X)
    assert codes.shape == (200, 2) and codes.dtype == np.float64
    expected, _ = _network(fitted, X.reshape(-1, 1, 8, 8))
    np.testing.assert_allclose(codes, expected, rtol=1e-5, atol=1e-6)
    assert fitted.encode(X.astype(np.float32)).dtype == np.float32


def test_decode_returns_nchw_images_and_inverts_encode(fitted, digits):
    X = digits[0][:200]
    decoded = fitted.decode(fitted.encode(X))
    assert decoded.shape == (200, 1, 8, 8) and decoded.dtype == np.float64
    np.testing.assert_allclose(
        decoded, fitted.reconstruct(X.reshape(-1, 1, 8, 8)), rtol=1e-5, atol=1e-5
    )
    codes32 = fitted.encode(X).astype(np.float32)
    assert fitted.decode(codes32).dtype == np.float32
    assert fitted.decode(codes32.tolist()).shape == (200, 1, 8, 8)  # array-like


@pytest.mark.parametrize(
    "shape", [(200, 64), (200, 8, 8), (200, 1, 8, 8)], ids=["2d", "3d", "4d"]
)
def test_reconstruct_keeps_the_input_form(fitted, digits, shape):
    X = digits[0][:200]
    recon = fitted.reconstruct(X.reshape(shape))
    assert recon.shape == shape
    _, expected = _network(fitted, X.reshape(-1, 1, 8, 8))
    np.testing.assert_allclose(
        recon.reshape(-1, 1, 8, 8), expected, rtol=1e-5, atol=1e-4
    )


def test_reconstruct_keeps_channels_last(tiny):
    X = np.random.RandomState(0).rand(30, 6, 5, 3)
    det = ConvAutoencoderOutlierDetector(data_format="channels_last", **tiny).fit(X)
    assert det.reconstruct(X).shape == (30, 6, 5, 3)
    np.testing.assert_allclose(
        det.reconstruct(X),
        det.reconstruct(X.transpose(0, 3, 1, 2).copy().transpose(0, 2, 3, 1)),
    )
    assert det.anomaly_map(X).shape == (30, 3, 6, 5)


def test_anomaly_maps_gray_and_colour(fitted_mse, fitted_rgb, digits, rgb):
    maps = fitted_mse.anomaly_map(digits[0][:50])
    assert maps.shape == (50, 8, 8) and maps.dtype == np.float64
    np.testing.assert_allclose(
        maps.mean(axis=(1, 2)), -fitted_mse.score_samples(digits[0][:50]), rtol=1e-6
    )
    rgb_maps = fitted_rgb.anomaly_map(rgb)
    assert rgb_maps.shape == (40, 3, 6, 5)
    recon = fitted_rgb.reconstruct(rgb)
    np.testing.assert_allclose(rgb_maps, (rgb - recon) ** 2, rtol=1e-4, atol=1e-6)


def test_inference_leaves_input_untouched(fitted, digits):
    X = digits[0][:50].copy()
    X.flags.writeable = False
    before = X.copy()
    for method in ("encode", "reconstruct", "anomaly_map", "score_samples"):
        getattr(fitted, method)(X)
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize("method", ["reconstruct", "anomaly_map", "decode"])
def test_float32_outputs_are_written_as_float32(tiny, method):
    """A float32 result was written into a float64 array and then copied:
    3x the returned array's memory at its peak (numpy's allocations, which
    tracemalloc sees); now each block is cast as it is written."""
    import tracemalloc

    rng = np.random.RandomState(0)
    det = ConvAutoencoderOutlierDetector(**tiny).fit(
        rng.rand(40, 3, 16, 16).astype(np.float32)
    )
    X = rng.rand(2000, 3, 16, 16).astype(np.float32)
    arg = det.encode(X).astype(np.float32) if method == "decode" else X
    tracemalloc.start()
    try:
        out = getattr(det, method)(arg)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.dtype == np.float32
    assert peak < 1.6 * out.nbytes  # measured 1.26x (3.0x before)


def test_decode_rejects_codes_of_the_wrong_width(fitted):
    with pytest.raises(ValueError, match=r"Z with 3 columns.*latent_dim=2"):
        fitted.decode(np.zeros((4, 3)))


@pytest.mark.parametrize("method", ["encode", "reconstruct", "anomaly_map", "decode"])
def test_not_fitted(method):
    with pytest.raises(NotFittedError):
        getattr(ConvAutoencoderOutlierDetector(), method)(np.zeros((2, 4)))


def test_reconstruction_views_one_pass(fitted_rgb, rgb):
    images, recon, errors = fitted_rgb._views(rgb[:5])
    assert images.shape == recon.shape == errors.shape == (5, 3, 6, 5)
    np.testing.assert_allclose(images, rgb[:5], atol=1e-5)
    np.testing.assert_allclose(errors, fitted_rgb.anomaly_map(rgb[:5]), rtol=1e-6)


def test_reconstruction_views_of_tabular_rows(fitted_dense, digits):
    images, _, _ = fitted_dense._views(digits[0][:3])
    assert images.shape == (3, 1, 1, 64)


def test_registry_holds_the_public_estimators():
    assert set(ESTIMATORS) == {
        "ConvAutoencoderOutlierDetector",
        "ConvAutoencoder",
        "AutoencoderOutlierDetector",
    }


def test_fitted_attribute_names_are_all_set(fitted, fitted_transformer, fitted_dense):
    for est in (fitted, fitted_transformer, fitted_dense):
        missing = [
            n
            for n in type(est)._saved_attributes()
            if not hasattr(est, n) and n != "feature_names_in_"
        ]
        assert missing == []


@pytest.mark.parametrize(
    "make",
    [
        lambda t, d: ConvAutoencoder(**t),
        lambda t, d: AutoencoderOutlierDetector(**d),
    ],
    ids=["transformer", "dense"],
)
def test_memory_and_pickle_with_early_stopping(
    make, digits, tiny, tiny_dense, tmp_path
):
    """Cached nets must pickle: this includes the EarlyStopping callback."""
    X = digits[0][:100]
    est = make(tiny, tiny_dense).set_params(
        memory=joblib.Memory(tmp_path, verbose=0),
        n_iter_no_change=1,
        validation_fraction=0.2,
    )
    first = est.fit(X).encode(X)
    again = clone(est).fit(X)
    np.testing.assert_array_equal(again.encode(X), first)
    restored = pickle.loads(pickle.dumps(again))
    np.testing.assert_array_equal(restored.encode(X), first)


def test_pickle_and_joblib_round_trip(fitted, digits, tmp_path):
    X = digits[0][:100]
    joblib.dump(fitted, tmp_path / "det.joblib")
    for again in (
        joblib.load(tmp_path / "det.joblib"),
        pickle.loads(pickle.dumps(fitted)),
    ):
        np.testing.assert_array_equal(again.score_samples(X), fitted.score_samples(X))
        np.testing.assert_array_equal(again.predict(X), fitted.predict(X))


def test_clone_is_unfitted_with_same_params(fitted):
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    with pytest.raises(NotFittedError):
        copy.predict(np.zeros((1, 64)))


def test_anomaly_map_overflow_warns_and_names_the_samples(tiny):
    X = np.random.RandomState(0).rand(40, 8, 8).astype(np.float32)
    det = ConvAutoencoderOutlierDetector(**tiny).fit(X * np.float32(1e30))
    with pytest.warns(RuntimeWarning, match=r"2 sample\(s\) \(positions \[0, 1\]\)"):
        maps = det.anomaly_map(X[:2] * np.float32(1e30))
    assert maps.dtype == np.float32 and np.isinf(maps).any()
    assert np.isfinite(det.score_samples(X[:2] * np.float32(1e30))).all()


def test_scores_during_a_refit_are_the_old_or_the_new_models(digits, tiny):
    """A refit builds the new model aside and commits it in one step: a
    thread scoring meanwhile gets the old model's answer or the new one's."""
    X = digits[0]
    det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), **tiny).fit(X[:100])
    batch = X[300:340]
    new = clone(det).fit(X[100:200])
    answers = [(d.score_samples(batch), d.decision_function(batch)) for d in (det, new)]
    seen, errors, stop = [], [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                got = det.score_samples(batch), det.decision_function(batch)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
                return
            seen.append(
                [
                    any(np.array_equal(g, a[i]) for a in answers)
                    for i, g in enumerate(got)
                ]
            )

    reader = threading.Thread(target=read)
    reader.start()
    det.fit(X[100:200])
    stop.set()
    reader.join()
    assert errors == [] and seen
    assert all(all(pair) for pair in seen)
    np.testing.assert_array_equal(det.score_samples(batch), answers[1][0])


def test_a_refit_on_invalid_x_keeps_the_fitted_model(digits, tiny):
    """X refused by validation (NaN, a path, the wrong number of features)
    leaves a fitted estimator as it was, as in scikit-learn: one wrong
    argument in a notebook must not throw away a trained model."""
    X = digits[0]
    det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), **tiny).fit(X[:100])
    before = det.score_samples(X[100:120])
    offset, net = det.offset_, det.net_
    bad = X[:100].copy()
    bad[3, 5] = np.nan
    for wrong in (bad, "some/folder", X[:100, :60]):
        with pytest.raises(ValueError):
            det.fit(wrong)
        assert det.net_ is net and det.offset_ == offset
        np.testing.assert_array_equal(det.score_samples(X[100:120]), before)
    # the default detector, as a user meets it
    det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), random_state=0)
    det.fit(X[:100])
    before, net = det.score_samples(X[100:120]), det.net_
    with pytest.raises(ValueError, match="NaN"):
        det.fit(bad)
    assert det.net_ is net
    np.testing.assert_array_equal(det.score_samples(X[100:120]), before)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"kernel_size": 5}, "kernel_size=5 for 2x2 images"),
        ({"channels": (4,) * 5}, "5 pooling blocks"),
        ({"latent_dim": 2000}, "latent_dim=2000 for samples of 4 values"),
    ],
)
def test_parameters_that_do_not_fit_x_keep_the_fitted_model(tiny, params, match):
    """A refit refused for parameters that do not fit X's images (before
    any training) threw the fitted model away, where other refusals keep
    it (a probe)."""
    rng = np.random.RandomState(0)
    X = rng.rand(30, 8, 8)
    det = ConvAutoencoderOutlierDetector(**tiny).fit(X)
    before, net = det.score_samples(X), det.net_
    det.set_params(**params)
    with pytest.raises(ValueError, match=match):
        det.fit(rng.rand(30, 2, 2))
    assert det.net_ is net
    np.testing.assert_array_equal(det.score_samples(X), before)


def test_a_failed_refit_leaves_the_estimator_unfitted(digits, tiny):
    class Fail(Callback):
        def on_epoch_end(self, net, **kwargs):
            raise RuntimeError("failed refit")

    X = digits[0]
    det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), **tiny).fit(X[:100])
    with pytest.raises(RuntimeError, match="failed refit"):
        det.set_params(callbacks=[Fail()]).fit(X[:100])
    assert not [k for k in vars(det) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        det.score_samples(X[:5])


def test_public_submodules_are_attributes_of_the_package():
    """``skcae.images.ImageFiles`` after a plain ``import skcae`` (as the
    README names it), in a fresh interpreter where nothing imported them."""
    code = (
        "import sys, skcae\n"
        "assert 'skcae.images' not in sys.modules\n"
        "names = [skcae.images.ImageFiles, skcae.callbacks.ReconstructionMonitor,\n"
        "         skcae.datasets.load_mnist, skcae.plotting.TrainingCurveDisplay]\n"
        "assert set(skcae._SUBMODULES) <= set(dir(skcae))\n"
        "try:\n"
        "    skcae.no_such_name\n"
        "except AttributeError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out == "module 'skcae' has no attribute 'no_such_name'\n"


@pytest.mark.parametrize("kind", ["a file", "under a file"])
def test_memory_that_cannot_be_a_folder_is_named(digits, tiny, tmp_path, kind):
    """memory="/proc/nope" (a hostile probe) or a file's path: joblib's raw
    error named the path alone, after the first training had started; fit
    now names memory and what it expects, before training (the same kind of
    OSError)."""
    from skcae import ConvAutoencoderOutlierDetector

    taken = tmp_path / "cache"
    taken.write_text("not a folder")
    memory = str(taken if kind == "a file" else taken / "sub")
    det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), memory=memory, **tiny)
    with pytest.raises(
        NotADirectoryError, match=r"Got memory='.*cache.*' \(.*\); expected a folder"
    ):
        det.fit(digits[0][:40])
    assert taken.read_text() == "not a folder"
