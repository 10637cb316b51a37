"""skcae.callbacks: the ReconstructionMonitor."""

import numpy as np
import pytest
from _settings import TINY as _TINY

from skcae import AutoencoderOutlierDetector, ConvAutoencoderOutlierDetector
from skcae.callbacks import ReconstructionMonitor

TINY = {k: v for k, v in _TINY.items() if k not in ("max_epochs", "batch_size")}


@pytest.fixture(scope="module")
def sets(digits):
    """Training 0s (flat), held-out 0s (flat) and other digits (as 8x8 images)."""
    X, y = digits
    zeros, others = X[y == 0], X[y != 0]
    return zeros[20:], zeros[:20], others[:20].reshape(-1, 8, 8)


@pytest.fixture(scope="module")
def monitor(sets):
    _, inliers, outliers = sets
    return ReconstructionMonitor(inliers, outliers)


@pytest.fixture(scope="module")
def monitored(sets, monitor):
    """A reconstruction-score detector fitted with the monitor for 3 epochs."""
    train, _, _ = sets
    return ConvAutoencoderOutlierDetector(
        image_shape=(8, 8),
        score_type="reconstruction",
        max_epochs=3,
        callbacks=[monitor],
        **TINY,
    ).fit(train)


def test_records_one_inlier_and_one_outlier_cost_per_epoch(monitored, monitor):
    history = monitored.net_.history
    inlier, outlier = history[:, "inlier_cost"], history[:, "outlier_cost"]
    assert len(inlier) == len(outlier) == monitored.n_iter_ == 3
    assert len(set(inlier)) == 3  # a new value every epoch
    assert all(i < o for i, o in zip(inlier, outlier))
    assert not hasattr(monitor, "sets_")  # the estimator trained with a copy


def test_costs_are_the_reconstruction_scores_at_the_end(monitored, sets):
    # the last epoch's weights are the final ones: cost == -score_samples
    _, inliers, outliers = sets
    history = monitored.net_.history
    np.testing.assert_allclose(
        history[-1, "inlier_cost"], -monitored.score_samples(inliers).mean(), rtol=1e-5
    )
    np.testing.assert_allclose(
        history[-1, "outlier_cost"],
        -monitored.score_samples(outliers.reshape(-1, 64)).mean(),
        rtol=1e-5,
    )


def test_tabular_detector_costs(digits):
    X = digits[0]
    det = AutoencoderOutlierDetector(
        hidden_layer_sizes=(4,),
        latent_dim=2,
        max_epochs=2,
        score_type="reconstruction",
        device="cpu",
        random_state=0,
        callbacks=[ReconstructionMonitor(X[:20])],
    ).fit(X[20:200])
    history = det.net_.history
    assert "outlier_cost" not in history[-1]  # no outlier set, no outlier cost
    np.testing.assert_allclose(
        history[-1, "inlier_cost"], -det.score_samples(X[:20]).mean(), rtol=1e-5
    )


class _ModeSpy(ReconstructionMonitor):
    """Records the module's mode during and after the monitor's forward passes."""

    def on_epoch_end(self, net, **kwargs):
        module = net.module_
        module.train()
        seen = []
        hook = module.register_forward_pre_hook(lambda m, args: seen.append(m.training))
        try:
            super().on_epoch_end(net, **kwargs)
        finally:
            hook.remove()
        net.history.record("modes", (tuple(seen), module.training))


def test_monitor_scores_in_eval_mode_and_restores_train_mode(sets):
    train, inliers, _ = sets
    det = ConvAutoencoderOutlierDetector(
        image_shape=(8, 8), max_epochs=2, callbacks=[_ModeSpy(inliers)], **TINY
    ).fit(train)
    for seen, after in det.net_.history[:, "modes"]:
        assert seen and not any(seen)  # every monitor pass in eval mode
        assert after  # and the module back in train mode


@pytest.mark.parametrize(
    "inliers, outliers, message",
    [
        (np.zeros((5, 63)), None, r"X_inliers of shape \(5, 63\)"),
        (np.zeros((0, 64)), None, r"X_inliers of shape \(0, 64\)"),
        (np.zeros((5, 64)), np.zeros((5, 7, 7)), r"X_outliers of shape \(5, 7, 7\)"),
        (np.zeros((5, 64)), np.full((5, 64), np.nan), "X_outliers contains NaN"),
        (np.full((5, 64), np.inf), None, "X_inliers contains infinity"),
        (np.full((5, 64), "a"), None, "X_inliers has dtype"),
    ],
    ids=["wrong-size", "empty", "wrong-shape", "nan", "inf", "strings"],
)
def test_bad_monitor_sets_raise_at_fit(sets, inliers, outliers, message):
    train, _, _ = sets
    det = ConvAutoencoderOutlierDetector(
        image_shape=(8, 8),
        max_epochs=1,
        callbacks=[ReconstructionMonitor(inliers, outliers)],
        **TINY,
    )
    with pytest.raises(ValueError, match=message):
        det.fit(train)
    assert not hasattr(det, "net_")  # a failed fit leaves no fitted state


@pytest.mark.parametrize("flat", [False, True])
def test_channels_last_monitor_sets_are_read_as_the_estimator_reads_x(digits, flat):
    """With data_format="channels_last" the monitor takes its sets in the
    estimator's own form, (n, H, W, C) or flat rows in that order: its
    last cost is -score_samples of the same sets (a (n, H, W, C) array was
    once reshaped to (C, H, W) without a transpose)."""
    X, y = digits
    ones = X[y == 1].reshape(-1, 8, 8)
    rgb = np.stack([ones, 16 - ones, ones / 2], -1)  # (n, 8, 8, 3)
    inliers = rgb[:10].reshape(10, -1) if flat else rgb[:10]
    params = dict(data_format="channels_last", score_type="reconstruction", **TINY)
    det = ConvAutoencoderOutlierDetector(
        max_epochs=2, callbacks=[ReconstructionMonitor(inliers)], **params
    ).fit(rgb[10:])
    expected = -det.score_samples(inliers).mean()
    assert det.net_.history[-1, "inlier_cost"] == pytest.approx(expected, rel=1e-6)
    # channels-first images for a channels-last estimator are refused
    det = ConvAutoencoderOutlierDetector(
        max_epochs=1,
        callbacks=[ReconstructionMonitor(rgb[:10].transpose(0, 3, 1, 2))],
        **params,
    )
    with pytest.raises(ValueError, match=r"shape \(8, 8, 3\).*data_format"):
        det.fit(rgb[10:])


@pytest.mark.parametrize("shape", [(8, 8, 1), (8, 8), (1, 8, 8), (64,)])
def test_gray_channels_last_monitor_sets_take_every_one_channel_form(digits, shape):
    """One channel: (H, W, 1), as the estimator itself takes it, and the
    other one-channel forms hold the values in the same order."""
    X, y = digits
    gray = X[y == 1].reshape(-1, 8, 8, 1)
    inliers = gray[:10].reshape(10, *shape)
    det = ConvAutoencoderOutlierDetector(
        data_format="channels_last",
        score_type="reconstruction",
        max_epochs=1,
        callbacks=[ReconstructionMonitor(inliers)],
        **TINY,
    ).fit(gray[10:])
    expected = -det.score_samples(gray[:10]).mean()
    assert det.net_.history[-1, "inlier_cost"] == pytest.approx(expected, rel=1e-6)


def test_monitor_sets_must_have_the_training_columns(digits):
    """A DataFrame monitor set with the training columns reordered was read
    as it came (its cost 200x the true one, no warning), where
    score_samples refuses it."""
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    scales = np.array([1.0, 10.0, 100.0, 1000.0])
    X = pd.DataFrame(rng.normal(size=(60, 4)) * scales, columns=list("abcd"))
    reordered = ReconstructionMonitor(X[list("dcba")][:10])
    params = dict(hidden_layer_sizes=(4,), latent_dim=2, device="cpu", random_state=0)
    det = AutoencoderOutlierDetector(**params, max_epochs=1, callbacks=[reordered])
    with pytest.raises(ValueError, match=r"columns \['d', 'c', 'b', 'a'\]"):
        det.fit(X)
    with pytest.raises(ValueError, match="same order"):
        det.set_params(callbacks=[ReconstructionMonitor(X[:5], X[list("abdc")][:5])])
        det.fit(X)
    same = ReconstructionMonitor(X[:10], X[:10].to_numpy() * 3)  # arrays: as before
    det.set_params(callbacks=[same]).fit(X)
    assert len(det.net_.history[:, "outlier_cost"]) == 1


def test_early_stopping_on_a_monitor_key_needs_the_monitor_first(sets):
    """EarlyStopping listed before the ReconstructionMonitor whose key it
    watches failed after the first epoch with skorch's bare KeyError."""
    from skorch.callbacks import EarlyStopping

    train, inliers, outliers = sets
    monitor = ReconstructionMonitor(inliers)
    stop = EarlyStopping(monitor="inlier_cost", patience=1)
    params = dict(TINY, max_epochs=3, image_shape=(8, 8))
    det = ConvAutoencoderOutlierDetector(**params, callbacks=[stop, monitor])
    with pytest.raises(ValueError, match="before the ReconstructionMonitor"):
        det.fit(train)
    det.set_params(callbacks=[monitor, stop]).fit(train)  # in order: fine
    assert len(det.net_.history[:, "inlier_cost"]) == det.n_iter_
    # a key another callback records first is not second-guessed
    from skorch.callbacks import EpochScoring

    scoring = EpochScoring(lambda net, X, y: 1.0, name="inlier_cost", on_train=True)
    det.set_params(callbacks=[scoring, stop, monitor])
    det.fit(train)
    det.set_params(callbacks=[scoring, stop]).fit(train)  # no monitor at all
