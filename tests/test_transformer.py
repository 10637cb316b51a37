"""ConvAutoencoder: the autoencoder as a transformer (codes and back)."""

import numpy as np
import pytest
from _settings import TINY
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skcae import ConvAutoencoder, ConvAutoencoderOutlierDetector

FAST = dict(TINY, latent_dim=3)


@pytest.fixture(scope="module")
def digits():
    return load_digits(return_X_y=True)


@pytest.fixture(scope="module")
def fitted(digits):
    return ConvAutoencoder(image_shape=(8, 8), **FAST).fit(digits[0][:200])


def test_parameters_are_the_detectors_minus_the_threshold():
    det = set(ConvAutoencoderOutlierDetector().get_params())
    scoring = {
        "contamination",
        "threshold",
        "score_smoothing",
        "score_top_fraction",
        "score_type",
        "n_neighbors",
        "calibration",
    }
    assert set(ConvAutoencoder().get_params()) == det - scoring


def test_transform_is_encode_and_matches_the_detector_network(fitted, digits):
    X = digits[0][:200]
    codes = fitted.transform(X)
    assert codes.shape == (200, 3) and codes.dtype == np.float64
    np.testing.assert_array_equal(codes, fitted.encode(X))
    # the same parameters train the very same network as the detector
    det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), **FAST).fit(X)
    np.testing.assert_array_equal(codes, det.encode(X))
    np.testing.assert_array_equal(clone(fitted).fit_transform(X), codes)


def test_inverse_transform_is_flat_like_pca(fitted, digits):
    X = digits[0][:50]
    back = fitted.inverse_transform(fitted.transform(X))
    assert back.shape == (50, 64) and back.dtype == np.float64
    np.testing.assert_allclose(back, fitted.reconstruct(X), rtol=1e-5, atol=1e-5)
    # whatever form it was fitted on
    ae = ConvAutoencoder(**FAST).fit(X.reshape(-1, 1, 8, 8))
    assert ae.inverse_transform(ae.transform(X.reshape(-1, 8, 8))).shape == (50, 64)


@pytest.mark.parametrize("flat", [True, False])
def test_inverse_transform_of_channels_last_data_is_in_their_order(flat):
    """Rows of (H, W, C) images come back as (H, W, C) rows, the feature
    space the transformer was fitted on, as reconstruct gives them."""
    X = np.random.RandomState(0).rand(40, 4, 5, 3)
    params = dict(FAST, data_format="channels_last", max_epochs=2)
    if flat:
        X = X.reshape(40, -1)
        params["image_shape"] = (4, 5, 3)
    t = ConvAutoencoder(**params).fit(X)
    inverse = t.inverse_transform(t.transform(X))
    assert inverse.shape == (40, 60)
    np.testing.assert_allclose(inverse, t.reconstruct(X).reshape(40, -1), rtol=1e-6)


def test_float32_is_preserved(fitted, digits):
    X = digits[0][:20].astype(np.float32)
    codes = fitted.transform(X)
    assert codes.dtype == np.float32
    assert fitted.inverse_transform(codes).dtype == np.float32


def test_feature_names_and_pandas_output(fitted, digits):
    pd = pytest.importorskip("pandas")
    names = fitted.get_feature_names_out()
    assert names.tolist() == [
        "convautoencoder0",
        "convautoencoder1",
        "convautoencoder2",
    ]
    ae = clone(fitted).set_output(transform="pandas").fit(digits[0][:100])
    out = ae.transform(digits[0][:5])
    assert isinstance(out, pd.DataFrame) and list(out.columns) == names.tolist()
    assert ae.inverse_transform(out).shape == (5, 64)


def test_pipeline_codes_feed_a_classifier(digits):
    X, y = digits
    pipe = make_pipeline(
        MinMaxScaler(),
        ConvAutoencoder(image_shape=(8, 8), **{**FAST, "latent_dim": 8}),
        LogisticRegression(max_iter=500),
    )
    pipe.fit(X[:300], y[:300])
    assert pipe.predict(X[300:310]).shape == (10,)
    # the scaler's inverse runs after the autoencoder's: flat rows in X's units
    back = pipe[:-1].inverse_transform(pipe[:-1].transform(X[:5]))
    assert back.shape == (5, 64)
    assert pipe.score(X[300:600], y[300:600]) > 0.3  # 10 classes: chance is 0.1


def test_inverse_transform_rejects_wrong_width(fitted):
    with pytest.raises(ValueError, match=r"Z with 64 columns.*latent_dim=3"):
        fitted.inverse_transform(np.zeros((2, 64)))
