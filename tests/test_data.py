"""skcae._data: float64 standardisation and the value-range check."""

import re
import warnings

import numpy as np
import pytest
import torch

from skcae._data import RangeTracker, fit_statistics, take_rows
from skcae._scorer import Standardization
from skcae._tuning import Z_LIMIT


class Standardizer:
    """The standardisation of X, read and applied with numpy arrays."""

    def __init__(self, X):
        self.module = Standardization.from_statistics(fit_statistics(X))
        self.center = self.module.center.numpy()
        self.scale = self.module.scale.numpy()

    @classmethod
    def fit(cls, X):
        return cls(X)

    def transform(self, X):
        return self.module(torch.from_numpy(np.asarray(X, np.float64)))

    def inverse(self, z):
        return self.module.inverse(torch.as_tensor(z)).numpy()


@pytest.mark.parametrize("offset, scale", [(0, 1), (1e9, 1), (0, 1e-20), (5, 1e19)])
def test_statistics_are_exact_far_from_zero_and_at_any_scale(offset, scale):
    rng = np.random.RandomState(0)
    X = offset + scale * rng.randn(1000, 3, 4, 4)  # several blocks
    s = Standardizer.fit(X)
    np.testing.assert_allclose(
        s.center, X.mean(axis=(0, 2, 3)), rtol=1e-12, atol=1e-12 * scale
    )
    np.testing.assert_allclose(s.scale, X.std(axis=(0, 2, 3)), rtol=1e-7)
    z = s.transform(X[:10]).numpy()
    assert z.dtype == np.float32 and np.abs(z).max() < 10
    np.testing.assert_allclose(s.inverse(z), X[:10], rtol=1e-6, atol=1e-6 * scale)


def test_tabular_rows_get_one_statistic_per_feature():
    X = np.c_[np.arange(10.0), 100 + np.arange(10.0) * 3]
    s = Standardizer.fit(X)
    np.testing.assert_allclose(s.center, [4.5, 113.5])
    np.testing.assert_allclose(s.scale, X.std(axis=0))


@pytest.mark.parametrize("value", [0.0, 7.0, 1e9, -1e-30])
def test_all_constant_channels_are_scaled_by_their_magnitude(value):
    s = Standardizer.fit(np.full((20, 2, 3, 3), value))
    np.testing.assert_allclose(s.scale, [abs(value) or 1.0] * 2, rtol=1e-12)
    assert np.abs(s.transform(np.full((2, 2, 3, 3), value)).numpy()).max() < 1e-12


@pytest.mark.parametrize("units", [1e-3, 1.0, 1e6])
def test_a_constant_channel_is_scaled_like_the_others(units):
    # not by 1: a deviation in it would be measured in the caller's units
    X = np.random.RandomState(0).rand(30, 3, 4, 4) * [[[2.0]], [[4.0]], [[0.0]]]
    s = Standardizer.fit(X * units)
    expected = np.median((X * units).std(axis=(0, 2, 3))[:2])
    np.testing.assert_allclose(s.scale[2], expected)
    lit = np.zeros((1, 3, 4, 4))
    lit[0, 2] = units
    z = s.transform(lit).numpy()[0, 2]
    np.testing.assert_allclose(z, 1 / np.median(X.std(axis=(0, 2, 3))[:2]), rtol=1e-5)


def test_absurd_values_are_clipped_not_infinite():
    s = Standardizer.fit(np.random.RandomState(0).rand(20, 1, 2, 2))
    z = s.transform(np.full((1, 1, 2, 2), 1e300)).numpy()
    assert np.isfinite(z).all() and z.max() == pytest.approx(Z_LIMIT)


def test_range_tracker_warns_of_other_units_only():
    fitted = Standardizer.fit(np.random.RandomState(0).rand(50, 1, 4, 4) * 255)
    same = RangeTracker()
    same.update(np.random.RandomState(1).rand(10, 1, 4, 4) * 200)
    assert same.mismatch(fitted.module) is None
    other = RangeTracker()
    other.update(np.random.RandomState(1).rand(10, 1, 4, 4))
    message = other.mismatch(fitted.module)
    assert "training data's spread" in message and "other units" in message
    outliers = RangeTracker()  # a few extreme samples are not other units
    batch = np.random.RandomState(2).rand(50, 1, 4, 4) * 255
    batch[:2] *= 30
    outliers.update(batch)
    assert outliers.mismatch(fitted.module) is None
    blank = RangeTracker()
    blank.update(np.zeros((3, 1, 4, 4)))
    assert blank.mismatch(fitted.module) is None


def test_one_row_repeated_is_blank_not_other_units():
    """A tabular row scored 20 times: its features' spread came out as
    1e-16 of the training one from rounding, and warned of other units
    for some rows and not for others."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 6)) * [1.0, 3.0, 0.1, 7.0, 1e-3, 1e4] + 5.0
    fitted = Standardizer.fit(X)
    for row in X[:10]:
        tracker = RangeTracker(fitted.module)
        tracker.update(np.repeat(row[None], 20, axis=0))
        assert tracker.mismatch(fitted.module) is None
    far = RangeTracker(fitted.module)
    far.update(X[:20] * 1000.0)
    assert "other units" in far.mismatch(fitted.module)
    # a feature constant in the scored rows leaves the others to tell
    far_but_one = X[:20] * 1000.0
    far_but_one[:, 2] = 5.0
    partly = RangeTracker(fitted.module)
    partly.update(far_but_one)
    assert "other units" in partly.mismatch(fitted.module)


def test_one_corrupt_value_is_not_other_units():
    """Scored values are clipped to UNITS_CLIP training scales before their
    spread is taken: one pixel of 1e4 among 200 images of values in 0-16
    is an outlier, not data in other units (it was 14.7 times the spread);
    data in 0-255 or 0-1 still warn."""
    rng = np.random.RandomState(0)
    fitted = Standardizer.fit(rng.rand(100, 1, 8, 8) * 16)
    batch = rng.rand(200, 1, 8, 8) * 16
    batch[7, 0, 3, 3] = 1e4
    for standardization, warns in ((None, True), (fitted.module, False)):
        tracker = RangeTracker(standardization)
        tracker.update(batch)
        assert (tracker.mismatch(fitted.module) is not None) == warns
    # other units, up to uint16 against 0-16 (nearly every value beyond the
    # clip: its spread is then taken unclipped, the true ratio)
    for factor in (255 / 16, 1 / 16, 1000, 65535 / 16):
        tracker = RangeTracker(fitted.module)
        tracker.update(batch[8:28] * factor)
        message = tracker.mismatch(fitted.module)
        assert "other units" in message
        ratio = float(re.search(r"with (\S+) times", message).group(1))
        assert factor / 2 < ratio < factor * 2


def test_range_tracker_at_extreme_scales():
    # squares of the raw values overflowed beyond ~1e154: the training data
    # themselves were "inf times" the spread, and data in other units at
    # 1e170 went unwarned (a NaN spread skipped the check)
    rng = np.random.RandomState(0)
    at_1e300 = np.array([[1e300, 0.0], [-1e300, 1.0], [1e300, 2.0], [-1e300, 3.0]] * 5)
    fitted = Standardizer.fit(at_1e300)
    same = RangeTracker()
    same.update(at_1e300)
    assert same.mismatch(fitted.module) is None
    fitted = Standardizer.fit(rng.normal(size=(50, 2)) * 1e100 + 3e100)
    for scale, warns in ((1e100, False), (1e120, True), (1e170, True)):
        tracker = RangeTracker()
        tracker.update(rng.normal(size=(50, 2)) * scale + 3 * scale)
        message = tracker.mismatch(fitted.module)
        assert (message is not None) == warns, (scale, message)
        assert message is None or "inf times" not in message


def test_take_rows_in_memory_and_lazy():
    X = np.arange(20.0).reshape(10, 2)
    np.testing.assert_array_equal(take_rows(X, [3, 1]), X[[1, 3]])

    class Lazy:
        shape = X.shape

        def __len__(self):
            return 10

        def __getitem__(self, index):
            return X[index]

    subset = take_rows(Lazy(), [7, 2, 5])
    assert subset.shape == (3, 2) and len(subset) == 3
    np.testing.assert_array_equal(subset[0:3], X[[2, 5, 7]])


def test_values_on_a_large_offset_keep_their_spread_or_warn():
    """Values 0-10 on an offset of 1e13 (exact in float64) were taken for a
    constant, silently: scale 1e13, scores off by up to 3.4 (a probe). They
    keep their spread; where float64 cannot hold it, fit warns."""
    base = np.round(np.random.RandomState(0).rand(60, 1, 8, 8) * 80) / 8
    _, scale, _, _ = fit_statistics(base)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, shifted, _, _ = fit_statistics(base + 1e13)
    np.testing.assert_allclose(shifted, scale, rtol=1e-6)
    with pytest.warns(UserWarning, match=r"column \(channel or feature\) 0 holds"):
        _, lost, _, _ = fit_statistics(base + 1e14)
    assert lost[0] > 1e13  # taken for constant: scaled by its magnitude
    # constant columns stay quiet, and so does one that rounding alone
    # moves (a row total of shares; a review)
    shares = np.random.RandomState(0).dirichlet(np.ones(4), size=60)
    total = shares.sum(axis=1, keepdims=True)
    assert total.min() < total.max()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_statistics(np.full((50, 3), 1e15 / 3))
        fit_statistics(np.hstack([shares, total]))
