"""encode / decode / reconstruct / anomaly_map and the one chunked inference path."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError

from skcae import ConvAutoencoderOutlierDetector
from skcae._training import INFERENCE_CHUNK, batched_inference

FAST = dict(
    channels=(4,),
    latent_dim=3,
    max_epochs=2,
    batch_size=32,
    device="cpu",
    random_state=0,
)


@pytest.fixture(scope="module")
def X():
    return load_digits().data[:200]


@pytest.fixture(scope="module")
def fitted(X):
    return ConvAutoencoderOutlierDetector(image_shape=(8, 8), **FAST).fit(X)


@pytest.fixture(scope="module")
def rgb():
    """A detector on 3-channel 6x5 images, and the images."""
    images = np.random.RandomState(0).rand(40, 3, 6, 5)
    return ConvAutoencoderOutlierDetector(**FAST).fit(images), images


def _module_output(det, images):
    module = det.net_.module_.eval()
    with torch.no_grad():
        x = torch.as_tensor(images, dtype=torch.float32)
        return module.encode(x).numpy(), module(x).numpy()


def test_encode_is_the_encoder_output(fitted, X):
    codes = fitted.encode(X)
    assert codes.shape == (200, 3) and codes.dtype == np.float64
    expected, _ = _module_output(fitted, X.reshape(-1, 1, 8, 8))
    np.testing.assert_allclose(codes, expected, rtol=1e-5, atol=1e-6)
    assert fitted.encode(X.astype(np.float32)).dtype == np.float32


def test_decode_returns_nchw_images_and_inverts_encode(fitted, X):
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
def test_reconstruct_keeps_the_input_form(fitted, X, shape):
    recon = fitted.reconstruct(X.reshape(shape))
    assert recon.shape == shape
    _, expected = _module_output(fitted, X.reshape(-1, 1, 8, 8))
    np.testing.assert_allclose(
        recon.reshape(-1, 1, 8, 8), expected, rtol=1e-5, atol=1e-5
    )


def test_anomaly_map_of_gray_images_is_n_h_w(fitted, X):
    maps = fitted.anomaly_map(X)
    assert maps.shape == (200, 8, 8) and maps.dtype == np.float64
    np.testing.assert_allclose(
        maps.mean(axis=(1, 2)), -fitted.score_samples(X), rtol=1e-6
    )
    diff = X.reshape(-1, 8, 8) - fitted.reconstruct(X.reshape(-1, 8, 8))
    np.testing.assert_allclose(maps, diff**2, rtol=1e-4, atol=1e-6)
    # the same whatever form the images come in
    np.testing.assert_array_equal(fitted.anomaly_map(X.reshape(-1, 1, 8, 8)), maps)


def test_anomaly_map_of_colour_images_is_n_c_h_w(rgb):
    det, images = rgb
    maps = det.anomaly_map(images)
    assert maps.shape == images.shape
    np.testing.assert_allclose(
        maps.mean(axis=(1, 2, 3)), -det.score_samples(images), rtol=1e-6
    )
    assert det.reconstruct(images).shape == images.shape
    assert det.decode(det.encode(images)).shape == images.shape


def test_results_do_not_depend_on_batching_or_order(fitted, X):
    big = np.tile(X, (8, 1))[:1500]  # more than one inference chunk
    assert len(big) > INFERENCE_CHUNK
    perm = np.random.RandomState(1).permutation(len(big))
    for method in (fitted.encode, fitted.reconstruct, fitted.anomaly_map):
        full = method(big)
        np.testing.assert_array_equal(method(big[perm]), full[perm])
        singles = np.concatenate([method(big[i : i + 1]) for i in range(5)])
        np.testing.assert_array_equal(singles, full[:5])
    codes = fitted.encode(big)
    np.testing.assert_array_equal(fitted.decode(codes[:3]), fitted.decode(codes)[:3])


def test_batched_inference_pads_chunks_and_drops_the_padding():
    seen = []

    def fn(module, x):
        seen.append(x.shape[0])
        return x.sum(dim=1, keepdim=True)

    n = 4 * INFERENCE_CHUNK + 76
    data = np.arange(2 * n, dtype=np.float64).reshape(n, 2)
    out = batched_inference(torch.nn.Identity(), data, "cpu", fn)
    assert seen == [INFERENCE_CHUNK] * 4 + [128]  # the last 76 rows padded to 128
    assert out.shape == (n, 1) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0], data.sum(axis=1))


def test_inference_runs_in_eval_mode_even_after_train_mode(X):
    det = ConvAutoencoderOutlierDetector(
        image_shape=(8, 8), noise_std=1.0, mask_fraction=0.5, **FAST
    ).fit(X[:100])
    before = det.encode(X[:10])
    det.net_.module_.train()  # corruption would make every call differ
    np.testing.assert_array_equal(det.encode(X[:10]), before)
    np.testing.assert_array_equal(det.encode(X[:10]), before)
    assert not det.net_.module_.training


def test_inference_leaves_input_untouched(fitted, X):
    X = X.astype(np.float32)
    X.flags.writeable = False
    before = X.copy()
    for method in (fitted.encode, fitted.reconstruct, fitted.anomaly_map):
        method(X)
    np.testing.assert_array_equal(X, before)


def test_decode_rejects_codes_of_the_wrong_width(fitted):
    with pytest.raises(ValueError, match=r"Z with 5 columns.*latent_dim=3"):
        fitted.decode(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="NaN"):
        fitted.decode(np.full((2, 3), np.nan))


def test_wrong_images_rejected(fitted):
    with pytest.raises(ValueError, match="X has 10 features.*expecting 64"):
        fitted.encode(np.zeros((3, 10)))
    with pytest.raises(ValueError, match=r"fitted on images of shape \(1, 8, 8\)"):
        fitted.anomaly_map(np.zeros((3, 4, 4, 4)))


@pytest.mark.parametrize("method", ["encode", "decode", "reconstruct", "anomaly_map"])
def test_not_fitted(method):
    with pytest.raises(NotFittedError):
        getattr(ConvAutoencoderOutlierDetector(), method)(np.zeros((2, 4)))
