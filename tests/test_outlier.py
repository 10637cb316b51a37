"""skcae._outlier: the outlier contract, thresholds and scoring parameters."""

import warnings

import joblib
import numpy as np
import pytest
import torch
from scipy.stats import norm
from scipy.stats import t as student_t
from sklearn.base import clone
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV

from skcae import (
    AutoencoderOutlierDetector,
    ConvAutoencoderOutlierDetector,
    _outlier,
    _scorer,
)


# -- the contract, side by side with IsolationForest ----
@pytest.mark.parametrize("score_type", ["hybrid", "reconstruction", "latent"])
def test_contract_matches_isolation_forest(digits, tiny, score_type):
    X = digits[0][:150]
    det = ConvAutoencoderOutlierDetector(
        image_shape=(8, 8), contamination=0.1, score_type=score_type, **tiny
    )
    iso = IsolationForest(contamination=0.1, random_state=0)
    for est in (det, iso):
        assert est.fit(X) is est
        labels = est.predict(X)
        assert labels.dtype.kind == "i" and set(np.unique(labels)) == {-1, 1}
        scores, decision = est.score_samples(X), est.decision_function(X)
        assert scores.dtype == np.float64 and scores.shape == (150,)
        np.testing.assert_allclose(decision, scores - est.offset_)
        np.testing.assert_array_equal(labels, np.where(decision < 0, -1, 1))
        assert np.mean(labels == -1) == pytest.approx(0.1, abs=0.01)
        np.testing.assert_array_equal(clone(est).fit_predict(X), labels)


def test_score_types_are_what_they_say(fitted_mse, digits):
    X = digits[0][:50]
    module = fitted_mse.net_.module_
    z = (X - fitted_mse.center_) / fitted_mse.scale_
    with torch.no_grad():
        zt = torch.as_tensor(z, dtype=torch.float32).view(-1, 1, 8, 8)
        mse = ((module(zt) - zt) ** 2).flatten(1).mean(1).numpy()
    mse = mse * fitted_mse.scale_[0] ** 2  # back to the squared units of X
    np.testing.assert_allclose(fitted_mse.score_samples(X), -mse, rtol=1e-5)
    maps = fitted_mse.anomaly_map(X)
    np.testing.assert_allclose(maps.mean(axis=(1, 2)), mse, rtol=1e-5)


def test_hybrid_scores_are_negative_and_typical_ones_near_minus_log_2(fitted, digits):
    """The hybrid cost is a weighted mean of -log P(N(0, 1) > t): positive,
    log 2 for a sample at the median of every term."""
    scores = fitted.score_samples(digits[0])
    assert np.all(scores < 0) and -1.5 < np.median(scores) < -0.2


# -- thresholds ----
def test_threshold_takes_precedence_over_contamination(fitted, digits):
    X = digits[0][:300]
    det = clone(fitted).set_params(threshold=5.0, contamination=0.3).fit(X)
    assert det.offset_ == -5.0
    np.testing.assert_array_equal(det.predict(X) == -1, -det.score_samples(X) > 5.0)


def test_auto_contamination_is_calibrated_on_held_out_samples(zeros, tiny):
    """Small X: out-of-fold scores of cross-fitted networks (not training scores)."""
    det = ConvAutoencoderOutlierDetector(**tiny).fit(zeros)
    assert det.validation_scores_.shape == (len(zeros),)
    # (the 1% rule of auto_offset, from fewer than 1,000 scores kept below
    # their normal prediction bound)
    assert det.offset_ == pytest.approx(_outlier.auto_offset(det.validation_scores_))
    # the training samples, scored by the network that saw them, look better:
    # none of those kept as references is flagged (of the 5% that "auto" left
    # out of them, which score as new samples do, some may be: with two
    # folds 3 of these 96, all among the 4 left out)
    flagged = det.predict(zeros) == -1
    assert np.mean(flagged) <= _outlier.AUTO_TRIM
    term = det.scorer_.terms["density"]
    images = torch.from_numpy(np.asarray(zeros, np.float64).reshape(-1, 1, 8, 8))
    with torch.inference_mode():
        mapped = term._map(term.reference_features(det.scorer_.features(images)))
        kept = torch.cdist(mapped, term.reference).min(1).values.numpy() < 1e-6
    assert 0 < len(zeros) - kept.sum() <= np.ceil(_outlier.AUTO_TRIM * len(zeros))
    assert not (flagged & kept).any()


def test_cross_fitting_trains_more_networks(zeros, tiny, count_trainings, trainings):
    ConvAutoencoderOutlierDetector(callbacks=[count_trainings()], **tiny).fit(zeros)
    assert trainings() == 1 + _outlier.CROSS_FIT_FOLDS
    assert count_trainings.n == 1  # user callbacks run on the kept network only


@pytest.mark.parametrize("n, held_out", [(300, 100), (1200, 120)])
def test_default_calibration_trains_one_network(digits, tiny, trainings, n, held_out):
    """From 300 samples on, calibration="auto" holds out 10% of X, at least
    100 rows (before: four networks at n=300, one at 1,200)."""
    X = digits[0][:n]
    det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), **tiny).fit(X)
    assert trainings() == 1
    assert det.validation_scores_.shape == (held_out,)
    assert "valid_loss" in det.history_


def test_calibration_parameter_chooses_holdout_or_cross_fitting(zeros, tiny, trainings):
    det = ConvAutoencoderOutlierDetector(calibration="holdout", **tiny).fit(zeros)
    assert trainings() == 1 and det.validation_scores_.shape == (48,)  # at most half
    det.set_params(calibration="cross_fit").fit(zeros)
    assert trainings() == 1 + 1 + _outlier.CROSS_FIT_FOLDS
    assert det.validation_scores_.shape == (len(zeros),)
    det.set_params(validation_fraction=0.2)
    with pytest.raises(ValueError, match="calibration='cross_fit' and validation_"):
        det.fit(zeros)


def test_user_validation_split_is_the_calibration_split(digits, tiny):
    X = digits[0][:300]
    det = ConvAutoencoderOutlierDetector(
        image_shape=(8, 8), validation_fraction=0.2, **tiny
    ).fit(X)
    assert det.validation_scores_.shape == (60,)


@pytest.mark.parametrize("rate", [0.01, 0.05, 0.1, 0.3])
def test_set_threshold_from_held_out_data(fitted, digits, rate):
    det = clone(fitted)
    det.__dict__.update(fitted.__dict__)  # a copy to change offset_ on
    held_out = digits[0][300:500]
    assert det.set_threshold_from(held_out, false_positive_rate=rate) is det
    flagged = det.predict(held_out) == -1
    assert flagged.sum() == int(np.floor(rate * len(held_out)))


def test_set_threshold_from_too_few_samples_warns(fitted, digits):
    """One held-out sample for a 1% rate: offset_ is its score, which half
    of new normal data fall below; the call says so (it once was silent)."""
    det = clone(fitted)
    det.__dict__.update(fitted.__dict__)
    with pytest.warns(UserWarning, match=r"got 1 normal sample.*the 100 that") as w:
        det.set_threshold_from(digits[0][300:301], false_positive_rate=0.01)
    assert w[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        det.set_threshold_from(digits[0][300:400], false_positive_rate=0.01)


@pytest.mark.parametrize("method", ["score_samples", "decision_function", "predict"])
def test_the_units_warning_names_the_callers_line(fitted, digits, method):
    """predict reached it through decision_function: the warning named
    skcae's own line (a hostile probe)."""
    call = getattr(fitted, method)
    with pytest.warns(UserWarning, match="in other units") as w:
        call(digits[0][:20] * 16)
    assert [r.filename for r in w] == [__file__]


def test_a_few_bright_images_are_outliers_not_other_units(fitted, digits):
    """One image at 100x among ten took the spread of all to 35x the
    training data's and was reported as the batch in other units (a hostile
    probe); most images that far off still are."""
    X = digits[0][300:320].copy()
    X[:1] *= 100
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = fitted.score_samples(X[:10])
    assert scores[0] < scores[1:].min()  # it scores as the outlier it is
    X[:12] *= 100
    with pytest.warns(UserWarning, match="in other units"):
        fitted.score_samples(X)


def test_images_that_differ_in_brightness_still_warn_in_other_units(tiny):
    """Images with little spread of their own (brightness varies between
    them) scaled 100x: each lies far from the training centre, though its
    own spread stays below ten training scales (a review: silent)."""
    rng = np.random.RandomState(0)
    X = rng.uniform(0, 200, (200, 1, 1)) + rng.normal(0, 3, (200, 8, 8))
    det = ConvAutoencoderOutlierDetector(**tiny).fit(X)
    for factor in (100, 0.01):
        with pytest.warns(UserWarning, match="in other units"):
            det.score_samples(X[:50] * factor)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        det.score_samples(X[50:100])


def test_fit_warnings_name_the_callers_line_through_a_pipeline(digits, tiny):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X = digits[0][:100].copy()
    X[3, 5] = 1e6
    det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), **tiny)
    for fit in (det.fit_predict, make_pipeline(FunctionTransformer(), det).fit):
        with pytest.warns(UserWarning, match="far outside the range") as w:
            fit(X)
        assert {r.filename for r in w} == {__file__}


def test_set_threshold_from_the_calibration_scores(fitted):
    det = clone(fitted)
    det.__dict__.update(fitted.__dict__)
    det.set_threshold_from(false_positive_rate=0.1)
    scores = det.validation_scores_
    assert np.sum(scores < det.offset_) == int(np.floor(0.1 * len(scores)))


@pytest.mark.parametrize("rate", [0.0, 1.0, -0.1, "0.1"])
def test_bad_false_positive_rate(fitted, rate):
    with pytest.raises(ValueError, match="false_positive_rate"):
        fitted.set_threshold_from(false_positive_rate=rate)


def test_false_positive_rate_near_one_flags_all_but_one(fitted_mse, digits):
    det = clone(fitted_mse)
    det.__dict__.update(fitted_mse.__dict__)
    held_out = digits[0][300:320]
    det.set_threshold_from(held_out, false_positive_rate=1 - 1e-12)
    assert np.sum(det.predict(held_out) == -1) == 19


def test_set_threshold_from_needs_a_fitted_detector():
    with pytest.raises(NotFittedError):
        ConvAutoencoderOutlierDetector().set_threshold_from(np.zeros((3, 4)))


# -- scoring parameters: frozen at fit, no retraining with memory ----
def test_changing_scoring_parameters_after_fit_changes_nothing(fitted, digits):
    """No stale thresholds: score and offset_ come from the same fit."""
    det = clone(fitted)
    det.__dict__.update(fitted.__dict__)
    X = digits[0][:300]
    before, offset = det.score_samples(X), det.offset_
    det.set_params(
        score_type="reconstruction", score_top_fraction=0.05, contamination=0.4
    )
    np.testing.assert_array_equal(det.score_samples(X), before)
    assert det.offset_ == offset


@pytest.mark.slow
def test_grid_over_scoring_parameters_does_not_retrain(
    digits, tiny, tmp_path, trainings
):
    X0, y = digits
    X = np.concatenate([X0[y == 0][:90], X0[y != 0][:10]])
    labels = np.r_[np.ones(90, int), -np.ones(10, int)]
    grid = {
        "score_type": ["hybrid", "reconstruction", "latent"],
        "n_neighbors": [3, 5],
    }

    def search(memory):
        before = trainings()
        det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), memory=memory, **tiny)
        cv = [
            (np.arange(0, 100, 2), np.arange(1, 100, 2)),
            (np.arange(1, 100, 2), np.arange(0, 100, 2)),
        ]
        result = GridSearchCV(det, grid, scoring="roc_auc", cv=cv).fit(X, labels)
        return result, trainings() - before

    plain, n_plain = search(None)
    cached, n_cached = search(str(tmp_path))
    per_fit = 1 + _outlier.CROSS_FIT_FOLDS
    assert n_plain == (2 * 6 + 1) * per_fit
    assert n_cached == (2 + 1) * per_fit  # once per split, then the refit
    np.testing.assert_array_equal(
        cached.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"]
    )
    assert np.isfinite(plain.cv_results_["mean_test_score"]).all()
    assert search(str(tmp_path))[1] == 0  # everything from the cache now


def test_float_contamination_retrains_without_the_most_outlying(
    digits, tiny, monkeypatch, retrains
):
    """contamination=c trains a second network on X without its most
    outlying share (2c: the whole margin, as X of 800 samples or more at
    c = 0.15 would get): most planted outliers stay out of it, and offset_
    is still the c quantile of the scores of all of X."""
    import skcae._base

    monkeypatch.setattr(_outlier, "widening", lambda rate, n: 1.0)

    X0, y = digits
    X = np.concatenate([X0[y == 0][:170], X0[y == 7][:30]]).astype(float)
    X_before = X.copy()
    seen = []
    original = skcae._base.train_network

    def recorded(spec, rows, statistics, indices=None, **kw):
        seen.append(np.asarray(rows if indices is None else rows[indices]))
        return original(spec, rows, statistics, indices, **kw)

    monkeypatch.setattr(skcae._base, "train_network", recorded)
    det = ConvAutoencoderOutlierDetector(
        image_shape=(8, 8), contamination=0.15, calibration="holdout", **tiny
    ).fit(X)
    np.testing.assert_array_equal(X, X_before)
    assert len(seen) == 2
    first, second = (s.reshape(len(s), -1) for s in seen)
    assert len(first) == 200 and len(second) == 200 - int(0.3 * 200)
    sevens = {row.tobytes() for row in X[170:]}
    kept_sevens = sum(row.tobytes() in sevens for row in second)
    assert kept_sevens < 10, f"{kept_sevens} of 30 planted 7s trained again"
    scores = det.score_samples(X)
    assert det.offset_ == pytest.approx(np.percentile(scores, 15.0))
    assert np.mean(det.predict(X) == -1) == pytest.approx(0.15, abs=0.01)
    # "auto" trains once: it names no share to drop
    auto = clone(det).set_params(contamination="auto")
    seen.clear()
    auto.fit(X)
    assert len(seen) == 1


def test_float_contamination_trains_again_only_for_many_outliers(
    digits, tiny, trainings, capsys
):
    """A rate that names fewer than RETRAIN_MIN_OUTLIERS outliers in X keeps
    the first network (its references still leave the share out); one
    that names more trains again, without c plus the margin (2c where the
    density term's neighbourhood widens fully)."""
    X = digits[0].reshape(-1, 8, 8)  # 1,797 images
    assert 0.1 * len(X) < _outlier.RETRAIN_MIN_OUTLIERS <= 0.15 * len(X)
    few = ConvAutoencoderOutlierDetector(contamination=0.1, verbose=1, **tiny).fit(X)
    assert trainings() == 1  # hold-out calibration from 300 samples on
    assert "0.1 names 179 outliers in X, fewer than 250" in capsys.readouterr().out
    assert np.mean(few.predict(X) == -1) == pytest.approx(0.1, abs=0.01)
    many = ConvAutoencoderOutlierDetector(contamination=0.15, verbose=1, **tiny).fit(X)
    assert trainings() == 3
    n_drop = int(0.3 * len(X))
    assert f"training again without the {n_drop} most outlying of 1797" in (
        capsys.readouterr().out
    )
    assert np.mean(many.predict(X) == -1) == pytest.approx(0.15, abs=0.01)


@pytest.mark.parametrize(
    "rate, n, share",
    [(0.1, 300, 0.1), (0.1, 399, 0.1), (0.1, 500, 0.125), (0.1, 1000, 0.2),
     (0.05, 600, 0.1), (0.05, 500, 0.075), (0.4, 10**5, 0.5), (0.001, 50, 0.05),
     (0.001, 420, 0.05), (0.01, 6000, 0.05), (0.02, 300, 0.05), (0.03, 10**5, 0.06),
     (0.1, 419, 0.1), (0.1, 420, 0.105)],
)  # fmt: skip
def test_float_contamination_trims_its_margin_as_the_neighbourhood_widens(
    rate, n, share
):
    """The share of X a rate drops: the rate, and the margin beyond it in
    the proportion that the density term can widen among X's samples (none
    below 420 of them); at most half, and at least the 5% that "auto"
    drops (a small rate is not less robust than the default). A score
    without the density term (one term, or the dense detector's) keeps the
    whole margin."""
    from skcae import AutoencoderOutlierDetector

    det = ConvAutoencoderOutlierDetector(contamination=rate)
    assert det._trimming(n) == (pytest.approx(share), _outlier.TRIM_ROUNDS)
    assert det._trimming(n)[0] >= ConvAutoencoderOutlierDetector()._trimming(n)[0]
    whole = max(min(2 * rate, 0.5), 0.05)
    for other in (
        det.set_params(score_type="reconstruction"),
        AutoencoderOutlierDetector(contamination=rate),
    ):
        assert other._trimming(n) == (pytest.approx(whole), _outlier.TRIM_ROUNDS)


@pytest.mark.parametrize(
    "rate, n, again", [(0.1, 2500, True), (0.1, 2499, False), (0.15, 1667, True)]
)
def test_float_contamination_trains_again_from_250_outliers_named(rate, n, again):
    assert ConvAutoencoderOutlierDetector(contamination=rate)._retrains(n) is again


def test_a_second_network_trims_by_the_size_of_x(digits, tiny, retrains):
    """700 samples at 10%: the second network trains on the 578 kept and
    holds out 83 of them; its references are the other 495 without 0.175 of
    them (X's margin, 0.75 of c), not without 0.14 (578's)."""
    det = ConvAutoencoderOutlierDetector(
        image_shape=(8, 8), contamination=0.1, **tiny
    ).fit(digits[0][:700])
    assert len(det.validation_scores_) == 83
    assert det.scorer_.terms["density"].reference.shape[0] == 495 - 86


def test_a_small_x_trims_the_rate_from_the_references(digits, tiny):
    """60 samples at 10%, held out by half: the first network's density
    references are the 30 training samples without 3 (c), not 6 (2c)."""
    det = ConvAutoencoderOutlierDetector(
        image_shape=(8, 8), contamination=0.1, calibration="holdout", **tiny
    ).fit(digits[0][:60])
    assert len(det.validation_scores_) == 30
    assert det.scorer_.terms["density"].reference.shape[0] == 27


@pytest.mark.parametrize("n, params", [(2, {}), (4, {"validation_fraction": 0.2})])
def test_float_contamination_fits_whatever_data_fit_before(digits, tiny, n, params):
    """Too few samples for a second training: the first one is the model."""
    det = ConvAutoencoderOutlierDetector(
        image_shape=(8, 8), contamination=0.5, **{**tiny, **params}
    ).fit(digits[0][:n])
    assert np.isfinite(det.score_samples(digits[0][:n])).all()


def test_float_contamination_keeps_the_calibration_of_x_size(
    digits, tiny, trainings, retrains
):
    """X's 320 samples call for a hold-out calibration (one network per
    training); the second training keeps it, though it sees only 288 (fewer
    than 300, where cross-fitting would begin)."""
    det = ConvAutoencoderOutlierDetector(
        image_shape=(8, 8), contamination=0.1, **tiny
    ).fit(digits[0][:320])
    assert trainings() == 2
    assert len(det.validation_scores_) == int(round(288 * 0.3125))


def test_float_contamination_warns_of_clipped_values_once(
    digits, tiny, trainings, retrains
):
    """Both trainings clip X's absurd values; the user hears of it once."""
    X = digits[0][:60].astype(float)
    X[:4, 10] = 1e30  # more than the 3 samples (5% of 60) the second drops
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ConvAutoencoderOutlierDetector(
            image_shape=(8, 8), contamination=0.02, calibration="holdout", **tiny
        ).fit(X)
    assert trainings() == 2
    clipped = [w for w in caught if "far outside the range" in str(w.message)]
    assert len(clipped) == 1, [str(w.message) for w in caught]


def test_overlapping_float_contamination_fits_leave_the_warning_filters_alone(
    digits, tiny, retrains
):
    """Two fits in threads, interleaved inside their second trainings (A
    enters, B enters, A leaves, B leaves): no warnings filter is left behind
    and a later fit still warns of its clipped values. A
    ``warnings.catch_warnings`` block around the second training would leak
    its "ignore" filter here."""
    import threading

    from skorch.callbacks import Callback

    X = digits[0][:60].astype(float)
    local, barrier, a_done = threading.local(), threading.Barrier(2), threading.Event()

    class Interleave(Callback):
        def on_train_begin(self, net, **kwargs):
            local.n = getattr(local, "n", 0) + 1
            if local.n == 2:  # the second training of this thread's fit
                barrier.wait(timeout=60)
                if threading.current_thread().name == "B":
                    a_done.wait(timeout=60)

    def fit():
        ConvAutoencoderOutlierDetector(
            image_shape=(8, 8),
            contamination=0.1,
            calibration="holdout",
            callbacks=[Interleave()],
            **tiny,
        ).fit(X)
        if threading.current_thread().name == "A":
            a_done.set()

    threads = [threading.Thread(target=fit, name=name) for name in "AB"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    # (lazy imports in the threads may add filters of their own)
    assert not [f for f in warnings.filters if "far outside" in str(f[1])]
    bad = X.copy()
    bad[0, 10] = 1e30
    with pytest.warns(UserWarning, match="far outside the range"):
        ConvAutoencoderOutlierDetector(image_shape=(8, 8), **tiny).fit(bad)


def test_float_contamination_drops_the_share_it_names(
    digits, tiny, monkeypatch, retrains
):
    """0.29 of 100 rows is 29 (0.29 * 100 is 28.999999999999996)."""
    import skcae._base

    lengths = []
    original = skcae._base.train_network

    def recorded(spec, rows, statistics, indices=None, **kw):
        lengths.append(len(rows))  # X, then the kept rows
        return original(spec, rows, statistics, indices, **kw)

    monkeypatch.setattr(skcae._base, "train_network", recorded)
    ConvAutoencoderOutlierDetector(
        image_shape=(8, 8), contamination=0.29, validation_fraction=0.2, **tiny
    ).fit(digits[0][:100])
    assert lengths == [100, 71]


def test_float_contamination_keeps_the_first_network_when_the_second_cannot_score(
    digits, tiny_dense, retrains
):
    """Without its outliers X's scale has no float64 square: the second
    network could not report squared errors, so the first one stays."""
    from skcae import AutoencoderOutlierDetector

    X = np.concatenate([digits[0][:90] * 1e-300, digits[0][90:100]])
    kw = dict(tiny_dense, score_type="reconstruction")
    det = AutoencoderOutlierDetector(**kw, contamination=0.1).fit(X)
    scores = det.score_samples(X)
    assert np.isfinite(scores).all()
    assert np.mean(det.predict(X) == -1) == pytest.approx(0.1, abs=0.02)


def test_float_contamination_says_so_when_verbose(digits, tiny, capsys, retrains):
    ConvAutoencoderOutlierDetector(
        image_shape=(8, 8), contamination=0.1, verbose=1, **tiny
    ).fit(digits[0][:60])
    out = capsys.readouterr().out
    assert "training again without the 6 most outlying of 60" in out
    ConvAutoencoderOutlierDetector(
        image_shape=(8, 8), contamination=0.5, verbose=1, **tiny
    ).fit(digits[0][:2])
    assert "too few to train again" in capsys.readouterr().out
    # plenty of samples, but a hold-out that rounds to none of them
    ConvAutoencoderOutlierDetector(
        image_shape=(8, 8),
        contamination=0.5,
        validation_fraction=0.001,
        verbose=1,
        **tiny,
    ).fit(digits[0][:1000])
    out = capsys.readouterr().out
    assert "validation_fraction=0.001 of the 500 samples left holds out none" in out
    assert "too few" not in out


def test_float_contamination_with_the_defaults_as_a_user_meets_them(
    all_zeros, trainings, capsys
):
    """Every default (batch_size and max_epochs "auto", cross-fitted
    calibration below 300 images) with verbose=1: 178 images at 10% name
    18 outliers, too few to train again: one training of three networks,
    the line that says so, and the share flagged of X."""
    det = ConvAutoencoderOutlierDetector(
        contamination=0.1, random_state=0, verbose=1
    ).fit(all_zeros)
    assert trainings() == 1 + _outlier.CROSS_FIT_FOLDS
    out = capsys.readouterr().out
    n_drop = int(0.1 * len(all_zeros))  # c: below 400 samples, no margin
    assert f"names {n_drop} outliers in X, fewer than 250" in out
    kept = "the first network is kept, its references without their most outlying 0.1"
    assert kept in out and "training again" not in out
    scores = det.score_samples(all_zeros)
    assert np.isfinite(scores).all()
    assert np.mean(det.predict(all_zeros) == -1) == pytest.approx(0.1, abs=0.01)
    # the default score's density term looks at 40 neighbours at a 10% rate
    assert det.scorer_.terms["density"].n_neighbors == 40


def test_the_hold_out_is_validated_in_one_batch_with_the_defaults(digits):
    """From 300 images on, the default holds out a tenth (at least 100
    rows) and records its loss each epoch: in one batch of up to 256 rows,
    not in training batches of 16."""
    X = digits[0][:320].reshape(-1, 8, 8)
    det = ConvAutoencoderOutlierDetector(random_state=0).fit(X)
    history = det.net_.history
    assert det.net_.batch_size == 16  # 220 training rows: the smallest batch
    for epoch in history:
        valid = [
            b["valid_batch_size"] for b in epoch["batches"] if "valid_batch_size" in b
        ]
        assert valid == [100]  # the 100 held-out rows, in one batch
        assert np.isfinite(epoch["valid_loss"])
    np.testing.assert_array_equal(det.history_["valid_loss"], history[:, "valid_loss"])


def test_float_contamination_on_a_memmap_matches_the_array(
    digits, tiny, tmp_path, monkeypatch, retrains
):
    """The second training reads a memory-mapped X lazily (a subset as large
    as the data is not copied) and learns what it learns from the array."""
    import skcae._base

    original, given = skcae._base.train_network, []

    def recorded(spec, rows, *args, **kw):
        given.append(rows)
        return original(spec, rows, *args, **kw)

    monkeypatch.setattr(skcae._base, "train_network", recorded)
    X0, y = digits
    X = np.concatenate([X0[y == 0][:120], X0[y == 7][:15]]).astype(np.float32)
    path = tmp_path / "x.npy"
    np.save(path, X)
    mapped = np.load(path, mmap_mode="r")
    kw = dict(image_shape=(8, 8), contamination=0.1, **tiny)
    on_array = ConvAutoencoderOutlierDetector(**kw).fit(X)
    on_memmap = ConvAutoencoderOutlierDetector(**kw).fit(mapped)
    np.testing.assert_allclose(
        on_memmap.score_samples(X), on_array.score_samples(X), rtol=1e-6
    )
    assert on_memmap.offset_ == pytest.approx(on_array.offset_, rel=1e-6)
    second = given[-1]  # the memmap's second training
    assert not isinstance(second, np.ndarray) and len(second) == 135 - 13


def test_memory_retrains_when_the_network_changes(zeros, tiny, tmp_path, trainings):
    memory = joblib.Memory(tmp_path, verbose=0)
    det = ConvAutoencoderOutlierDetector(
        memory=memory, score_type="reconstruction", **tiny
    )
    per_fit = 1 + _outlier.CROSS_FIT_FOLDS
    reference = det.fit(zeros).score_samples(zeros)
    det.set_params(threshold=2.0, n_neighbors=3).fit(zeros)
    np.testing.assert_array_equal(det.score_samples(zeros), reference)
    assert trainings() == per_fit
    for params in ({"latent_dim": 3}, {"noise_std": 0.1}, {"random_state": 1}):
        clone(det).set_params(**params).fit(zeros)
    clone(det).fit(zeros[:-1])  # other data
    assert trainings() == 5 * per_fit


# -- answers are never silently wrong ----
def test_nan_network_raises_instead_of_predicting(fitted, digits):
    import copy

    det = copy.deepcopy(fitted)
    assert det.scorer_.network is det.net_.module_  # one network
    with torch.no_grad():
        det.net_.module_.decoder_conv[-1].bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="not finite"):
        det.predict(digits[0][:5])


def test_absurd_values_are_outliers_with_finite_scores(fitted, digits):
    X = digits[0][:5].copy()
    X[0, :] = 1e300
    X[1, 10] = 1e38
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the range warning
        scores = fitted.score_samples(X)
        labels = fitted.predict(X)
    assert np.isfinite(scores).all()
    assert labels[0] == -1 and labels[1] == -1


def test_data_in_other_units_warns(fitted, digits):
    with pytest.warns(UserWarning, match="other units"):
        fitted.score_samples(digits[0][:50] / 16.0)  # fitted on 0-16, now 0-1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted.score_samples(digits[0][300:350])  # same units: silent
        corrupt = digits[0][300:500].copy()
        corrupt[7, 27] = 1e4  # one bad pixel: an outlier, not other units
        assert np.argmin(fitted.score_samples(corrupt)) == 7


def test_precision_far_from_zero(tiny):
    """float64 data at 1e9 + N(0, 1) keep their digits (standardised in float64)."""
    rng = np.random.RandomState(0)
    normal = 1e9 + rng.randn(200, 1, 4, 4)
    outliers = 1e9 + 4 * rng.randn(50, 1, 4, 4)
    det = ConvAutoencoderOutlierDetector(score_type="reconstruction", **tiny)
    det.fit(normal[:150])
    scores = det.score_samples(np.r_[normal[150:], outliers])
    auroc = roc_auc_score(np.r_[np.ones(50), np.zeros(50)], scores)
    assert auroc > 0.95


@pytest.mark.parametrize("scale", [1e-20, 1e19])
def test_tiny_and_huge_units(tiny, scale):
    rng = np.random.RandomState(0)
    X = scale * rng.rand(120, 1, 4, 4)
    det = ConvAutoencoderOutlierDetector(score_type="reconstruction", **tiny).fit(X)
    scores = det.score_samples(X)
    assert np.isfinite(scores).all() and np.ptp(scores) > 0


def test_dense_detector_shares_the_contract(fitted_dense, digits):
    X = digits[0][:300]
    np.testing.assert_allclose(
        fitted_dense.decision_function(X),
        fitted_dense.score_samples(X) - fitted_dense.offset_,
    )
    assert set(np.unique(fitted_dense.predict(X))) <= {-1, 1}
    assert isinstance(fitted_dense, AutoencoderOutlierDetector)


def test_fit_predict_doc_is_skcae_s(fitted):
    assert "Added in version" not in type(fitted).fit_predict.__doc__


def test_ten_training_images_give_sane_scores(all_zeros, digits):
    """Few codes: whitening is shrunk and calibrations have a floor, so the
    scores stay of order one (not 1e15) and still rank outliers lower."""
    det = ConvAutoencoderOutlierDetector(random_state=0).fit(all_zeros[:10])
    X, y = digits
    scores = det.score_samples(
        np.r_[all_zeros[100:], X[y != 0][:200].reshape(-1, 8, 8)]
    )
    labels = np.r_[np.ones(78), np.zeros(200)]
    assert np.abs(scores).max() < 1e3 and abs(det.offset_) < 1e3
    assert roc_auc_score(labels, scores) > 0.9


def test_fit_predict_passes_keywords_to_fit(digits, tiny):
    # IsolationForest's fit_predict hands them to fit; fit takes none here,
    # so sample_weight is refused, never dropped
    det = ConvAutoencoderOutlierDetector(**tiny)
    with pytest.raises(TypeError, match="sample_weight"):
        det.fit_predict(digits[0][:40], sample_weight=np.ones(40))
    assert not hasattr(det, "offset_")


def test_auto_offset_of_many_scores_is_their_one_percent_quantile():
    scores = np.random.RandomState(0).randn(5000)
    assert _outlier.auto_offset(scores) == np.percentile(scores, 1)


@pytest.mark.parametrize("n", [10, 20, 50])
def test_auto_offset_of_few_scores_extrapolates(n):
    """The 1% quantile of a few scores is about their minimum, which flags
    about 1 / (n + 1) of new samples; the normal prediction bound flags 1%
    of them on average (normal scores: the rate is exact, norm.cdf)."""
    rng = np.random.RandomState(0)
    offsets = [_outlier.auto_offset(rng.randn(n)) for _ in range(2000)]
    assert np.mean(norm.cdf(offsets)) == pytest.approx(0.01, abs=0.0015)
    minimum = [np.percentile(rng.randn(n), 1) for _ in range(2000)]
    assert np.mean(norm.cdf(minimum)) > 0.015  # what the quantile alone gave


def test_auto_offset_of_equal_scores_is_that_score():
    assert _outlier.auto_offset(np.zeros(30)) == 0.0


def test_auto_offset_leaves_out_absurd_scores():
    """A corrupt training sample's calibration score (-3,400 among scores
    of order one) does not move the threshold; costs of about t ** 2 / 2,
    as the hybrid score's evidence gives, keep all of theirs."""
    costs = np.random.RandomState(0).randn(150) ** 2 / 2
    clean = -costs
    assert _outlier.auto_offset(np.r_[clean, -3400.0]) == _outlier.auto_offset(clean)
    assert _outlier.auto_offset(np.r_[-3400.0, clean[:29]]) == _outlier.auto_offset(
        clean[:29]
    )
    # the fence leaves every clean score in: the same threshold as without it
    n = len(clean)
    bound = clean.mean() - student_t.ppf(0.99, n - 1) * clean.std(ddof=1) * np.sqrt(
        1 + 1 / n
    )
    assert _outlier.auto_offset(clean) == min(np.percentile(clean, 1), bound)


def test_auto_offset_keeps_normal_scores_beside_many_near_ties():
    """Most calibration scores nearly tied (blank frames, 80% of a probe's
    200) once made the fence so narrow that every other normal score was
    left out, and the threshold was the blanks' own score: a fifth of new
    normal frames flagged. An absurd score is still left out."""
    rng = np.random.RandomState(0)
    blanks = -((0.752 + 0.002 * rng.rand(160)) ** 2)
    frames = -((1.9 + 2.0 * rng.rand(40)) ** 2)
    scores = np.r_[blanks, frames]
    assert np.mean(frames < _outlier.auto_offset(scores)) <= 0.05  # was all
    assert _outlier.auto_offset(scores) == _outlier.auto_offset(np.r_[scores, -3400.0])


def test_default_detector_on_mostly_blank_frames_flags_few_normal_ones():
    """The probe's case as users meet it, default parameters: 200 frames,
    80% blank and the rest with a small bright blob. The cross-fitted
    calibration scores of the blanks nearly tied, the fence left out every
    blob frame's, and "auto" flagged every blob frame: a fifth of new
    normal frames (0.0% since)."""
    rng = np.random.RandomState(0)

    def frames(n):
        X = np.zeros((n, 8, 8), np.uint8)
        for i in np.flatnonzero(rng.rand(n) < 0.2):
            r, c = rng.randint(0, 6, 2)
            X[i, r : r + 2, c : c + 2] = 200 + rng.randint(0, 56)
        return X

    X, X_new = frames(200), frames(400)
    det = ConvAutoencoderOutlierDetector(random_state=0).fit(X)
    assert np.mean(det.predict(X_new) == -1) <= 0.02  # was 0.20


def _fits_with_one_corrupt_value(detector, train, where):
    """``(dirty, clean)``: clones of ``detector`` fitted on ``train`` with
    the value at ``where`` set to 1e6, and on ``train`` itself."""
    corrupt = train.copy()
    corrupt[where] = 1e6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the clipping warning
        dirty = clone(detector).fit(corrupt)
    return dirty, clone(detector).fit(train)


def test_auto_threshold_survives_one_corrupt_training_image(digits, tiny):
    """As a hostile probe found it: one pixel at 1e6 in one of 150 training
    images (clipped for the training, not for scoring) scored far below
    every other out-of-fold score and took the threshold with it, so
    predict flagged none of the other digits."""
    X, y = digits
    others = X[y != 7][:300]
    dirty, clean = _fits_with_one_corrupt_value(
        ConvAutoencoderOutlierDetector(**tiny), X[y == 7][:150], (5, 10)
    )
    assert dirty.validation_scores_.min() < 100 * clean.validation_scores_.min()
    assert dirty.offset_ > 2 * clean.offset_  # (both negative)
    flagged = np.mean(dirty.predict(others) == -1)
    assert flagged > 0.5 * np.mean(clean.predict(others) == -1) > 0


def test_default_detector_survives_one_corrupt_training_image(digits):
    """The probe's case as users meet it, default parameters: three networks
    (cross-fitted calibration below 300 images), 160 steps each."""
    X, y = digits
    dirty, clean = _fits_with_one_corrupt_value(
        ConvAutoencoderOutlierDetector(image_shape=(8, 8), random_state=1),
        X[y == 7][:150],
        (5, 10),
    )
    others = X[y != 7][:300]
    assert dirty.offset_ > 2 * clean.offset_  # was -679 against -5.3
    assert np.mean(dirty.predict(others) == -1) > 0.9  # was 0.0


def test_auto_threshold_of_the_tabular_detector_survives_one_corrupt_value(
    tiny_dense,
):
    """The same for rows: one value mistyped as 1e6 among 200 benign rows of
    the breast cancer data took the malignant rows flagged from 61% to 0%
    (a hostile probe)."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    dirty, clean = _fits_with_one_corrupt_value(
        AutoencoderOutlierDetector(**tiny_dense), X[y == 1][:200], (3, 2)
    )
    assert dirty.validation_scores_.min() < 5 * clean.validation_scores_.min()
    assert dirty.offset_ > 1.5 * clean.offset_  # (both negative)
    assert np.mean(dirty.predict(X[y == 0]) == -1) > 0.2


def test_auto_offset_of_many_scores_keeps_a_far_one():
    """From 1,000 scores on, one absurd score cannot move the 1% quantile
    far; nothing is left out (heavy tails there are data, not accidents)."""
    scores = np.r_[np.random.RandomState(0).randn(2000), -3400.0]
    assert _outlier.auto_offset(scores) == np.percentile(scores, 1)


def test_default_detector_on_thirty_images_extrapolates_its_threshold(digits):
    """As users meet it: 30 images, contamination="auto", cross-fitted
    calibration scores, and a threshold no higher than their 1% quantile."""
    X, y = digits
    det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), random_state=0)
    det.fit(X[y == 3][:30])
    calibration = det.validation_scores_
    assert len(calibration) == 30
    assert det.offset_ == _outlier.auto_offset(calibration)
    assert det.offset_ <= np.percentile(calibration, 1)
    assert np.mean(det.predict(X[y == 3][30:]) == -1) < 0.1


def test_fit_warns_of_samples_in_other_units(digits, tiny):
    """A tenth of the images in 0-255 among images in 0-1 (a hostile probe:
    no warning, and a detector that flagged none of another digit): fit
    names how many and one of them; data in one unit, whatever it is, and
    data of one kind with a few dim images raise no such warning."""
    X, y = digits
    ones = X[y == 1][:120] / 16.0
    mixed = ones.copy()
    mixed[[5, 17, 30, 41, 50, 66, 70, 88, 95, 101, 110, 119]] *= 255
    det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), **tiny)
    with pytest.warns(UserWarning, match=r"12 of 120 samples of X \(e.g. sample 5,"):
        det.fit(mixed)
    # half the images in each unit put the median between them, and half of
    # them blank made it 0: neither warned (a probe, a review)
    half = ones * 255
    half[:60] /= 255
    with pytest.warns(UserWarning, match=r"60 of 120 samples of X"):
        det.fit(half)
    blank = ones.copy()
    blank[:60] = 0.0
    blank[[70, 90, 110]] *= 255
    with pytest.warns(UserWarning, match=r"3 of 120 samples of X \(e.g. sample 70,"):
        det.fit(blank)
    dim = ones.copy()
    dim[:10] /= 40  # faint images of one kind: below the typical one, no gap
    for X_one_unit in (ones, ones * 255, dim):
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*samples of X")
            det.fit(X_one_unit)
    # data near the float64 maximum: numpy's median of two such values, and
    # ten times the largest of the typical samples, overflowed with a
    # RuntimeWarning of their own (a probe, a review)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.filterwarnings("error", message=".*samples of X")
        det.fit(ones * (1e308 / ones.max()))
    spread = ones[:30] / ones[:30].max(axis=1, keepdims=True)
    spread *= np.r_[np.full(20, 1e306), np.full(6, 2e307), np.full(4, 1.5e308)][:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.filterwarnings("error", message=".*samples of X")
        det.fit(spread)


@pytest.mark.parametrize("n, expected", [(120, 20), (1797, 40)])
def test_a_float_contamination_widens_the_density_term_within_its_references(
    digits, tiny, n, expected
):
    """contamination=0.1 asks for 40 neighbours; among ~100 references the
    density term takes at most a twentieth of them (and never fewer than
    20): 40 would span a whole kind of normal there."""
    X, y = digits
    det = ConvAutoencoderOutlierDetector(
        image_shape=(8, 8), contamination=0.1, **tiny
    ).fit(X[:n])
    term = det.scorer_.terms["density"]
    m = len(term.reference)
    assert term.n_neighbors == 40
    assert term.neighbors() == expected == min(40, max(20, m // 20))


@pytest.mark.parametrize(
    "contamination, defaults", [("auto", False), (0.1, False), ("auto", True)]
)
def test_many_references_rank_and_calibrate_on_a_subset(
    digits, tiny, monkeypatch, contamination, defaults
):
    """Beyond FIT_SUBSET references a trimming round ranks every sample
    against FIT_SUBSET of them and the terms are calibrated on FIT_SUBSET
    of theirs, so fitting grows with n, not n ** 2; the references are still
    every sample kept, and the fit stays reproducible (also with the
    default network and schedule)."""
    X = digits[0][:600]
    settings = dict(random_state=0) if defaults else tiny
    params = dict(image_shape=(8, 8), contamination=contamination, **settings)
    fitted_terms = []
    original = _scorer.Scorer.fit_terms

    def record(self, values, rows=None):
        fitted_terms.append({k: (len(v), rows) for k, v in values.items()})
        return original(self, values, rows)

    monkeypatch.setattr(_scorer.Scorer, "fit_terms", record)
    full = ConvAutoencoderOutlierDetector(**params).fit(X)
    n_references = len(full.scorer_.terms["density"].reference)
    monkeypatch.setattr(_outlier, "FIT_SUBSET", 100)
    fitted_terms.clear()
    det = ConvAutoencoderOutlierDetector(**params).fit(X)
    auto = contamination == "auto"
    rounds = _outlier.AUTO_TRIM_ROUNDS if auto else _outlier.TRIM_ROUNDS
    *ranking, last = fitted_terms[-(rounds + 1) :]  # the kept network's
    assert len(ranking) == rounds
    for round_ in ranking:  # ranked against 100 references
        assert {m for m, _ in round_.values()} == {100}
    # the last round: every sample kept, 100 of them calibrated; the
    # untrimmed "range" term every sample, trimmed ones too, all calibrated
    kept = {k: v for k, v in last.items() if k != "range"}
    assert {m for m, _ in kept.values()} == {n_references}
    assert {len(rows) for _, rows in kept.values()} == {100}
    assert last["range"][0] == len(X) - len(det.validation_scores_) > n_references
    # asked for 100 rows' costs, like the others: fit_terms gives it all of
    # them (test_the_range_term_takes_every_training_image_trimmed_ones_too)
    assert len(last["range"][1]) == 100
    for name, term in det.scorer_.terms.items():
        if "reference" in term.reference_buffers:
            assert len(term.reference) == n_references
    again = ConvAutoencoderOutlierDetector(**params).fit(X)
    scores = det.score_samples(digits[0])
    np.testing.assert_array_equal(scores, again.score_samples(digits[0]))
    assert det.offset_ == again.offset_ and np.isfinite(scores).all()
    if auto:  # the same ranking, up to the calibration's sampling (a float
        # rate trims twice as many, in two rounds each ranked against 100
        # references: its kept references differ more; correlation 0.92)
        full_scores = full.score_samples(digits[0])
        assert np.corrcoef(scores, full_scores)[0, 1] > 0.95
