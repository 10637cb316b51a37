"""score_smoothing / score_top_fraction: how per-pixel errors become a score."""

import numpy as np
import pytest
from scipy.ndimage import uniform_filter
from sklearn.base import clone
from sklearn.datasets import load_digits
from skorch.callbacks import Callback

from skcae import ConvAutoencoderOutlierDetector

FAST = dict(image_shape=(8, 8), channels=(4,), latent_dim=2, max_epochs=2,
            batch_size=32, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def X():
    return load_digits().data[:200]


@pytest.fixture(scope="module")
def fitted(X):
    return ConvAutoencoderOutlierDetector(**FAST).fit(X)


def _rescored(det, **params):
    """The same network scored with other aggregation parameters."""
    other = clone(det).set_params(**params)
    other.__dict__.update({k: v for k, v in vars(det).items() if k.endswith("_")})
    return other


def test_defaults_are_the_mean_squared_error(fitted, X):
    same = _rescored(fitted, score_smoothing=1, score_top_fraction=1.0)
    np.testing.assert_array_equal(same.score_samples(X), fitted.score_samples(X))
    np.testing.assert_allclose(
        -fitted.score_samples(X), fitted.anomaly_map(X).mean(axis=(1, 2)), rtol=1e-6
    )


def test_top_fraction_averages_the_largest_pixel_errors(fitted, X):
    maps = fitted.anomaly_map(X).reshape(len(X), -1)
    k = int(np.ceil(0.1 * maps.shape[1]))
    expected = -np.sort(maps, axis=1)[:, -k:].mean(axis=1)
    scores = _rescored(fitted, score_top_fraction=0.1).score_samples(X)
    np.testing.assert_allclose(scores, expected, rtol=1e-5)
    assert np.all(scores <= fitted.score_samples(X))  # the top pixels err more


def test_smoothing_is_a_zero_padded_box_filter(fitted, X):
    maps = fitted.anomaly_map(X)
    blurred = uniform_filter(maps, size=(1, 3, 3), mode="constant", cval=0.0)
    scores = _rescored(fitted, score_smoothing=3).score_samples(X)
    np.testing.assert_allclose(scores, -blurred.mean(axis=(1, 2)), rtol=1e-5)


def test_aggregation_keeps_scores_independent_of_batching(fitted, X):
    det = _rescored(fitted, score_smoothing=3, score_top_fraction=0.2)
    full = det.score_samples(X)
    singles = np.concatenate([det.score_samples(X[i : i + 1]) for i in range(10)])
    np.testing.assert_array_equal(singles, full[:10])


def test_even_smoothing_is_refused(X):
    with pytest.raises(ValueError, match="score_smoothing=4.*odd"):
        ConvAutoencoderOutlierDetector(**FAST, score_smoothing=4).fit(X)


class CountTrainings(Callback):
    """Counts trainings in a class attribute (the callback itself is copied)."""

    n = 0

    def on_train_begin(self, net, **kwargs):
        type(self).n += 1


def test_aggregation_parameters_do_not_retrain_with_memory(X, tmp_path):
    CountTrainings.n = 0
    base = ConvAutoencoderOutlierDetector(
        **FAST, memory=str(tmp_path), callbacks=[CountTrainings()]
    )
    scores = [
        clone(base).set_params(score_smoothing=s, score_top_fraction=f).fit(X)
        for s, f in [(1, 1.0), (3, 1.0), (3, 0.1)]
    ]
    assert CountTrainings.n == 1
    assert not np.array_equal(scores[0].score_samples(X), scores[2].score_samples(X))
