"""skcae._scoring: the one inference path and every score."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from skcae import ConvAutoencoderModule, ConvAutoencoderOutlierDetector
from skcae._data import BLOCK_ROWS, Standardizer
from skcae._score_model import SCORE_TERMS, Calibration, ScoreModel, image_statistics
from skcae._scoring import (
    batched_inference,
    knn_distance,
    pooled_error,
    squared_errors,
)


# -- the reconstruction error ----
def test_squared_errors_are_in_data_units():
    z = torch.zeros(2, 3, 4, 4)
    recon = torch.ones(2, 3, 4, 4)
    weights = torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64).view(1, 3, 1, 1)
    errors = squared_errors(z, recon, weights)
    assert errors.dtype == torch.float64
    np.testing.assert_array_equal(errors[0, :, 0, 0].numpy(), [1.0, 4.0, 9.0])


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


def test_pooled_error_of_rows_and_signals():
    rows = torch.rand(4, 10, dtype=torch.float64)
    np.testing.assert_allclose(pooled_error(rows).numpy(), rows.mean(1).numpy())
    signal = torch.zeros(1, 1, 1, 9, dtype=torch.float64)
    signal[..., 4] = 3.0
    assert pooled_error(signal, 3, 3 / 9).item() == pytest.approx(1.0)


def test_image_statistics():
    z = torch.tensor([[[[1.0, 3.0]], [[2.0, 2.0]]]])  # (1, 2, 1, 2)
    np.testing.assert_allclose(image_statistics(z).numpy(), [[2.0, 2.0, 1.0, 0.0]])


# -- kNN ----
def test_knn_distance_matches_brute_force():
    rng = np.random.RandomState(0)
    ref, q = rng.randn(50, 4), rng.randn(7, 4)
    got = knn_distance(torch.from_numpy(q), torch.from_numpy(ref), 3).numpy()
    d = np.sqrt(((q[:, None] - ref[None]) ** 2).sum(-1))
    np.testing.assert_allclose(got, np.sort(d, 1)[:, :3].mean(1), rtol=1e-6)


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


# -- calibration ----
def test_calibration_is_scale_free_and_about_standard_normal():
    costs = np.exp(np.random.RandomState(0).randn(5000))
    t = Calibration.fit(costs).transform(torch.from_numpy(costs)).numpy()
    t_scaled = Calibration.fit(costs * 1e6).transform(torch.from_numpy(costs * 1e6))
    np.testing.assert_allclose(t, t_scaled.numpy(), atol=1e-6)
    assert np.median(t) == pytest.approx(0, abs=0.05)
    assert np.subtract(*np.percentile(t, [75, 25])) == pytest.approx(1.349, rel=0.05)


@pytest.mark.parametrize(
    "costs", [np.zeros(10), np.full(10, 3.0), np.array([0.0, 5.0])]
)
def test_calibration_of_degenerate_costs_is_finite(costs):
    cal = Calibration.fit(costs)
    assert cal.spread > 0
    assert np.isfinite(cal.transform(torch.from_numpy(np.r_[costs, 1e3])).numpy()).all()


# -- the score model ----
def _outputs(mse, codes, stats):
    n = len(mse)
    return (
        np.asarray(mse, float),
        np.asarray(mse, float),
        np.asarray(codes, np.float32),
        np.asarray(stats, float).reshape(n, -1),
    )


def _fitted(score_type, rng):
    """A score model fitted on 200 normal samples (codes, stats ~ N(0, 1))."""
    model = ScoreModel(score_type, SCORE_TERMS[score_type], n_neighbors=5)
    normal = _outputs(rng.gamma(4, 0.25, 200), rng.randn(200, 3), rng.randn(200, 2))
    model.fit_references(normal)
    model.calibrate(
        model.raw_terms(
            _outputs(rng.gamma(4, 0.25, 200), rng.randn(200, 3), rng.randn(200, 2))
        )
    )
    return model


def test_each_term_flags_what_it_measures_and_hybrid_flags_both():
    rng = np.random.RandomState(0)
    typical = _outputs([1.0] * 3, np.zeros((3, 3)), np.zeros((3, 2)))
    bad_recon = _outputs([50.0] * 3, np.zeros((3, 3)), np.zeros((3, 2)))
    rare_code = _outputs([1.0] * 3, np.full((3, 3), 8.0), np.zeros((3, 2)))
    rare_stats = _outputs([1.0] * 3, np.zeros((3, 3)), np.full((3, 2), 8.0))
    costs = {}
    for score_type in SCORE_TERMS:
        model = _fitted(score_type, rng)
        costs[score_type] = {
            name: model.costs(outputs).mean()
            for name, outputs in [
                ("typical", typical),
                ("recon", bad_recon),
                ("code", rare_code),
                ("stats", rare_stats),
            ]
        }
    rec, lat, hyb = (costs[k] for k in ("reconstruction", "latent", "hybrid"))
    assert rec["recon"] > 10 * rec["typical"] and rec["code"] == rec["typical"]
    assert lat["code"] > 5 * lat["typical"] and lat["recon"] == lat["typical"]
    assert hyb["typical"] < 0.5
    assert min(hyb["recon"], hyb["code"], hyb["stats"]) > 2.0


def test_hybrid_is_zero_for_samples_typical_in_every_respect():
    model = _fitted("hybrid", np.random.RandomState(0))
    model.calibrations = {name: Calibration(10.0, 1.0) for name in model.terms}
    assert model.costs(_outputs([1.0], np.zeros((1, 3)), np.zeros((1, 2))))[0] == 0


def test_config_round_trip_and_checks():
    model = _fitted("hybrid", np.random.RandomState(0))
    again = ScoreModel.from_config(
        model.config(), model.arrays, latent_dim=3, n_channels=1
    )
    outputs = _outputs([1.0, 9.0], np.ones((2, 3)), np.ones((2, 2)))
    np.testing.assert_array_equal(again.costs(outputs), model.costs(outputs))
    with pytest.raises(ValueError, match="do not match the terms"):
        ScoreModel.from_config(model.config(), {}, latent_dim=3, n_channels=1)
    with pytest.raises(ValueError, match="shape"):
        ScoreModel.from_config(model.config(), model.arrays, latent_dim=4, n_channels=1)


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
def test_batched_inference_pads_chunks_and_drops_the_padding():
    sizes = []

    def fn(module, z):
        sizes.append(len(z))
        return z.flatten(1).sum(1, keepdim=True), z[:, :1, 0, 0]

    rows = np.arange(BLOCK_ROWS + 10, dtype=float).reshape(-1, 1, 1, 1)
    out, first = batched_inference(torch.nn.Identity(), rows, None, "cpu", fn)
    assert sizes == [BLOCK_ROWS, 64]  # the last chunk padded to 64 rows
    np.testing.assert_array_equal(out[:, 0], rows.ravel())
    assert out.shape == (BLOCK_ROWS + 10, 1) and first.shape == (BLOCK_ROWS + 10, 1)


def test_batched_inference_runs_in_eval_and_inference_mode():
    module = ConvAutoencoderModule((1, 4, 4), channels=(2,), noise_std=1.0)
    module.train()
    seen = []

    def fn(m, z):
        seen.append((m.training, torch.is_inference_mode_enabled()))
        return m(z)

    rows = np.zeros((3, 1, 4, 4))
    standardizer = Standardizer(np.zeros(1), np.ones(1), np.zeros(1), np.ones(1))
    a = batched_inference(module, rows, standardizer, "cpu", fn)
    b = batched_inference(module, rows, standardizer, "cpu", fn)
    assert seen == [(False, True), (False, True)]
    np.testing.assert_array_equal(a, b)  # no denoising noise in eval mode


def test_scores_do_not_depend_on_batching_or_order(fitted, digits):
    X = digits[0][:700]  # several chunks
    full = fitted.score_samples(X)
    perm = np.random.RandomState(1).permutation(len(X))
    np.testing.assert_array_equal(fitted.score_samples(X[perm]), full[perm])
    singles = np.concatenate([fitted.score_samples(X[i : i + 1]) for i in range(20)])
    np.testing.assert_array_equal(singles, full[:20])
