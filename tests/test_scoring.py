"""skcae._scorer and skcae._terms: the inference path and every score."""

import copy
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from skcae import (
    AutoencoderOutlierDetector,
    ConvAutoencoderModule,
    ConvAutoencoderOutlierDetector,
    _knn_terms,
    _scorer,
    _terms,
    _threads,
)
from skcae._knn_terms import (
    distinct_rows,
    image_statistics,
    knn_distance,
    knn_neighbours,
    smallest,
)
from skcae._scorer import ModelConfig, build_model, reference_buffers, run_batches
from skcae._terms import Calibration, pooled_error
from skcae._threads import CHUNK_ROWS


# -- the reconstruction error ----
def test_errors_are_in_data_units(fitted_rgb, rgb):
    model = fitted_rgb.scorer_
    x = torch.from_numpy(rgb[:2])
    z = model.standardization(x)
    recon = model.network(z).float()
    expected = (recon - z).square() * model.standardization.scale.view(1, 3, 1, 1) ** 2
    torch.testing.assert_close(model.errors(x), expected)
    relative = model.errors(x, relative=True)
    scale = model.standardization.scale
    torch.testing.assert_close(relative * scale.max() ** 2, expected)


def test_pooled_error_defaults_to_the_mean_squared_error():
    errors = torch.rand(5, 3, 6, 7, dtype=torch.float64)
    np.testing.assert_allclose(
        pooled_error(errors).numpy(), errors.flatten(1).mean(1).numpy()
    )


def test_pooled_error_top_fraction_and_smoothing():
    errors = torch.zeros(1, 1, 10, 10, dtype=torch.float64)
    errors[0, 0, 5, 5] = 9.0
    # top 1% = the one largest pixel
    assert pooled_error(errors, top_fraction=0.01).item() == pytest.approx(9.0)
    # a 3x3 box spreads it over 9 pixels (zero padding): top 9 pixels are 1 each
    assert pooled_error(errors, 3, 0.09).item() == pytest.approx(1.0)


@pytest.mark.parametrize("shape", [(2, 1, 8, 8), (2, 3, 5, 9), (2, 1, 1, 12)])
def test_wide_smoothing_windows_sum_as_the_whole_image_does(shape):
    """A window of 2 * side - 1 or more covers the image from every pixel:
    wider ones are that window's sums over their own area, computed without
    padding to their size (score_smoothing=9999 on 8x8 images ran out of
    memory, a probe), and equal scipy's zero-padded box filter."""
    from scipy.ndimage import uniform_filter

    errors = torch.rand(*shape, dtype=torch.float64)
    mean = errors.mean(1, keepdim=True).numpy()
    for k in (31, 9999, 10**9 + 1):
        kh = 1 if shape[2] == 1 else k
        widest = (min(kh, 2 * shape[2] - 1), min(k, 2 * shape[3] - 1))
        size = (1, 1, *widest)
        expected = uniform_filter(mean, size=size, mode="constant", cval=0.0)
        expected *= widest[0] * widest[1] / (kh * k)
        np.testing.assert_allclose(
            pooled_error(errors, k).numpy(), expected.reshape(2, -1).mean(1)
        )


def test_pooled_error_of_rows_and_signals():
    rows = torch.rand(4, 10, dtype=torch.float64)
    np.testing.assert_allclose(pooled_error(rows).numpy(), rows.mean(1).numpy())
    signal = torch.zeros(1, 1, 1, 9, dtype=torch.float64)
    signal[..., 4] = 3.0
    assert pooled_error(signal, 3, 3 / 9).item() == pytest.approx(1.0)


def test_image_statistics():
    z = torch.tensor([[[[1.0, 3.0]], [[2.0, 2.0]]]])  # (1, 2, 1, 2)
    np.testing.assert_allclose(image_statistics(z).numpy(), [[2.0, 2.0, 1.0, 0.0]])


def test_image_statistics_match_numpy_far_from_zero():
    # standardised images may sit far from zero (new data in other units):
    # the two-pass deviation keeps its digits where a one-pass sum of
    # squares would cancel
    z = 1e4 + torch.randn(5, 3, 7, 9, generator=torch.Generator().manual_seed(0))
    flat = z.double().flatten(2).numpy()
    want = np.concatenate([flat.mean(2), flat.std(2)], axis=1)
    np.testing.assert_allclose(image_statistics(z).numpy(), want, rtol=1e-10)


# -- kNN ----
def test_knn_distance_matches_brute_force():
    rng = np.random.RandomState(0)
    ref, q = rng.randn(50, 4), rng.randn(7, 4)
    got = knn_distance(torch.from_numpy(q), torch.from_numpy(ref), 3).numpy()
    d = np.sqrt(((q[:, None] - ref[None]) ** 2).sum(-1))
    np.testing.assert_allclose(got, np.sort(d, 1)[:, :3].mean(1), rtol=1e-6)


def test_knn_distances_keep_their_digits_far_from_the_origin():
    # near-duplicates at 100: |r|^2 + |q|^2 - 2 q.r keeps only a few digits
    # of a 1e-4 distance in float64; those are computed from the differences
    rng = np.random.RandomState(0)
    ref = 100 + rng.randn(40, 3)
    near = ref[:10] + 1e-4 * rng.randn(10, 3)
    q = np.concatenate([near, ref[10:15], 100 + rng.randn(5, 3)])
    distance, index = knn_neighbours(torch.from_numpy(q), torch.from_numpy(ref), 2)
    exact = np.sqrt(((q[:, None, :] - ref[index.numpy()]) ** 2).sum(-1))
    np.testing.assert_allclose(distance.numpy(), exact, rtol=1e-9)
    np.testing.assert_array_equal(index[:15, 0].numpy(), np.arange(15))
    assert (distance[10:15, 0] == 0).all()  # duplicates: exactly zero apart


def test_knn_ranks_float32_near_ties_by_float64_and_ties_by_index():
    q = torch.zeros(1, 2, dtype=torch.float64)
    # 1 + 4e-8 is 1.0 in float32: the float32 search saw a tie, which it
    # broke by its own order; the float64 distances say reference 2 is nearer
    ref = torch.tensor(
        [[5.0, 0.0], [1.0 + 4e-8, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64
    )
    distance, index = knn_neighbours(q, ref, 2)
    assert index.tolist() == [[2, 3]]  # 2 and 3 exactly equidistant: by index
    assert distance.tolist() == [[1.0, 1.0]]
    # the same references in another order: the same choice, by index
    perm = [3, 2, 1, 0]
    _, index = knn_neighbours(q, ref[perm], 2)
    assert index.tolist() == [[0, 1]]
    # a difference below the tie tolerance (1e-9 of the squared norms) ties
    ref = torch.tensor(
        [[1.0 + 1e-12, 0.0], [1.0, 0.0], [0.0, 3.0]], dtype=torch.float64
    )
    assert knn_neighbours(q, ref, 1)[1].tolist() == [[0]]


def _distinct_rows_by_sorting(values):
    """distinct_rows' answer from numpy's row sort alone (its old code)."""
    _, first, inverse = np.unique(
        values, axis=0, return_index=True, return_inverse=True
    )
    order = np.argsort(first)
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return first[order], rank[inverse.reshape(-1)]


@pytest.mark.parametrize("collide", [False, True])
def test_distinct_rows_finds_copies_in_order_even_when_keys_collide(
    collide, monkeypatch
):
    """Rows are grouped by a hash of their bytes; rows that share a hash
    are compared, so a collision of distinct rows (forced here: every key
    equal) still gives the exact answer of sorting the rows."""
    rng = np.random.RandomState(0)
    values = rng.randint(0, 3, size=(300, 4)).astype(np.float64)
    values[5] = -0.0 * values[5]  # -0.0 is a copy of 0.0
    values[7] = 0.0 * values[7]
    if collide:
        monkeypatch.setattr(
            _knn_terms, "_row_keys", lambda v: np.zeros(len(v), np.int64)
        )
    first, copy_of = distinct_rows(values)
    want_first, want_copy_of = _distinct_rows_by_sorting(values)
    np.testing.assert_array_equal(first, want_first)
    np.testing.assert_array_equal(copy_of, want_copy_of)
    assert copy_of[5] == copy_of[7]
    np.testing.assert_array_equal(values[first][copy_of], values)
    # all rows distinct: no index
    distinct = rng.randn(50, 3)
    assert distinct_rows(distinct)[0] is None
    np.testing.assert_array_equal(distinct_rows(distinct)[1], np.arange(50))


def test_knn_leave_one_out_drops_the_query_itself_not_a_near_duplicate():
    ref = torch.tensor([[1.0, 0], [1 + 1e-6, 0], [5, 0], [6, 0]], dtype=torch.float64)
    distance, index = knn_neighbours(ref, ref, 1, exclude_self=True)
    assert index.ravel().tolist() == [1, 0, 3, 2]
    np.testing.assert_allclose(distance.ravel(), [1e-6, 1e-6, 1, 1], rtol=1e-9)


def test_knn_distances_to_infinite_or_overflowing_queries_are_inf_not_nan():
    ref = torch.from_numpy(np.random.RandomState(0).randn(20, 3))
    q = torch.tensor([[np.inf, 0.0, 0.0], [1e160, 1e160, 0.0]], dtype=torch.float64)
    distance, _ = knn_neighbours(q, ref, 3)
    assert torch.isinf(distance).all()


def test_knn_leave_one_out_drops_the_self_match():
    ref = torch.tensor([[0.0], [1.0], [3.0]])
    got = knn_distance(ref, ref, 1, exclude_self=True).numpy()
    np.testing.assert_allclose(got, [1.0, 1.0, 2.0])
    # k is capped at the number of other references
    np.testing.assert_allclose(
        knn_distance(ref, ref, 10, exclude_self=True).numpy(), [2.0, 1.5, 2.5]
    )


def test_knn_does_not_depend_on_the_chunk():
    rng = np.random.RandomState(0)
    ref = torch.from_numpy(rng.randn(300, 16))
    q = torch.from_numpy(rng.randn(2500, 16))
    full = knn_distance(q, ref, 5).numpy()
    np.testing.assert_array_equal(knn_distance(q, ref, 5, chunk=None).numpy(), full)
    singles = [knn_distance(q[i : i + 1], ref, 5).item() for i in range(20)]
    np.testing.assert_array_equal(singles, full[:20])


@pytest.mark.parametrize("width, take, block", [(600, 5, 8), (640, 20, 4), (90, 7, 1)])
def test_the_blocked_search_finds_the_smallest_values(width, take, block):
    rng = np.random.RandomState(0)
    values = torch.from_numpy(rng.randn(40, width).astype(np.float32))
    values[:5] = values[:5].round()  # many ties
    got = smallest(values, take, block)
    expected = torch.topk(values, take, dim=1, largest=False)
    torch.testing.assert_close(values.gather(1, got), expected.values, rtol=0, atol=0)
    assert (got.sort(1).values.diff(dim=1) > 0).all()  # no column twice


@pytest.mark.parametrize(
    "m, k, exclude_self",
    [
        (1000, 20, False),
        (999, 5, True),
        (200, 20, False),
        (200, 7, True),
        (3, 5, False),
    ],
)
def test_knn_matches_brute_force_at_every_size(m, k, exclude_self):
    rng = np.random.RandomState(1)
    ref = torch.from_numpy(rng.randn(m, 6))
    q = ref[:200].clone() if exclude_self else torch.from_numpy(rng.randn(200, 6))
    d = torch.cdist(q, ref)
    if exclude_self:
        d.fill_diagonal_(float("inf"))
    expected = d.topk(min(k, m - exclude_self), largest=False).values
    distance, index = knn_neighbours(q, ref, k, exclude_self=exclude_self)
    torch.testing.assert_close(distance, expected)
    assert (index < m).all()
    # the search keeps prepared forms of the references: an in-place change
    # of the references is seen
    ref.mul_(2.0)
    torch.testing.assert_close(
        knn_distance(q * 2.0, ref, k, exclude_self=exclude_self), 2.0 * expected.mean(1)
    )


def test_ranking_every_reference_agrees_with_the_search(monkeypatch):
    """Up to RANK_ALL references every one is ranked by one float64 matrix
    product; the float32 search with its margin finds the same neighbours
    at the same distances (to rounding), leave-one-out and self_rows too."""
    rng = np.random.RandomState(3)
    ref = torch.from_numpy(rng.randn(150, 12))
    q = torch.from_numpy(rng.randn(300, 12))
    rows = torch.from_numpy(np.sort(rng.choice(150, 40, replace=False)))
    calls = [
        lambda: knn_neighbours(q, ref, 9),
        lambda: knn_neighbours(ref, ref, 9, exclude_self=True),
        lambda: knn_neighbours(ref[rows], ref, 4, exclude_self=True, self_rows=rows),
    ]
    every = [call() for call in calls]
    monkeypatch.setattr(_knn_terms, "RANK_ALL", 0)  # search, then rank
    for (distance, index), call in zip(every, calls):
        searched_distance, searched_index = call()
        assert torch.equal(index, searched_index)
        torch.testing.assert_close(distance, searched_distance, rtol=1e-12, atol=0)


def test_knn_leaves_out_the_reference_each_query_names():
    """``self_rows``: query i is reference self_rows[i], wherever it lies;
    the same neighbours as the references' own leave-one-out search."""
    rng = np.random.RandomState(2)
    ref = torch.from_numpy(rng.randn(700, 5))
    rows = torch.from_numpy(np.sort(rng.choice(700, 300, replace=False)))
    d = torch.cdist(ref[rows], ref)
    d[torch.arange(300), rows] = float("inf")
    expected = d.topk(7, largest=False)
    distance, index = knn_neighbours(
        ref[rows], ref, 7, exclude_self=True, self_rows=rows
    )
    torch.testing.assert_close(distance, expected.values)
    all_distance, all_index = knn_neighbours(ref, ref, 7, exclude_self=True)
    assert torch.equal(distance, all_distance[rows])
    assert torch.equal(index, all_index[rows])
    assert not (index == rows.unsqueeze(1)).any()


@pytest.mark.parametrize("name", ["density", "latent", "stats", "residual", "range"])
def test_a_term_fitted_for_some_rows_gives_their_full_fit_costs(fitted, digits, name):
    """fit_rows(values, rows) keeps every reference and returns exactly the
    leave-one-out costs fit(values) gives those rows."""
    scorer = fitted.scorer_
    x = torch.from_numpy(digits[0][300:700].reshape(-1, 1, 8, 8))
    with torch.inference_mode():
        values = scorer.fit_features(x)[name].numpy()
    rows = np.sort(np.random.RandomState(0).choice(len(values), 90, replace=False))
    term = copy.deepcopy(scorer.terms[name])
    full = term.fit(values)
    density = getattr(term, "density", None)
    some = term.fit_rows(values, rows)
    if "reference" in term.reference_buffers:
        assert len(term.reference) == len(values)
    np.testing.assert_array_equal(some, full[rows])
    if density is not None:  # the references' own densities as before
        assert torch.equal(term.density, density)


def test_residual_term_weighs_each_pixel_by_its_training_error(fitted):
    """The "residual" term divides each pixel's squared error by that
    pixel's mean on the references: the same error costs far more where
    the references are always reconstructed well; a reference's own cost
    divides by the others' errors (leave-one-out), so the one reference
    wrong at a pixel is not vouched for by itself."""
    term = copy.deepcopy(fitted.scorer_.terms["residual"])
    assert tuple(term.weight.shape) == (8, 8)  # 8x8 images: one pixel a block
    values = np.full((50, 64), 0.01)
    values[:, 0] = 1.0  # pixel 0: always wrong
    values[7, 5] = 1.0  # reference 7 alone is wrong at pixel 5
    loo = term.fit(values)
    query = torch.full((3, 64), 0.01, dtype=torch.float64)  # 0: typical
    query[1, 0] += 1.0  # where every reference is wrong
    query[2, 9] += 1.0  # where none is: the same squared error in all
    cost = term.cost(query)
    assert cost[2] - cost[0] > 50 * (cost[1] - cost[0]) > 0
    floor = 0.01 * values.mean(0).mean()
    others = (values.sum(0) - values[7]) / 49
    assert loo[7] == pytest.approx((values[7] / (others + floor)).mean(), rel=1e-12)
    in_sample = term.cost(torch.from_numpy(values)).numpy()
    assert loo[7] - np.median(loo) > 2.5 * (in_sample[7] - np.median(in_sample))
    # the scorer's costs of new reference features take it like a kNN term's
    scorer = copy.deepcopy(fitted.scorer_)
    scorer.terms["residual"] = term
    np.testing.assert_array_equal(
        scorer.term_costs({"residual": query.numpy()})["residual"],
        cost.numpy(),
    )


def test_range_term_costs_the_excess_beyond_the_training_range(fitted):
    """The "range" term: a value within every pixel's training range costs
    only the offset; an excess costs its square over the pixel's variance
    (plus the floor), so the same excess costs far more where the training
    values never vary; a reference is measured against the others' range
    (the second largest value where it is the largest, nothing where
    another reference shares its value)."""
    term = _terms.TERMS["range"](fitted.scorer_.config)
    assert term.grid == (8, 8)  # 8x8 images: one pixel a block
    rng = np.random.RandomState(0)
    values = rng.uniform(0.0, 1.0, (50, 64))
    values[:, 0] = 0.0  # pixel 0: never varies
    values[:, 1] = np.linspace(0.0, 1.0, 50)  # reference 49 alone the largest
    values[:2, 2] = 5.0  # references 0 and 1 share the largest value
    loo = term.fit(values)
    offset = float(term.offset)
    variance = values.var(0)
    floor = 0.01 * variance.mean()
    query = torch.from_numpy(np.tile(values[10], (3, 1)))
    query[1, 0] += 0.1  # where the training values never vary
    query[2, 3] = values[:, 3].max() + 0.1  # where they do
    cost = term.cost(query).numpy()
    assert cost[0] == offset
    assert cost[1] - offset == pytest.approx(0.01 / floor / 64, rel=1e-12)
    assert cost[2] - offset == pytest.approx(
        0.01 / (variance[3] + floor) / 64, rel=1e-12
    )
    assert cost[1] - offset > 50 * (cost[2] - offset)
    # leave-one-out, against a plain loop over the references
    naive = []
    for i in range(len(values)):
        rest = np.delete(values, i, axis=0)
        over = np.maximum(values[i] - rest.max(0), 0) + np.maximum(
            rest.min(0) - values[i], 0
        )
        naive.append((over**2 / (variance + floor)).mean())
    naive = np.array(naive)
    np.testing.assert_allclose(loo - offset, naive, rtol=1e-9)
    assert naive[49] >= (1.0 - values[48, 1]) ** 2 / (variance[1] + floor) / 64
    # the offset: a tenth of the median positive leave-one-out cost
    assert offset == pytest.approx(0.1 * np.median(naive[naive > 0]), rel=1e-12)
    # its weight's share: 1 minus the narrowest tenth of the pixels' range
    # widths over the whole range's (0 to 5 here), times the chance that a
    # 51st sample lies within all 64 ranges of the 50
    widths = values.max(0) - values.min(0)
    silent = (1 - 2 / 51) ** 64
    assert float(term.reliability()) == pytest.approx(
        (1 - np.quantile(widths, 0.1) / 5.0) * silent, rel=1e-12
    )
    assert 0.0 < float(term.reliability()) < 0.1
    many = _terms.TERMS["range"](fitted.scorer_.config)
    many.fit(np.c_[np.zeros((5000, 10)), rng.uniform(0.0, 1.0, (5000, 54))])
    assert float(many.reliability()) > 0.9
    photo_like = _terms.TERMS["range"](fitted.scorer_.config)
    photo_like.fit(rng.uniform(0.0, 1.0, (5000, 64)))  # every pixel's ~ all
    assert 0.0 <= float(photo_like.reliability()) < 0.01
    term.check()
    with torch.no_grad():
        term.low[0, 0] = 2.0  # above its high: not what fit gives
    with pytest.raises(ValueError, match="'range' term's pixel ranges"):
        term.check()


@pytest.mark.parametrize("defaults", [False, True], ids=["tiny", "defaults"])
def test_hybrid_flags_a_few_bright_pixels_where_digits_have_little_ink(
    digits, tiny, defaults
):
    """Three bright pixels where digits are rarely inked (impulse noise)
    raise the mean squared error little among the errors normal digits
    make, but the "residual" term weighs them by those pixels' errors on
    the training digits. Measured AUROC .988-.989 (tiny network) and .995
    (defaults) over three draws; .949-.950 and .953-.954 with the mean
    squared error in its place (before file format 9)."""
    X = digits[0].reshape(-1, 8, 8)
    train, test = X[:1000], X[1000:1400]
    settings = dict(random_state=0) if defaults else tiny
    det = ConvAutoencoderOutlierDetector(**settings).fit(train)
    rare = np.argwhere(train.mean(0) < 1.0)
    rng = np.random.RandomState(0)
    noisy = test.copy()
    for image in noisy:
        for r, c in rare[rng.choice(len(rare), 3, replace=False)]:
            image[r, c] = 12.0
    is_noisy = np.r_[np.zeros(len(test)), np.ones(len(noisy))]
    scores = det.score_samples(np.concatenate([test, noisy]))
    assert roc_auc_score(is_noisy, -scores) > 0.975


def test_the_range_term_counts_copies_of_an_image_once(fitted):
    """30 copies of each of 20 images share every extreme, so each would be
    within the others' range and a hair beyond it would look far out (a
    default detector on copies scored a near copy -24 against -0.1): the
    term keeps one row per distinct image, and each copy gets its image's
    leave-one-out cost."""
    rng = np.random.RandomState(0)
    values = rng.uniform(0.0, 1.0, (20, 64))
    once = _terms.TERMS["range"](fitted.scorer_.config)
    loo = once.fit(values)
    copies = _terms.TERMS["range"](fitted.scorer_.config)
    loo_copies = copies.fit(np.repeat(values, 30, axis=0))
    for name in ("low", "high", "weight", "offset", "share"):
        assert torch.equal(getattr(copies, name), getattr(once, name))
    np.testing.assert_array_equal(loo_copies, np.repeat(loo, 30))


@pytest.mark.parametrize("defaults", [False, True], ids=["tiny", "defaults"])
def test_the_range_term_takes_every_training_image_trimmed_ones_too(
    digits, tiny, defaults
):
    """Trimming drops the most outlying training images from the other
    terms' references, and with them the extremes a range is made of:
    fitted on the references kept, a pixel lit in 2 of 1,000 binary
    training digits had a range of "never lit" and new digits lighting it
    were flagged (a probe). The "range" term is fitted on every training
    image, and calibrated on all of their leave-one-out costs."""
    X = digits[0][:200].reshape(-1, 1, 8, 8)
    settings = dict(random_state=0) if defaults else tiny
    det = ConvAutoencoderOutlierDetector(contamination=0.1, **settings).fit(X)
    scorer = det.scorer_
    assert len(scorer.terms["density"].reference) < 200  # trimmed
    with torch.inference_mode():
        values = scorer.fit_features(torch.from_numpy(X))["range"].numpy()
    term = scorer.terms["range"]
    np.testing.assert_array_equal(term.high.flatten().numpy(), values.max(0))
    np.testing.assert_array_equal(term.low.flatten().numpy(), values.min(0))
    fresh = _terms.TERMS["range"](scorer.config)
    fresh.calibration.fit(fresh.fit(values))
    for name in ("center", "spread", "eps"):
        assert getattr(term.calibration, name) == getattr(fresh.calibration, name)


def test_tail_calibration_maps_the_rare_excess_to_its_rarity():
    """Most normal samples share the range term's smallest cost (no pixel
    beyond the others' range): the calibration fits the others, so that
    the median of those, a cost that 11 in 2,000 normal samples reach
    here, maps to t = 2.54 (the normal's upper 0.55% quantile), not to
    the 7.3 a fit of all of them gives (its interquartile range is zero;
    t of 8-40 on digits, a probe)."""
    from statistics import NormalDist

    rng = np.random.RandomState(0)
    tail = np.exp(rng.normal(0.0, 2.0, 11))
    costs = np.r_[np.full(989, 0.1), tail]
    cal = _terms.TailCalibration().fit(costs)
    t_median = float(cal(torch.tensor([np.median(tail)], dtype=torch.float64)))
    assert t_median == pytest.approx(NormalDist().inv_cdf(1 - 0.0055), rel=1e-9)
    assert float(cal(torch.tensor([0.1], dtype=torch.float64))) < t_median
    plain = Calibration().fit(costs)
    assert float(plain(torch.tensor([np.median(tail)], dtype=torch.float64))) > 7
    # one sample above the rest: the spread's floor; all alike (two training
    # images, each against the other): as Calibration, with that floor
    one = _terms.TailCalibration().fit(np.r_[np.full(999, 0.1), 5.0])
    assert float(one.spread) == 1.0
    same = _terms.TailCalibration().fit(np.full(2, 0.1))
    plain = Calibration().fit(np.full(2, 0.1))
    assert float(plain.spread) == 0.05 and float(same.spread) == 1.0
    assert float(same.center) == float(plain.center)


@pytest.mark.parametrize("defaults", [False, True], ids=["tiny", "defaults"])
def test_hybrid_flags_faint_gaussian_noise_on_8x8_digits(digits, tiny, defaults):
    """Gaussian noise of sigma 0.05 (of the 0-16 range, clipped) on 8x8
    digits is as large as the network's own error at the border pixels,
    which are blank in nearly every training digit, so the reconstruction
    terms barely see it; the "range" term sees each blank pixel lit.
    Trained on 1,200 digits of all classes, the other 597 clean against
    noisy: AUROC .807 (tiny network) and .818 (defaults), .527 and .547
    before file format 11; an IsolationForest .779."""
    from sklearn.ensemble import IsolationForest

    X = digits[0] / 16.0
    perm = np.random.RandomState(0).permutation(len(X))
    train, held = X[perm[:1200]], X[perm[1200:]]
    noisy = np.clip(held + np.random.RandomState(1).normal(0, 0.05, held.shape), 0, 1)
    test, is_noisy = np.r_[held, noisy], np.r_[np.zeros(len(held)), np.ones(len(held))]
    settings = dict(random_state=0) if defaults else tiny
    det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), **settings).fit(train)
    auroc = roc_auc_score(is_noisy, -det.score_samples(test))
    forest = IsolationForest(random_state=0).fit(train)
    assert auroc > 0.8
    assert auroc > roc_auc_score(is_noisy, -forest.score_samples(test)) + 0.02


def test_the_density_projection_of_few_narrow_samples_keeps_every_distance():
    """Values at most DENSITY_COMPONENTS wide are rotated (and scaled), not
    cut at the rank of a few samples: a query off the span of 10
    references keeps its distance to each of them."""
    rng = np.random.RandomState(0)
    refs, query = rng.rand(10, 64), rng.rand(1, 64)
    center, projection = _knn_terms._scaled_pca(refs, 64)
    scale = np.sqrt((projection**2).sum() / 64)
    np.testing.assert_allclose(
        projection @ projection.T, scale**2 * np.eye(64), atol=1e-12
    )
    far = np.linalg.norm(refs - query, axis=1)
    projected = np.linalg.norm(
        (refs - center) @ projection - (query - center) @ projection, axis=1
    )
    np.testing.assert_allclose(projected, scale * far, rtol=1e-10)
    # wider values keep at most the rank's components
    center, projection = _knn_terms._scaled_pca(rng.rand(10, 100), 64)
    assert (np.abs(projection).sum(0) > 0).sum() == 9


def test_the_density_score_of_a_few_small_images_ranks_other_digits_lower(digits, tiny):
    """With 10 training 1s of 8x8 pixels the density term compared images
    on the 9 directions those span only: every 0 scored as more normal than
    new 1s (AUROC .147, a hostile probe). Measured .987 since. (The term
    reads the standardised pixels of images this small, so the network,
    and with it the other parameters, do not change it.)"""
    X, y = digits
    ones, zeros = X[y == 1].reshape(-1, 8, 8), X[y == 0][:40].reshape(-1, 8, 8)
    det = ConvAutoencoderOutlierDetector(score_type="density", **tiny)
    det.fit(ones[:10])
    scores = det.score_samples(np.concatenate([ones[100:], zeros]))
    is_one = np.r_[np.ones(len(ones) - 100), np.zeros(len(zeros))]
    assert roc_auc_score(is_one, scores) > 0.9


@pytest.mark.parametrize(
    "n, defaults", [(10, False), (20, False), (37, False), (20, True)]
)
def test_copies_of_one_image_score_as_their_calibration_and_pass(tiny, n, defaults):
    """The residual term's per-block means of copies of one image are
    exactly its errors whatever their number, so the cross-fitted networks
    that set the threshold and the model score a copy alike: 20 copies
    scored 1.2e-15 below their own calibration scores, and every training
    image was flagged (a hostile probe)."""
    X = np.zeros((n, 8, 8))
    X[:, 3, 3] = 1.0
    det = ConvAutoencoderOutlierDetector(
        **(dict(random_state=0) if defaults else tiny)
    ).fit(X)
    assert det.score_samples(X[:1])[0] == det.validation_scores_.min()
    assert (det.decision_function(X) >= 0).all()
    assert (det.predict(X) == 1).all()


# -- calibration ----
def test_calibration_is_scale_free_and_about_standard_normal():
    costs = np.exp(np.random.RandomState(0).randn(5000))
    t = Calibration().fit(costs)(torch.from_numpy(costs)).numpy()
    t_scaled = Calibration().fit(costs * 1e6)(torch.from_numpy(costs * 1e6))
    np.testing.assert_allclose(t, t_scaled.numpy(), atol=1e-6)
    assert np.median(t) == pytest.approx(0, abs=0.05)
    assert np.subtract(*np.percentile(t, [75, 25])) == pytest.approx(1.349, rel=0.05)


@pytest.mark.parametrize(
    "costs", [np.zeros(10), np.full(10, 3.0), np.array([0.0, 5.0])]
)
def test_calibration_of_degenerate_costs_is_finite(costs):
    cal = Calibration().fit(costs)
    assert cal.spread > 0
    assert np.isfinite(cal(torch.from_numpy(np.r_[costs, 1e3])).numpy()).all()


# -- the terms and the scorer ----
def _config(score_type="hybrid", **kw):
    terms = {"reconstruction": ("mse",), "latent": ("latent",)}.get(
        score_type, ("mse", "pooled", "latent", "stats")
    )
    return ModelConfig(
        module_class=ConvAutoencoderModule,
        module_kwargs=(
            ("channels", (2,)),
            ("input_shape", (1, 4, 4)),
            ("latent_dim", 3),
        ),
        n_standardized=1,
        latent_dim=3,
        score_type=score_type,
        terms=terms,
        **kw,
    )


def _features(mse, codes, level):
    """Features of samples with a given MSE, code and image brightness."""
    n = len(mse)
    errors = torch.ones(n, 1, 4, 4, dtype=torch.float64) * torch.tensor(
        mse, dtype=torch.float64
    ).view(-1, 1, 1, 1)
    z = torch.as_tensor(np.asarray(level, np.float32)).view(-1, 1, 1, 1).repeat(
        1, 1, 4, 4
    ) + torch.as_tensor(np.random.RandomState(0).randn(n, 1, 4, 4), dtype=torch.float32)
    return {
        "errors": errors,
        "code": torch.as_tensor(codes, dtype=torch.float32),
        "z": z,
    }


def _fitted_scorer(score_type, rng):
    """A scorer whose terms are fitted on 200 normal samples."""
    scorer = build_model(_config(score_type), device="cpu")
    scorer.standardization.set(np.zeros(1), np.ones(1), [[0.0], [1.0]])
    normal = _features(rng.gamma(4, 0.25, 200), rng.randn(200, 3), rng.randn(200))
    for name, term in scorer.terms.items():
        values = term.reference_features(normal)
        if values is not None:
            term.fit(values.double().numpy())
    scorer.calibrate(
        {
            name: term(normal, leave_one_out=True).numpy()
            for name, term in scorer.terms.items()
        }
    )
    return scorer


def _costs(scorer, features):
    raw = {name: term(features) for name, term in scorer.terms.items()}
    return scorer.combine(raw).numpy()


def test_knn_terms_weigh_by_their_references(monkeypatch):
    from skcae import _knn_terms

    scorer = _fitted_scorer("hybrid", np.random.RandomState(0))  # 200 refs
    assert _knn_terms.RELIABLE_REFERENCES == 100  # since file format 7
    assert scorer.terms["latent"].reliability() == 1.0
    assert scorer.terms["mse"].reliability() == 1.0
    monkeypatch.setattr(_knn_terms, "RELIABLE_REFERENCES", 1_000)  # before
    assert scorer.terms["latent"].reliability() == pytest.approx(0.2)


def test_each_term_flags_what_it_measures_and_hybrid_flags_both():
    rng = np.random.RandomState(0)
    typical = _features([1.0] * 3, np.zeros((3, 3)), [0.0] * 3)
    bad_recon = _features([50.0] * 3, np.zeros((3, 3)), [0.0] * 3)
    rare_code = _features([1.0] * 3, np.full((3, 3), 8.0), [0.0] * 3)
    rare_stats = _features([1.0] * 3, np.zeros((3, 3)), [8.0] * 3)
    costs = {}
    for score_type in ("reconstruction", "latent", "hybrid"):
        scorer = _fitted_scorer(score_type, rng)
        costs[score_type] = {
            name: _costs(scorer, features).mean()
            for name, features in [
                ("typical", typical),
                ("recon", bad_recon),
                ("code", rare_code),
                ("stats", rare_stats),
            ]
        }
    rec, lat, hyb = (costs[k] for k in ("reconstruction", "latent", "hybrid"))
    assert rec["recon"] > 10 * rec["typical"] and rec["code"] == rec["typical"]
    assert lat["code"] > 5 * lat["typical"] and lat["recon"] == lat["typical"]
    assert hyb["typical"] < 1.0  # log 2 at the median of every term
    assert min(hyb["recon"], hyb["code"], hyb["stats"]) > 3.0


def test_hybrid_is_fishers_weighted_evidence(monkeypatch):
    from skcae import _knn_terms

    monkeypatch.setattr(_knn_terms, "RELIABLE_REFERENCES", 1)  # full weights
    scorer = _fitted_scorer("hybrid", np.random.RandomState(0))
    for term in scorer.terms.values():  # every t = (log(c + eps) - 0) / 1
        term.calibration.center.fill_(0.0)
        term.calibration.spread.fill_(1.0)
    raw = {
        name: torch.tensor([1.0 - 1e-9], dtype=torch.float64) for name in scorer.terms
    }
    # t = 0 for every term: the evidence of each is -log(1/2)
    assert scorer.combine(raw).item() == pytest.approx(np.log(2), rel=1e-6)
    raw["mse"] = torch.tensor([np.exp(3.0)], dtype=torch.float64)  # t = 3
    expected = (-np.log(0.0013498980316301) + 3 * np.log(2)) / 4
    assert scorer.combine(raw).item() == pytest.approx(expected, rel=1e-5)


def test_hybrid_evaluates_the_terms_stacked_to_the_per_term_values():
    from skcae._scorer import neg_log_sf
    from skcae._tuning import TERM_WEIGHTS

    scorer = _fitted_scorer("hybrid", np.random.RandomState(0))
    rng = np.random.RandomState(1)
    raw = {name: torch.from_numpy(np.exp(rng.randn(50) * 3)) for name in scorer.terms}
    evidence = {
        name: neg_log_sf(scorer.terms[name].calibration(cost))
        for name, cost in raw.items()
    }
    base = evidence[next(iter(raw))]
    total, weights = 0.0, 0.0
    for name in raw:  # the definition, one term at a time
        weight = TERM_WEIGHTS.get(name, 1.0) * scorer.terms[name].reliability()
        total = total + weight * (evidence[name] - base)
        weights += weight
    assert torch.equal(scorer.combine(raw), base + total / weights)
    # the weighted mean of the evidences, to rounding
    plain = sum(
        TERM_WEIGHTS.get(n, 1.0) * scorer.terms[n].reliability() * e
        for n, e in evidence.items()
    )
    torch.testing.assert_close(scorer.combine(raw), plain / weights)


def test_hybrid_of_terms_that_agree_is_their_evidence_exactly():
    """Every term at the same evidence (constant data): the cost is that
    evidence to the bit, whatever the weights, so a model and the
    cross-fitted networks whose scores set its threshold (other numbers of
    references, other weights) tie exactly (a constant training set was
    flagged by 1e-16)."""
    from skcae import _knn_terms

    scorer = _fitted_scorer("hybrid", np.random.RandomState(0))
    raw = {n: torch.full((3,), 1.0 - 1e-9, dtype=torch.float64) for n in scorer.terms}
    for term in scorer.terms.values():  # every t the same, about 0
        term.calibration.center.fill_(0.0)
        term.calibration.spread.fill_(1.0)
        term.calibration.eps.fill_(1e-300)
    expected = scorer.combine(raw)
    for references in (7, 38, 90, 1_000):  # 0.07 to full weight
        for name in ("latent", "stats"):
            scorer.terms[name].reference = torch.zeros(references, 3)
        assert torch.equal(scorer.combine(raw), expected)
    assert _knn_terms.RELIABLE_REFERENCES == 100


def test_an_empty_build_has_every_buffer_and_reference_rows_vary():
    scorer = build_model(_config("hybrid"))  # on the meta device
    state = scorer.state_dict()
    assert all(t.device.type == "meta" for t in state.values())
    assert sorted(reference_buffers(scorer)) == [
        "terms.latent.reference",
        "terms.stats.reference",
    ]
    assert state["terms.latent.reference"].shape == (0, 3)
    assert state["terms.latent.transform"].shape == (3, 3)
    assert state["terms.mse.calibration.spread"].shape == ()
    assert state["standardization.center"].dtype == torch.float64


def test_a_new_term_is_one_class_and_one_registration(monkeypatch):
    monkeypatch.setattr(_terms, "TERMS", dict(_terms.TERMS))

    @_terms.register_term("brightest")
    class Brightest(_terms.Term):
        """Distance of the brightest pixel to the references' brightest."""

        reference_buffers = ("reference",)

        def __init__(self, config):
            super().__init__(config)
            self.register_buffer("reference", torch.zeros(0, 1, dtype=torch.float64))

        def reference_features(self, features):
            return features["z"].flatten(1).amax(1, keepdim=True)

        def fit(self, values):
            self.reference = torch.from_numpy(values)

        def forward(self, features, leave_one_out=False):
            values = self.reference_features(features).double()
            return (values - self.reference.T).abs().amin(1)

    monkeypatch.setattr(_scorer, "TERMS", _terms.TERMS)
    config = _config("hybrid")
    config = ModelConfig(**{**config.__dict__, "terms": ("mse", "brightest")})
    assert reference_buffers(build_model(config)) == ["terms.brightest.reference"]
    scorer = build_model(config, device="cpu")
    normal = _features([1.0] * 50, np.zeros((50, 3)), np.zeros(50))
    scorer.fit_terms({"brightest": Brightest.reference_features(None, normal).numpy()})
    raw = {n: t(normal, leave_one_out=True).numpy() for n, t in scorer.terms.items()}
    scorer.calibrate(raw)
    bright = _features([1.0], np.zeros((1, 3)), [20.0])
    assert _costs(scorer, bright)[0] > 2.0


# -- end to end on images ----
def _auroc(det, normal, outliers):
    scores = det.score_samples(np.r_[normal, outliers])
    return roc_auc_score(np.r_[np.ones(len(normal)), np.zeros(len(outliers))], scores)


@pytest.fixture(scope="module")
def zero_sets(all_zeros):
    train, test = all_zeros[:140], all_zeros[140:]
    dim = test * 0.4  # reconstructs well (the network is nearly linear in scale)
    bar = test.copy()
    bar[:, 0, 5:8] = 16.0  # a stroke where no 0 has ink
    return train, test, dim, bar


@pytest.mark.slow
def test_latent_and_hybrid_flag_what_reconstruction_misses(zero_sets):
    train, test, dim, _ = zero_sets
    aurocs = {
        st: _auroc(
            ConvAutoencoderOutlierDetector(
                score_type=st, max_epochs=10, random_state=0
            ).fit(train),
            test,
            dim,
        )
        for st in ("reconstruction", "latent", "hybrid")
    }
    assert aurocs["reconstruction"] < 0.9  # measured 0.71-0.88 over seeds 0-3
    assert aurocs["latent"] > 0.98 and aurocs["hybrid"] > 0.98  # measured >= 0.988


@pytest.mark.slow
def test_reconstruction_and_hybrid_flag_a_local_defect(zero_sets):
    train, test, _, bar = zero_sets
    for st, floor in (("reconstruction", 0.95), ("hybrid", 0.9)):
        det = ConvAutoencoderOutlierDetector(
            score_type=st, max_epochs=10, random_state=0
        ).fit(train)
        assert _auroc(det, test, bar) > floor  # measured 0.967-0.984, 0.945-0.963


# -- batched inference ----
def test_run_batches_pads_chunks_and_drops_the_padding():
    sizes = []

    def fn(model, x):
        sizes.append(len(x))
        return {"sum": x.flatten(1).sum(1, keepdim=True), "first": x[:, :1, 0, 0]}

    n = 2 * CHUNK_ROWS + 10  # one block of 2 chunks and one of 10 rows
    rows = np.arange(n, dtype=float).reshape(-1, 1, 1, 1)
    out = run_batches(torch.nn.Identity(), rows, fn, device="cpu")
    # the last block padded to CHUNK_ROWS, every chunk of CHUNK_ROWS rows
    # whatever the number of workers (skcae._threads)
    assert sizes == [CHUNK_ROWS] * 3
    np.testing.assert_array_equal(out["sum"][:, 0], rows.ravel())
    assert out["sum"].shape == (n, 1)
    assert out["first"].shape == (n, 1)


def test_large_samples_are_scored_in_smaller_chunks():
    """A chunk of 128 images of 256x256 pixels took 570 MB to score one."""
    sizes = []

    def fn(model, x):
        sizes.append(len(x))
        return x.flatten(1).sum(1)

    rows = np.ones((20, 1, 256, 256), dtype=np.float32)
    out = run_batches(torch.nn.Identity(), rows, fn, device="cpu")
    assert sizes == [16, 16]  # 20 rows padded to two chunks of 16
    np.testing.assert_array_equal(out, np.full(20, 256.0 * 256))


def test_a_model_of_large_samples_scores_alike_in_any_batch(digits, tiny, monkeypatch):
    """Chunks of 8 rows (as a model of 360x360 pixels gets) give every row
    the same bits alone or among others; the network and the kNN searches
    see no more."""
    monkeypatch.setattr(_threads, "CHUNK_VALUES", 8 * 64)
    fitted = ConvAutoencoderOutlierDetector(image_shape=(8, 8), **tiny)
    fitted.fit(digits[0][:150])
    assert fitted.scorer_.chunk_rows == 8
    searched = []
    search = _knn_terms.knn_neighbours
    monkeypatch.setattr(
        _knn_terms,
        "knn_neighbours",
        lambda *a, **kw: searched.append(kw["chunk"]) or search(*a, **kw),
    )
    sizes = []
    first_conv = fitted.scorer_.network.encoder_conv[0]
    hook = first_conv.register_forward_hook(lambda m, i, o: sizes.append(len(i[0])))
    try:
        X = digits[0][:21]
        full = fitted.score_samples(X)
        assert set(sizes) == {8} and set(searched) == {8}
        singles = [fitted.score_samples(X[i : i + 1]) for i in range(21)]
    finally:
        hook.remove()
    np.testing.assert_array_equal(np.concatenate(singles), full)
    np.testing.assert_array_equal(fitted.score_samples(X[::-1]), full[::-1])


def test_run_batches_runs_in_eval_and_inference_mode():
    module = ConvAutoencoderModule((1, 4, 4), channels=(2,), noise_std=1.0)
    module.train()
    seen = []

    def fn(m, x):
        seen.append((m.training, torch.is_inference_mode_enabled()))
        return m(x.float())

    rows = np.zeros((3, 1, 4, 4))
    a = run_batches(module, rows, fn, device="cpu")
    b = run_batches(module, rows, fn, device="cpu")
    assert seen == [(False, True), (False, True)]
    np.testing.assert_array_equal(a, b)  # no denoising noise in eval mode


def test_read_only_rows_give_no_torch_warning():
    rows = np.zeros((5, 1, 2, 2))
    rows.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_batches(torch.nn.Identity(), rows, lambda m, x: x, device="cpu")


def test_scores_do_not_depend_on_batching_or_order(fitted, digits):
    X = digits[0][:700]  # several chunks
    full = fitted.score_samples(X)
    perm = np.random.RandomState(1).permutation(len(X))
    np.testing.assert_array_equal(fitted.score_samples(X[perm]), full[perm])
    singles = np.concatenate([fitted.score_samples(X[i : i + 1]) for i in range(20)])
    np.testing.assert_array_equal(singles, full[:20])


@pytest.mark.parametrize(
    "make, shape",
    [
        # 6 features into 5 units: the CPU's matrix product gave the rows at
        # some positions of a chunk other roundings (up to 4e-7 of a score)
        (
            lambda: AutoencoderOutlierDetector(
                hidden_layer_sizes=(5,), latent_dim=2, max_epochs=3, random_state=0
            ),
            (80, 6),
        ),
        # a code of 5: the latent term's float64 whitening, 1e-16 apart
        (
            lambda: ConvAutoencoderOutlierDetector(
                image_shape=(4, 4),
                channels=(3,),
                latent_dim=5,
                max_epochs=1,
                random_state=0,
            ),
            (120, 16),
        ),
        # 5 channels into a code of 6: a row-major right-hand matrix let the
        # batched product fold into one matrix product (1e-6 apart)
        (
            lambda: ConvAutoencoderOutlierDetector(
                image_shape=(8, 8),
                channels=(5,),
                latent_dim=6,
                max_epochs=1,
                random_state=0,
            ),
            (120, 64),
        ),
        # the defaults, as a user meets them
        (
            lambda: ConvAutoencoderOutlierDetector(image_shape=(8, 8), random_state=0),
            (120, 64),
        ),
        (lambda: AutoencoderOutlierDetector(random_state=0), (80, 6)),
    ],
    ids=[
        "dense-6-features",
        "conv-latent-5",
        "conv-8x8-latent-6",
        "conv-defaults",
        "dense-defaults",
    ],
)
def test_scores_of_narrow_layers_do_not_depend_on_order(make, shape):
    """Shuffling, reversing or splitting the rows scored once changed some
    scores, so a threshold set on one sample's score (set_threshold_from)
    flagged it in one order and not in another."""
    X = np.random.RandomState(0).normal(size=shape)
    det = make().fit(X)
    full = det.score_samples(X)
    perm = np.random.RandomState(1).permutation(len(X))
    np.testing.assert_array_equal(det.score_samples(X[perm]), full[perm])
    np.testing.assert_array_equal(det.score_samples(X[::-1]), full[::-1])
    singles = np.array([det.score_samples(X[i : i + 1])[0] for i in range(len(X))])
    np.testing.assert_array_equal(singles, full)
    det.set_threshold_from(X, false_positive_rate=0.3)
    assert (det.predict(X[perm]) == det.predict(X)[perm]).all()


def test_8x8_images_weigh_the_pixel_density_and_range_terms_more(monkeypatch):
    """Where the density term reads the pixels (images of at most 8x8),
    it and the range term weigh PIXEL_DENSITY_WEIGHTS in the hybrid score
    (file format 12); larger images keep TERM_WEIGHTS."""
    from _settings import TINY
    from sklearn.datasets import load_digits

    from skcae import _scorer
    from skcae._tuning import PIXEL_DENSITY_WEIGHTS, TERM_WEIGHTS

    X = load_digits().data[:120]
    det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), **TINY).fit(X)
    scorer = det.scorer_
    assert scorer.weighs_pixel_density
    for name in scorer.terms:
        expected = PIXEL_DENSITY_WEIGHTS.get(name, TERM_WEIGHTS.get(name, 1.0))
        assert scorer.term_weight(name) == expected
    assert scorer.term_weight("density") > TERM_WEIGHTS["density"]
    scores = det.score_samples(X)
    # the scores follow the weights: without them, as version 11 scored...
    monkeypatch.setattr(_scorer, "PIXEL_DENSITY_WEIGHTS", {})
    assert not np.allclose(det.score_samples(X), scores)
    # ... and with them written into TERM_WEIGHTS, the same
    for name, weight in PIXEL_DENSITY_WEIGHTS.items():
        monkeypatch.setitem(_scorer.TERM_WEIGHTS, name, weight)
    np.testing.assert_allclose(det.score_samples(X), scores, rtol=1e-12)
    monkeypatch.undo()
    big = ConvAutoencoderOutlierDetector(**TINY).fit(
        np.random.RandomState(0).rand(40, 16, 16)
    )
    assert not big.scorer_.weighs_pixel_density
    assert big.scorer_.term_weight("density") == TERM_WEIGHTS["density"]
    # the default detector, as a user fits it on 8x8 digits
    default = ConvAutoencoderOutlierDetector(image_shape=(8, 8), random_state=0)
    assert default.fit(X).scorer_.weighs_pixel_density
    assert default.scorer_.term_weight("range") == PIXEL_DENSITY_WEIGHTS["range"]
