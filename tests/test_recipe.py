"""The default training recipe and score, as a user meets them: the epochs
and batch size "auto" picks, the one-cycle schedule, the decoder, the
density term, the Fisher combination, trimming for contamination and the
robust standardisation."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score

from skcae import (
    AutoencoderOutlierDetector,
    ConvAutoencoderModule,
    ConvAutoencoderOutlierDetector,
    load,
    save,
)
from skcae._data import fit_statistics, robust_bounds
from skcae._knn_terms import FeatureDensity, density_neighbors, knn_neighbours
from skcae._scorer import ModelConfig, neg_log_sf
from skcae._training import auto_batch_size, auto_lr, auto_max_epochs, one_cycle


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X, y


# -- training ------------------------------------------------------------------
@pytest.mark.parametrize(
    "n, batch, epochs, lr",
    [
        (20, 16, 40, 8e-3),  # 80 steps: the highest rate
        (130, 16, 18, 0.96 / 162),
        (1_000, 62, 10, 0.96 / 170),
        (5_362, 128, 4, 0.96 / 168),  # one MNIST digit, 10% held out
        (60_000, 128, 4, 3e-3),  # 1,876 steps: the lowest rate
    ],
)
def test_auto_batch_size_epochs_and_lr(n, batch, epochs, lr):
    assert auto_batch_size(n) == batch
    assert auto_max_epochs(n, batch) == epochs
    assert auto_lr(n, batch, epochs) == pytest.approx(lr)


def test_auto_lr_falls_as_the_schedule_grows():
    rates = [auto_lr(1_000, 62, epochs) for epochs in range(1, 40)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    assert rates[0] == 8e-3 and rates[-1] == 3e-3


def test_lr_auto_is_the_default_and_an_explicit_lr_keeps_its_meaning(digits):
    X, y = digits
    X = X[y == 1][:60] / 16
    kw = dict(channels=(2,), latent_dim=2, random_state=0, n_jobs=1)
    assert ConvAutoencoderOutlierDetector().lr == "auto"
    det = ConvAutoencoderOutlierDetector(**kw, max_epochs=2).fit(X)
    # 60 images in batches of 16: 4 steps an epoch, 8 steps: the highest rate
    assert det.net_.lr == 8e-3
    det = ConvAutoencoderOutlierDetector(**kw, max_epochs=2, lr=1e-3).fit(X)
    assert det.net_.lr == 1e-3
    with pytest.raises(ValueError, match="lr"):
        ConvAutoencoderOutlierDetector(**kw, lr="fast").fit(X)


def test_one_cycle_warms_up_then_anneals():
    lrs = [one_cycle(step, 100, 3e-3)[0] for step in range(100)]
    peak = int(np.argmax(lrs))
    assert peak == 25 and lrs[peak] == pytest.approx(3e-3)
    assert lrs[0] == pytest.approx(3e-3 / 25) and lrs[-1] < 1e-7
    assert np.all(np.diff(lrs[:peak]) > 0) and np.all(np.diff(lrs[peak:]) < 0)
    momentum = [one_cycle(step, 100, 3e-3)[1] for step in range(100)]
    assert momentum[0] == pytest.approx(0.95) and momentum[peak] == pytest.approx(0.85)
    for total in (1, 2, 3):  # a handful of steps works too
        assert all(0 < one_cycle(s, total, 1.0)[0] <= 1 for s in range(total))


def test_the_default_fit_follows_the_recipe(digits):
    X, y = digits
    det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), random_state=0)
    det.fit(X[y == 1][:130])  # defaults, as a user meets them
    # 9 steps an epoch of 16 images, 18 epochs: 162 steps at 0.96 / 162
    assert det.net_.batch_size == 16 and det.n_iter_ == 18
    assert det.net_.lr == pytest.approx(0.96 / 162)
    group = det.net_.optimizer_.param_groups[0]
    assert group["lr"] < det.net_.lr / 1e4  # annealed to the end of the cycle
    assert group["betas"][0] == pytest.approx(0.95)
    const = clone(det).set_params(lr_schedule="constant", max_epochs=2, lr=2e-3)
    const.fit(X[:100])
    assert const.net_.optimizer_.param_groups[0]["lr"] == 2e-3


def test_the_decoder_mirrors_the_encoder():
    module = ConvAutoencoderModule((3, 10, 12))  # default channels (8, 8)
    convs = [m for m in module.decoder_conv if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 3]
    assert module(torch.zeros(2, 3, 10, 12)).shape == (2, 3, 10, 12)
    one = ConvAutoencoderModule((1, 5, 5), channels=(3,))
    assert [type(m).__name__ for m in one.decoder_conv] == ["Upsample", "Conv2d"]
    assert one(torch.zeros(1, 1, 5, 5)).shape == (1, 1, 5, 5)


# -- the score -----------------------------------------------------------------
def test_neg_log_sf_is_the_normal_tail_and_finite_everywhere():
    t = torch.tensor([-1e6, -30, -3, -1, 0, 0.3, 1, 3, 6, 12, 40], dtype=torch.float64)
    expected = -torch.special.log_ndtr(-t)
    got = neg_log_sf(t)
    assert torch.all(torch.isfinite(got)) and torch.all(got >= 0)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=2e-6, atol=1e-12)
    assert torch.isfinite(neg_log_sf(torch.tensor([1e200], dtype=torch.float64)))


def _density_term(input_shape=(1, 2, 4), **config):
    """A density term of 10 features (8 pixels and 2 statistics)."""
    config = ModelConfig(
        module_class=ConvAutoencoderModule,
        module_kwargs=(("channels", (2,)), ("input_shape", input_shape)),
        n_standardized=1,
        latent_dim=16,
        score_type="density",
        terms=("density",),
        **config,
    )
    return FeatureDensity(config)


def test_density_is_relative_to_the_neighbours_spread():
    """Two kinds of normal, one tight and one spread out: a sample as far
    from the tight cluster as the spread one's samples are from each other
    is an outlier; the same distance within the spread cluster is not."""
    term = _density_term()
    width = term.center.shape[0]
    rng = np.random.RandomState(0)
    tight = rng.randn(300, width) * 0.1
    spread = rng.randn(300, width) * 1.0 + 20
    loo = term.fit(np.vstack([tight, spread]))
    assert loo.shape == (600,) and np.all(np.isfinite(loo))
    assert np.median(loo[:300]) == pytest.approx(np.median(loo[300:]), rel=0.2)
    step = np.zeros((1, width))
    step[0, :] = 1.0 / np.sqrt(width)  # distance 1 from a cluster's centre
    near_tight = term.cost(torch.from_numpy(step * 1.0))
    near_spread = term.cost(torch.from_numpy(20 + step * 1.0))
    assert float(near_tight) > 3 * float(near_spread)


def test_density_of_duplicate_references_is_finite():
    term = _density_term()
    values = np.ones((50, term.center.shape[0]))
    loo = term.fit(values)
    assert np.all(np.isfinite(loo))
    cost = term.cost(torch.from_numpy(values[:2] + 1.0))
    assert torch.all(torch.isfinite(cost)) and torch.all(cost > 1.0)


def test_a_float_contamination_widens_the_density_neighbourhood(digits, tmp_path):
    """25 references in a tight clump far from 800 normal ones, as outliers
    mixed into X gather: among 20 neighbours a sample in the clump finds
    only clump members and looks far denser than any normal sample (a cost
    a hundredth of theirs); among contamination=0.1's 40 it reaches the
    normal references and costs more than the median normal one."""
    assert [density_neighbors(c) for c in ("auto", 0.01, 0.05, 0.1, 0.5)] == [
        20,
        22,
        30,
        40,
        120,
    ]
    costs = {}
    for k in (density_neighbors("auto"), density_neighbors(0.1)):
        term = _density_term(density_neighbors=k)
        width = term.center.shape[0]
        rng = np.random.RandomState(0)
        normal = rng.randn(800, width)  # 825 references: 40 <= 825 / 20
        clump = 30 + 0.1 * rng.randn(25, width)
        loo = term.fit(np.vstack([normal, clump]))
        assert term.n_neighbors == term.neighbors() == k
        assert np.all(np.isfinite(loo))
        query = torch.from_numpy(30 + 0.1 * rng.randn(5, width))
        costs[k] = term.cost(query).numpy() / np.median(loo[:800])
    assert np.all(costs[20] < 0.05) and np.all(costs[40] > 1)
    # among 325 references 40 neighbours would span a twentieth and more
    term.fit(np.vstack([normal[:300], clump]))
    assert term.n_neighbors == 40 and term.neighbors() == 20
    # the detector passes its rate to the term; a saved model keeps it
    X, y = digits
    params = dict(image_shape=(8, 8), channels=(2,), max_epochs=2, random_state=0)
    for contamination, k in [("auto", 20), (0.1, 40)]:
        det = ConvAutoencoderOutlierDetector(contamination=contamination, **params)
        det.fit(X[y == 0])
        assert det.scorer_.terms["density"].n_neighbors == k
        save(det, tmp_path / "det.skcae")
        loaded = load(tmp_path / "det.skcae")
        assert loaded.scorer_.terms["density"].n_neighbors == k
        np.testing.assert_array_equal(loaded.score_samples(X), det.score_samples(X))


@pytest.mark.parametrize(
    "input_shape, n_map",
    [
        ((1, 8, 8), 64),  # at most 8x8: the pixels themselves
        ((3, 8, 8), 192),
        ((1, 5, 7), 35),
        ((1, 16, 16), 2 * 8 * 8),  # the first block's 8x8 maps, unpooled
        ((1, 28, 28), 2 * 7 * 7),  # its 14x14 maps, pooled 2x
        ((3, 64, 64), 2 * 8 * 8),  # its 32x32 maps, pooled 4x
    ],
)
def test_the_density_term_sees_at_most_8x8_pixels_a_side(input_shape, n_map):
    """Images of at most 8x8 pixels: the pixels, without the image
    statistics (their functions); larger ones: the first block's maps
    beside the statistics."""
    config = ModelConfig(
        module_class=ConvAutoencoderModule,
        module_kwargs=(("channels", (2,)), ("input_shape", input_shape)),
        n_standardized=input_shape[0],
        n_channels=input_shape[0],
        latent_dim=16,
        score_type="density",
        terms=("density",),
    )
    term = FeatureDensity(config)
    pixels = max(input_shape[1:]) <= 8
    assert term.n_map == n_map
    assert term.n_stats == (0 if pixels else 2 * input_shape[0])


def test_several_kinds_of_small_images_are_told_apart(digits):
    """sklearn's 8x8 digits 0-4 normal, 5-9 outliers, default parameters:
    .970 AUROC since the density term reads the pixels of images this small
    (.891 when it read their first block's maps pooled to 2x2 beside the
    image statistics; LOF on the pixels .978)."""
    X, y = digits
    perm = np.random.RandomState(0).permutation(len(X))
    train, test = perm[:1200], perm[1200:]
    normal = y < 5
    det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), random_state=0)
    det.fit(X[train][normal[train]])
    assert roc_auc_score(normal[test], det.score_samples(X[test])) > 0.95


def test_knn_neighbours_are_sorted_and_leave_one_out():
    ref = torch.tensor([[0.0], [1.0], [3.0], [7.0]], dtype=torch.float64)
    distance, index = knn_neighbours(ref, ref, 2, exclude_self=True)
    assert index[:, 0].tolist() == [1, 0, 1, 2]
    np.testing.assert_array_equal(distance[0].numpy(), [1.0, 3.0])


# -- outliers in the training set ------------------------------------------------
def _contaminated(digits, rate, seed=0):
    X, y = digits
    rng = np.random.RandomState(seed)
    normal = X[y == 0]
    others = X[y != 0]
    k = int(round(rate / (1 - rate) * len(normal)))
    extra = others[rng.choice(len(others), k, replace=False)]
    return np.vstack([normal, extra])


def test_contamination_shapes_the_score_not_only_the_threshold(digits):
    X, y = digits
    train = _contaminated(digits, 0.1)
    params = dict(image_shape=(8, 8), channels=(4,), max_epochs=4, random_state=0)
    auto = ConvAutoencoderOutlierDetector(**params).fit(train)
    rate = clone(auto).set_params(contamination=0.1).fit(train)
    n_refs = {
        name: len(det.scorer_.terms["density"].reference)
        for name, det in [("auto", auto), ("rate", rate)]
    }
    # 10% of 198 names 20 outliers, too few to train again: the network is
    # the same, and its references leave out c (no margin below 400)
    np.testing.assert_array_equal(rate.reconstruct(X[:20]), auto.reconstruct(X[:20]))
    assert n_refs["rate"] == len(train) - int(0.1 * len(train))
    assert n_refs["auto"] == len(train) - int(0.05 * len(train))
    assert not np.allclose(auto.score_samples(X), rate.score_samples(X))
    # the true rate ranks the test set at least as well as "auto"
    test = np.setdiff1d(np.arange(len(X)), np.flatnonzero(y == 0)[:0])
    auc = {
        k: roc_auc_score(y[test] == 0, d.score_samples(X[test]))
        for k, d in [("auto", auto), ("rate", rate)]
    }
    assert auc["rate"] >= auc["auto"] - 0.005
    # sklearn's meaning of a float: that share of X is flagged
    flagged = np.mean(rate.predict(train) == -1)
    assert flagged == pytest.approx(0.1, abs=0.02)


# -- robust standardisation ------------------------------------------------------
def test_robust_bounds_ignore_one_corrupt_value_and_keep_clean_ones():
    rng = np.random.RandomState(0)
    X = rng.randn(150, 3)
    X[7, 1] = 1e6
    lower, upper, _ = robust_bounds(X)
    assert np.all(upper < 100) and np.all(lower > -100)
    assert np.all((np.delete(X, 7, 0) >= lower) & (np.delete(X, 7, 0) <= upper))
    sparse = np.zeros((150, 1))
    sparse[3] = 1.0  # a rare legitimate value of a mostly constant feature
    lower, upper, _ = robust_bounds(sparse)
    assert lower[0] == -np.inf and upper[0] == np.inf


def test_robust_bounds_leave_a_few_rows_unbounded(tiny_dense):
    """Of 4 rows of Gaussian data the middle two's range, widened ten times,
    left out an ordinary value (2.24 beside -0.10, 0.12 and 0.31): 3 values
    of 5 columns clipped, with a warning (a probe). From 10 rows on they are
    bounded."""
    X = np.random.RandomState(0).normal(size=(4, 5))
    lower, upper, _ = robust_bounds(X)
    assert np.all(lower == -np.inf) and np.all(upper == np.inf)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        AutoencoderOutlierDetector(**tiny_dense).fit(X)
    assert not [w for w in caught if "far outside" in str(w.message)]
    X = np.random.RandomState(0).normal(size=(10, 5))
    X[3, 1] = 1e6
    lower, upper, _ = robust_bounds(X)
    assert upper[1] < 100 and np.all(np.isfinite(lower))


@pytest.mark.parametrize("value", [1e6, 1e300, -1e300])
def test_one_extreme_pixel_neither_ruins_the_fit_nor_passes_silently(digits, value):
    X, y = digits
    train = X[y == 3][:150].copy()
    params = dict(image_shape=(8, 8), channels=(4,), max_epochs=6, random_state=0)
    clean = ConvAutoencoderOutlierDetector(**params).fit(train)
    train[7, 20] = value
    with pytest.warns(UserWarning, match=r"1 value\(s\) far outside.*sample 7"):
        dirty = ConvAutoencoderOutlierDetector(**params).fit(train)
    np.testing.assert_allclose(dirty.center_, clean.center_, rtol=0.05)
    np.testing.assert_allclose(dirty.scale_, clean.scale_, rtol=0.05)
    auc = {
        k: roc_auc_score(y == 3, d.score_samples(X))
        for k, d in [("clean", clean), ("dirty", dirty)]
    }
    assert auc["dirty"] > auc["clean"] - 0.02
    assert dirty.score_samples(train[7:8])[0] < np.percentile(dirty.score_samples(X), 1)


@pytest.mark.parametrize("value", [1e12, 9.96921e36])
def test_a_few_whole_images_of_garbage_neither_flatten_the_scores_nor_pass_silently(
    digits, value
):
    """5 of 150 images set to a fill value hold 3% of the values, too many
    for the per-value bounds: the per-image bounds clip them (they once set
    the scale, and every other image got the same score)."""
    X, y = digits
    train = X[y == 3][:150].copy()
    params = dict(image_shape=(8, 8), channels=(4,), max_epochs=6, random_state=0)
    clean = ConvAutoencoderOutlierDetector(**params).fit(train)
    train[:5] = value
    with pytest.warns(UserWarning, match=r"320 value\(s\) far outside.*sample 0"):
        dirty = ConvAutoencoderOutlierDetector(**params).fit(train)
    scores = dirty.score_samples(X)
    assert np.all(np.isfinite(scores)) and len(np.unique(scores)) > len(X) // 2
    assert (
        roc_auc_score(y == 3, scores)
        > roc_auc_score(y == 3, clean.score_samples(X)) - 0.05
    )
    assert np.all(dirty.score_samples(train[:5]) < scores.min())


def test_clean_data_are_not_clipped(digits):
    X, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        center, scale, low, high = fit_statistics(X.reshape(-1, 1, 8, 8))
    assert low[0] == X.min() and high[0] == X.max()


def test_sparse_and_unevenly_bright_clean_images_are_not_clipped():
    """A channel that is almost always zero (one bright pixel in 40 of 200
    images: star fields, hits, masks) stays unbounded, and images whose
    brightness spreads over orders of magnitude stay inside the per-image
    bounds (a first version of those bounds clipped both)."""
    rng = np.random.RandomState(0)
    sparse = np.zeros((200, 1, 16, 16))
    for i in range(40):
        sparse[i, 0, rng.randint(16), rng.randint(16)] = rng.uniform(0.5, 1.0)
    bright = np.exp(2 * rng.randn(1000))[:, None, None, None]
    uneven = bright * rng.rand(1000, 1, 8, 8)
    for X in (sparse, uneven):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            center, scale, low, high = fit_statistics(X)
        assert low[0] == X.min() and high[0] == X.max()
        np.testing.assert_allclose(center, [X.mean()], rtol=1e-12)
