"""Thresholds: set_threshold_from, validation scores, and memory (no retraining)."""

import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback

from skcae import (
    AutoencoderOutlierDetector,
    ConvAutoencoder,
    ConvAutoencoderOutlierDetector,
)

FAST = dict(
    image_shape=(8, 8),
    channels=(4,),
    latent_dim=2,
    max_epochs=2,
    batch_size=32,
    device="cpu",
    random_state=0,
)


class CountTrainings(Callback):
    """Counts trainings in a class attribute (the callback itself is copied)."""

    n = 0

    def on_train_begin(self, net, **kwargs):
        type(self).n += 1


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[y == 0], X[y != 0]


@pytest.fixture(scope="module")
def fitted(digits):
    return ConvAutoencoderOutlierDetector(**FAST).fit(digits[0][:100])


# -- set_threshold_from -----------------------------------------------------------
@pytest.mark.parametrize("rate", [0.01, 0.05, 0.1, 0.3])
def test_held_out_false_positive_rate(fitted, digits, rate):
    det = clone(fitted)
    det.__dict__.update(fitted.__dict__)  # a copy to change offset_ on
    held_out = digits[0][100:]
    scores = det.score_samples(held_out)
    assert det.set_threshold_from(held_out, false_positive_rate=rate) is det
    flagged = det.predict(held_out) == -1
    assert flagged.sum() == int(np.floor(rate * len(held_out)))
    # the largest such cutoff: any higher one flags one sample more
    assert np.sum(scores < np.nextafter(det.offset_, np.inf)) > flagged.sum()
    np.testing.assert_array_equal(det.score_samples(held_out), scores)  # no retraining


def test_threshold_from_validation_split(digits):
    X = digits[0]
    det = ConvAutoencoderOutlierDetector(**FAST, validation_fraction=0.3).fit(X)
    train, valid = det.net_.train_split.indices(len(X))
    assert len(valid) == round(0.3 * len(X)) and len(train) == len(X) - len(valid)
    np.testing.assert_array_equal(det.validation_scores_, det.score_samples(X[valid]))
    assert det.set_threshold_from(false_positive_rate=0.1) is det
    assert (det.predict(X[valid]) == -1).sum() == int(0.1 * len(valid))
    # a refit without a validation split drops the stale scores
    det.set_params(validation_fraction=None).fit(X)
    assert not hasattr(det, "validation_scores_")
    with pytest.raises(ValueError, match="X_normal=None.*validation_fraction"):
        det.set_threshold_from()


def test_refit_resets_the_offset(fitted, digits):
    det = pickle.loads(pickle.dumps(fitted))
    det.set_threshold_from(digits[0][100:], false_positive_rate=0.3)
    assert det.offset_ != fitted.offset_
    assert det.fit(digits[0][:100]).offset_ == fitted.offset_


@pytest.mark.parametrize("rate", [0, 1, 1.5, -0.1, "0.1", True])
def test_bad_false_positive_rate(fitted, digits, rate):
    with pytest.raises(ValueError, match=r"false_positive_rate=.*\(0, 1\)"):
        fitted.set_threshold_from(digits[0][:10], false_positive_rate=rate)


def test_set_threshold_from_needs_a_fitted_detector(digits):
    with pytest.raises(NotFittedError):
        ConvAutoencoderOutlierDetector().set_threshold_from(digits[0])


# -- memory ------------------------------------------------------------------------
def _grid_data(digits):
    """Mostly zeros with 10% other digits; labels +1 / -1."""
    normal, other = digits
    X = np.concatenate([normal[:90], other[:10]])
    return X, np.r_[np.ones(90, int), -np.ones(10, int)]


def test_grid_search_over_threshold_does_not_retrain(digits, tmp_path):
    X, y = _grid_data(digits)
    memory = str(tmp_path)
    grid = {"contamination": [0.05, 0.1, 0.2], "threshold": [None, 1e3]}

    def search(memory):
        CountTrainings.n = 0
        det = ConvAutoencoderOutlierDetector(
            **FAST, memory=memory, callbacks=[CountTrainings()]
        )
        result = GridSearchCV(det, grid, scoring="f1", cv=2).fit(X, y)
        return result, CountTrainings.n

    plain, n_plain = search(None)
    cached, n_cached = search(memory)
    assert n_plain == 2 * 6 + 1  # every candidate of every split, then the refit
    assert n_cached == 2 + 1  # once per split, then the refit on all of X
    np.testing.assert_array_equal(
        cached.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"]
    )
    _, n_again = search(memory)
    assert n_again == 0  # everything comes from the cache now


def test_memory_retrains_when_the_network_changes(digits, tmp_path):
    X = digits[0][:100]
    CountTrainings.n = 0
    det = ConvAutoencoderOutlierDetector(
        **FAST, memory=str(tmp_path), callbacks=[CountTrainings()]
    )
    reference = det.fit(X).score_samples(X)
    det.set_params(contamination=0.3, threshold=None).fit(X)
    np.testing.assert_array_equal(det.score_samples(X), reference)
    assert CountTrainings.n == 1
    for params in ({"latent_dim": 3}, {"noise_std": 0.1}, {"random_state": 1}):
        clone(det).set_params(**params).fit(X)
    clone(det).fit(X[:99])  # other data
    assert CountTrainings.n == 5
    # random_state=None draws a new seed each fit: never reused. (The seed
    # comes from numpy's global generator, which conftest seeds with 0: the
    # first draw would be random_state=0's seed, and rightly hit the cache.)
    np.random.seed(7)
    clone(det).set_params(random_state=None).fit(X)
    clone(det).set_params(random_state=None).fit(X)
    assert CountTrainings.n == 7


@pytest.mark.parametrize(
    "estimator",
    [
        ConvAutoencoder(**FAST),
        AutoencoderOutlierDetector(
            hidden_layer_sizes=(4,),
            latent_dim=2,
            max_epochs=2,
            device="cpu",
            random_state=0,
        ),
    ],
    ids=["transformer", "dense"],
)
def test_memory_on_every_estimator_with_early_stopping(estimator, digits, tmp_path):
    """Cached nets must pickle: this includes the EarlyStopping callback."""
    X = digits[0][:100]
    est = clone(estimator).set_params(
        memory=joblib.Memory(tmp_path, verbose=0),
        n_iter_no_change=1,
        validation_fraction=0.2,
    )
    first = est.fit(X).encode(X)
    again = clone(est).fit(X)
    np.testing.assert_array_equal(again.encode(X), first)
    restored = pickle.loads(pickle.dumps(again))
    np.testing.assert_array_equal(restored.encode(X), first)
