"""skcae.plotting displays and the ReconstructionMonitor callback."""

import pickle
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skcae import AutoencoderOutlierDetector, ConvAutoencoderOutlierDetector
from skcae.callbacks import ReconstructionMonitor
from skcae.plotting import (
    ReconstructionDisplay,
    ScoreHistogramDisplay,
    TrainingCurveDisplay,
)

FAST = dict(latent_dim=2, batch_size=32, device="cpu", random_state=0)


@pytest.fixture
def plt():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    zeros, others = X[y == 0], X[y != 0]
    return {
        "train": zeros[30:],
        "inliers": zeros[:30],
        "outliers": others[:30],
        "test": np.concatenate([zeros[:30], others[:30]]),
        "y_test": np.r_[np.ones(30, int), -np.ones(30, int)],
    }


@pytest.fixture(scope="module")
def monitor(digits):
    return ReconstructionMonitor(digits["inliers"], digits["outliers"])


@pytest.fixture(scope="module")
def detector(digits, monitor):
    return ConvAutoencoderOutlierDetector(
        image_shape=(8, 8),
        channels=(4,),
        max_epochs=3,
        contamination=0.1,
        callbacks=[monitor],
        **FAST,
    ).fit(digits["train"])


# -- ReconstructionMonitor ------------------------------------------------------
def test_monitor_records_per_epoch_costs_in_the_fitted_net(detector, digits, monitor):
    history = detector.net_.history
    inlier, outlier = history[:, "inlier_cost"], history[:, "outlier_cost"]
    assert len(inlier) == len(outlier) == detector.n_iter_ == 3
    assert len(set(inlier)) == 3  # a new value every epoch
    # the last epoch's weights are the final ones: the cost is -score_samples
    np.testing.assert_allclose(
        inlier[-1], -detector.score_samples(digits["inliers"]).mean(), rtol=1e-6
    )
    np.testing.assert_allclose(
        outlier[-1], -detector.score_samples(digits["outliers"]).mean(), rtol=1e-6
    )
    assert not hasattr(monitor, "sets_")  # the estimator used a copy


def test_monitor_uses_eval_mode_and_restores_train_mode(detector, digits):
    det = pickle.loads(pickle.dumps(detector))
    net, module = det.net_, det.net_.module_
    module.train()
    seen = []
    hook = module.register_forward_pre_hook(lambda m, args: seen.append(m.training))
    callback = ReconstructionMonitor(digits["inliers"].reshape(-1, 1, 8, 8))
    callback.on_train_begin(net)
    net.history.new_epoch()
    callback.on_epoch_end(net)
    hook.remove()
    assert seen and not any(seen)  # scored in eval mode
    assert module.training  # and put back in train mode
    np.testing.assert_allclose(
        net.history[-1, "inlier_cost"],
        -det.score_samples(digits["inliers"]).mean(),
        rtol=1e-6,
    )


def test_monitor_rejects_samples_of_the_wrong_size(digits):
    det = ConvAutoencoderOutlierDetector(
        image_shape=(8, 8),
        channels=(4,),
        max_epochs=1,
        callbacks=[ReconstructionMonitor(np.zeros((5, 63)))],
        **FAST,
    )
    with pytest.raises(ValueError, match=r"X_inliers of shape \(5, 63\)"):
        det.fit(digits["train"])


# -- ReconstructionDisplay ------------------------------------------------------
def test_reconstruction_display_grid(plt, detector, digits):
    X = digits["test"][25:35]  # 5 inliers then 5 outliers
    disp = ReconstructionDisplay.from_estimator(detector, X, n_images=6)
    assert disp.ax_.shape == (3, 6)
    assert disp.figure_ is disp.ax_[0, 0].figure
    np.testing.assert_array_equal(disp.images, X[:6].reshape(6, 1, 8, 8))
    np.testing.assert_allclose(
        disp.reconstructions, detector.reconstruct(X[:6]).reshape(6, 1, 8, 8)
    )
    assert disp.anomaly_maps.shape == (6, 8, 8)
    np.testing.assert_allclose(
        disp.anomaly_maps.mean(axis=(1, 2)), -detector.score_samples(X[:6]), rtol=1e-5
    )
    assert all(len(a.get_images()) == 1 for a in disp.ax_.ravel())
    red = [a.title.get_color() == "tab:red" for a in disp.ax_[0]]
    assert red == list(detector.predict(X[:6]) == -1)

    _, axes = plt.subplots(3, 2)
    disp = ReconstructionDisplay.from_estimator(detector, X, n_images=2, ax=axes)
    assert disp.ax_[1, 1] is axes[1, 1]
    with pytest.raises(
        ValueError, match=r"expected an array of Axes of shape \(3, 2\)"
    ):
        disp.plot(ax=axes[:2])


def test_reconstruction_display_other_shapes(plt, digits):
    X = digits["train"][:40]
    dense = AutoencoderOutlierDetector(hidden_layer_sizes=(8,), max_epochs=1, **FAST)
    dense.fit(X)
    with pytest.raises(ValueError, match="pass image_shape"):
        ReconstructionDisplay.from_estimator(dense, X)
    with pytest.raises(ValueError, match=r"expected C\*H\*W == 64"):
        ReconstructionDisplay.from_estimator(dense, X, image_shape=(7, 7))
    with pytest.raises(ValueError, match="n_images=0"):
        ReconstructionDisplay.from_estimator(dense, X, n_images=0, image_shape=(8, 8))
    disp = ReconstructionDisplay.from_estimator(
        dense, X, n_images=3, image_shape=(8, 8)
    )
    assert disp.images.shape == (3, 1, 8, 8) and disp.anomaly_maps.shape == (3, 8, 8)

    rgb = np.random.RandomState(0).rand(20, 3, 4, 4)
    det = ConvAutoencoderOutlierDetector(channels=(4,), max_epochs=1, **FAST).fit(rgb)
    disp = ReconstructionDisplay.from_estimator(det, rgb, n_images=2)
    assert disp.ax_[0, 0].get_images()[0].get_array().shape == (4, 4, 3)
    assert disp.anomaly_maps.shape == (2, 4, 4)


# -- ScoreHistogramDisplay -------------------------------------------------------
def test_score_histogram_with_threshold(plt, detector, digits):
    X, y = digits["test"], digits["y_test"]
    disp = ScoreHistogramDisplay.from_estimator(detector, X, y, inlier_label=1)
    assert disp.line_.get_xdata()[0] == detector.offset_  # threshold on scores
    np.testing.assert_array_equal(disp.scores, detector.score_samples(X))
    np.testing.assert_array_equal(disp.is_inlier, y == 1)
    labels = [t.get_text() for t in disp.ax_.get_legend().get_texts()]
    threshold = f"threshold ({detector.offset_:.3g})"
    assert labels == ["inliers (30)", "outliers (30)", threshold]
    counts = [sum(p.get_height() for p in c) for c in disp.ax_.containers]
    assert counts == [30, 30]
    assert disp.ax_.get_ylabel() == "number of samples"

    disp = ScoreHistogramDisplay.from_estimator(detector, X, y == 1, density=True)
    areas = [
        sum(p.get_height() * p.get_width() for p in c) for c in disp.ax_.containers
    ]
    np.testing.assert_allclose(areas, [1.0, 1.0])
    assert disp.ax_.get_ylabel() == "density"

    disp = ScoreHistogramDisplay.from_estimator(detector, X)
    assert [t.get_text() for t in disp.ax_.get_legend().get_texts()][0] == (
        "all samples (60)"
    )
    with pytest.raises(ValueError, match=r"expected y of shape \(60,\)"):
        ScoreHistogramDisplay.from_estimator(detector, X, y[:5])


# -- TrainingCurveDisplay ------------------------------------------------------
def test_training_curve_with_threshold(plt, detector, digits):
    disp = TrainingCurveDisplay.from_estimator(detector, log_scale=True)
    history = detector.net_.history
    lines = {line.get_label(): line for line in disp.ax_.get_lines()}
    assert set(lines) == {
        "training loss",
        "inliers (monitor)",
        "outliers (monitor)",
        f"threshold ({-detector.offset_:.3g})",
    }
    np.testing.assert_array_equal(
        lines["inliers (monitor)"].get_ydata(), history[:, "inlier_cost"]
    )
    np.testing.assert_array_equal(
        lines["outliers (monitor)"].get_ydata(), history[:, "outlier_cost"]
    )
    threshold = lines[f"threshold ({-detector.offset_:.3g})"]
    assert threshold.get_ydata()[0] == -detector.offset_
    assert disp.ax_.get_yscale() == "log"

    plain = ConvAutoencoderOutlierDetector(
        image_shape=(8, 8), channels=(4,), max_epochs=1, **FAST
    ).fit(digits["train"][:40])
    with pytest.raises(ValueError, match="ReconstructionMonitor"):
        TrainingCurveDisplay.from_estimator(plain)


# -- matplotlib is optional ------------------------------------------------------
@pytest.mark.parametrize(
    "draw",
    [
        lambda det, X: ReconstructionDisplay.from_estimator(det, X),
        lambda det, X: ScoreHistogramDisplay.from_estimator(det, X),
        lambda det, X: TrainingCurveDisplay.from_estimator(det),
        lambda det, X: ScoreHistogramDisplay(det.score_samples(X)).plot(),
    ],
    ids=["reconstructions", "histogram", "training_curve", "plot"],
)
def test_missing_matplotlib_names_the_extra(detector, digits, monkeypatch, draw):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "skcae\[plot\]"'):
        draw(detector, digits["test"])
