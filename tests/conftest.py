"""Shared fixtures: small data and small fitted estimators.

Every test builds on these so that the settings of a "tiny" network live in
one place (``tiny``). Tests of defaults as a user meets them build their
estimators without it.
"""

import numpy as np
import pytest
import torch
from _settings import TINY, TINY_DENSE
from sklearn.datasets import load_digits
from skorch.callbacks import Callback

from skcae import (
    AutoencoderOutlierDetector,
    ConvAutoencoder,
    ConvAutoencoderOutlierDetector,
)


@pytest.fixture(autouse=True)
def _fixed_seeds():
    """Fixed global seeds, so a test never depends on the order tests run in."""
    np.random.seed(0)
    torch.manual_seed(0)
    yield


@pytest.fixture
def tiny():
    """Keyword arguments of a tiny convolutional estimator (a fresh dict)."""
    return dict(TINY)


@pytest.fixture
def tiny_dense():
    """Keyword arguments of a tiny dense detector (a fresh dict)."""
    return dict(TINY_DENSE)


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 8x8 digits: flat X (1797, 64) in 0-16 and labels."""
    return load_digits(return_X_y=True)


@pytest.fixture(scope="session")
def all_zeros(digits):
    """All 178 0s as gray images (n, 8, 8)."""
    X, y = digits
    return X[y == 0].reshape(-1, 8, 8)


@pytest.fixture(scope="session")
def zeros(all_zeros):
    """96 0s as gray images: enough for a tiny network, and quick."""
    return all_zeros[:96]


@pytest.fixture(scope="session")
def rgb():
    """40 random 3-channel 6x5 images (a size that needs padding)."""
    return np.random.RandomState(0).rand(40, 3, 6, 5)


@pytest.fixture(scope="session")
def fitted(digits):
    """A tiny hybrid detector fitted on 300 flat digits (image_shape=(8, 8))."""
    return ConvAutoencoderOutlierDetector(image_shape=(8, 8), **TINY).fit(
        digits[0][:300]
    )


@pytest.fixture(scope="session")
def fitted_mse(digits):
    """The same with score_type="reconstruction"."""
    return ConvAutoencoderOutlierDetector(
        image_shape=(8, 8), score_type="reconstruction", **TINY
    ).fit(digits[0][:300])


@pytest.fixture(scope="session")
def fitted_rgb(rgb):
    """A tiny hybrid detector fitted on the 3-channel images."""
    return ConvAutoencoderOutlierDetector(**TINY).fit(rgb)


@pytest.fixture(scope="session")
def fitted_dense(digits):
    """A tiny dense detector (score_type="reconstruction") on 300 flat digits."""
    return AutoencoderOutlierDetector(score_type="reconstruction", **TINY_DENSE).fit(
        digits[0][:300]
    )


@pytest.fixture(scope="session")
def fitted_transformer(digits):
    """A tiny ConvAutoencoder fitted on 200 flat digits."""
    return ConvAutoencoder(image_shape=(8, 8), **TINY).fit(digits[0][:200])


class CountTrainings(Callback):
    """Counts trainings in a class attribute (estimators copy their callbacks)."""

    n = 0

    def on_train_begin(self, net, **kwargs):
        type(self).n += 1


@pytest.fixture
def count_trainings():
    """A CountTrainings class with its counter reset (counts the networks
    the estimator keeps, which run the user's callbacks)."""
    CountTrainings.n = 0
    return CountTrainings


@pytest.fixture
def trainings(monkeypatch):
    """Count every network trained (cached ones are not), calibration
    networks included: ``trainings()`` is the count so far."""
    import functools

    import skcae._base

    count = [0]
    original = skcae._base.train_network

    @functools.wraps(original)
    def counted(*args, **kwargs):
        count[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(skcae._base, "train_network", counted)
    return lambda: count[0]


@pytest.fixture
def retrains(monkeypatch):
    """A float contamination trains the network again whatever the number
    of outliers it names in X (tests of the second training use sets far
    smaller than RETRAIN_MIN_OUTLIERS / contamination)."""
    import skcae._outlier

    monkeypatch.setattr(skcae._outlier, "RETRAIN_MIN_OUTLIERS", 1)
