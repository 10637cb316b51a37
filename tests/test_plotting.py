"""skcae.plotting: the three displays, drawn from fitted estimators."""

import re
import sys

import numpy as np
import pytest
from _settings import TINY as _TINY
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

import skcae._base
from skcae import ConvAutoencoderOutlierDetector
from skcae.callbacks import ReconstructionMonitor
from skcae.plotting import (
    ReconstructionDisplay,
    ScoreHistogramDisplay,
    TrainingCurveDisplay,
)

TINY = dict(_TINY, max_epochs=3)


@pytest.fixture
def plt():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


@pytest.fixture(scope="module")
def monitored(digits):
    """score_type="reconstruction", a monitor, 3 epochs: 158 inliers (0s)."""
    X, y = digits
    zeros, others = X[y == 0], X[y != 0]
    monitor = ReconstructionMonitor(zeros[:20], others[:20])
    return ConvAutoencoderOutlierDetector(
        image_shape=(8, 8),
        score_type="reconstruction",
        contamination=0.1,
        callbacks=[monitor],
        **TINY,
    ).fit(zeros[20:])


@pytest.fixture(scope="module")
def signals():
    """60 1-D signals of 32 values (sine waves of random amplitude)."""
    rng = np.random.RandomState(0)
    return np.sin(np.linspace(0, 6, 32)) * rng.uniform(0.5, 1.5, size=(60, 1))


@pytest.fixture(scope="module")
def signal_detector(signals):
    """A hybrid detector of 1-D signals with validation_fraction and a monitor."""
    return ConvAutoencoderOutlierDetector(
        image_shape=(1, 32),
        validation_fraction=0.25,
        callbacks=[ReconstructionMonitor(signals[:10])],
        **TINY,
    ).fit(signals)


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


# -- ReconstructionDisplay ------------------------------------------------------
def test_reconstruction_display_gray(plt, fitted_mse, digits):
    X = digits[0][:10]
    disp = ReconstructionDisplay.from_estimator(fitted_mse, X, n_images=6)
    assert disp.ax_.shape == (3, 6)
    assert disp.figure_ is disp.ax_[0, 0].figure
    assert disp.colorbar_ is not None
    # the input comes back from the network's float32 standardised form
    np.testing.assert_allclose(disp.images, X[:6].reshape(6, 1, 8, 8), atol=1e-4)
    np.testing.assert_allclose(
        disp.reconstructions,
        fitted_mse.reconstruct(X[:6]).reshape(6, 1, 8, 8),
        rtol=1e-5,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        disp.anomaly_maps, fitted_mse.anomaly_map(X[:6]), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        disp.anomaly_maps.mean(axis=(1, 2)),
        -fitted_mse.score_samples(X[:6]),
        rtol=1e-5,
    )
    np.testing.assert_array_equal(disp.scores, fitted_mse.score_samples(X[:6]))
    assert all(len(a.get_images()) == 1 for a in disp.ax_.ravel())
    red = [a.title.get_color() == "tab:red" for a in disp.ax_[0]]
    assert red == list(fitted_mse.predict(X[:6]) == -1)
    labels = [a.get_ylabel() for a in disp.ax_[:, 0]]
    assert labels == ["input", "reconstruction", "anomaly map"]


def test_reconstruction_display_on_given_axes(plt, fitted_mse, digits):
    _, axes = plt.subplots(3, 2)
    disp = ReconstructionDisplay.from_estimator(
        fitted_mse, digits[0], n_images=2, ax=axes
    )
    assert disp.ax_[1, 1] is axes[1, 1]
    assert disp.colorbar_ is None  # the caller's figure is left as laid out
    disp.plot(ax=axes.ravel())  # any array of 3 * n Axes
    with pytest.raises(ValueError, match=r"expected an array of Axes of shape \(3, 2"):
        disp.plot(ax=axes[:2])


def test_reconstruction_display_rgb(plt, fitted_rgb, rgb):
    disp = ReconstructionDisplay.from_estimator(fitted_rgb, rgb, n_images=2)
    assert disp.images.shape == disp.reconstructions.shape == (2, 3, 6, 5)
    assert disp.ax_[0, 0].get_images()[0].get_array().shape == (6, 5, 3)
    assert disp.ax_[1, 1].get_images()[0].get_array().shape == (6, 5, 3)
    # the map is the per-pixel error averaged over channels
    np.testing.assert_allclose(
        disp.anomaly_maps,
        fitted_rgb.anomaly_map(rgb[:2]).mean(axis=1),
        rtol=1e-5,
        atol=1e-7,
    )
    assert disp.anomaly_maps.shape == (2, 6, 5)


def test_reconstruction_display_signal(plt, signal_detector, signals):
    disp = ReconstructionDisplay.from_estimator(signal_detector, signals, n_images=3)
    assert disp.images.shape == (3, 1, 1, 32) and disp.anomaly_maps.shape == (3, 1, 32)
    assert all(a.get_aspect() == "auto" for a in disp.ax_.ravel())  # strips
    assert all(a.title.get_text() for a in disp.ax_[0])  # hybrid scores shown


def test_reconstruction_display_tabular(plt, fitted_dense, digits):
    X = digits[0]
    disp = ReconstructionDisplay.from_estimator(fitted_dense, X, n_images=3)
    assert disp.images.shape == (3, 1, 1, 64)  # rows as strips by default
    for image_shape in [(8, 8), [1, 8, 8]]:
        disp = ReconstructionDisplay.from_estimator(
            fitted_dense, X, n_images=3, image_shape=image_shape
        )
        assert disp.images.shape == (3, 1, 8, 8)
        assert disp.anomaly_maps.shape == (3, 8, 8)
        np.testing.assert_allclose(disp.images, X[:3].reshape(3, 1, 8, 8), atol=1e-4)
        np.testing.assert_allclose(
            disp.anomaly_maps.mean(axis=(1, 2)),
            -fitted_dense.score_samples(X[:3]),
            rtol=1e-5,
        )
    disp = ReconstructionDisplay.from_estimator(
        fitted_dense, X, n_images=2, image_shape=(4, 4, 4)
    )
    assert disp.images.shape == (2, 4, 4, 4) and disp.anomaly_maps.shape == (2, 4, 4)
    with pytest.raises(ValueError, match=r"expected an image_shape.*C\*H\*W == 64"):
        ReconstructionDisplay.from_estimator(fitted_dense, X, image_shape=(7, 7))
    with pytest.raises(ValueError, match=r"positive ints, e.g. \(H, W\) or \(C, H"):
        ReconstructionDisplay.from_estimator(fitted_dense, X, image_shape=(64,))


def test_from_estimator_validates_once_and_runs_one_forward_pass(
    plt, monkeypatch, fitted_transformer, fitted_mse, digits
):
    calls = {"validate": 0, "encode": 0, "forward": 0}
    validate_input = skcae._base.validate_input

    def counting_validate(*args, **kwargs):
        calls["validate"] += 1
        return validate_input(*args, **kwargs)

    monkeypatch.setattr(skcae._base, "validate_input", counting_validate)

    def count(estimator):
        module_class = type(estimator.net_.module_)
        for name in ("encode", "forward"):
            original = getattr(module_class, name)

            def counted(self, *args, _name=name, _original=original, **kwargs):
                calls[_name] += 1
                return _original(self, *args, **kwargs)

            monkeypatch.setattr(module_class, name, counted)

    # a transformer: no scores, one validation and one pass (of 1 chunk)
    count(fitted_transformer)
    ReconstructionDisplay.from_estimator(fitted_transformer, digits[0], n_images=5)
    assert calls == {"validate": 1, "encode": 1, "forward": 1}

    # a detector: the same, plus score_samples' own validation and pass
    calls.update(validate=0, encode=0, forward=0)
    ReconstructionDisplay.from_estimator(fitted_mse, digits[0], n_images=5)
    assert calls["validate"] == 2 and calls["encode"] == 2


# -- ScoreHistogramDisplay -------------------------------------------------------
def test_score_histogram_density_per_group_by_default(plt, fitted_mse, digits):
    X, y = digits[0][:600], digits[1][:600] == 0  # ~60 inliers, ~540 outliers
    n_in, n_out = int(y.sum()), int((~y).sum())
    disp = ScoreHistogramDisplay.from_estimator(fitted_mse, X, y)
    np.testing.assert_array_equal(disp.scores, fitted_mse.score_samples(X))
    np.testing.assert_array_equal(disp.is_inlier, y)
    assert disp.line_.get_xdata()[0] == fitted_mse.offset_
    assert _legend(disp.ax_) == [
        f"inliers (n={n_in})",
        f"outliers (n={n_out:,})",
        f"threshold offset_ = {fitted_mse.offset_:.3g}",
    ]
    areas = [
        sum(p.get_height() * p.get_width() for p in c) for c in disp.ax_.containers
    ]
    np.testing.assert_allclose(areas, [1.0, 1.0])  # each group to unit area
    assert disp.ax_.get_ylabel() == "density per group"
    assert disp.ax_.get_yscale() == "linear"
    widths = {round(p.get_width(), 9) for c in disp.ax_.containers for p in c}
    assert len(widths) == 1  # shared bins


def test_score_histogram_counts(plt, fitted_mse, digits):
    X = digits[0][:60]
    y = np.where(digits[1][:60] == 0, 1, -1)  # scikit-learn's +1/-1 labels
    disp = ScoreHistogramDisplay.from_estimator(
        fitted_mse, X, y, density=False, log_scale=True, bins=10
    )
    counts = [sum(p.get_height() for p in c) for c in disp.ax_.containers]
    assert counts == [(y == 1).sum(), (y == -1).sum()]
    assert all(len(c) == 10 for c in disp.ax_.containers)
    assert disp.ax_.get_ylabel() == "number of samples"
    assert disp.ax_.get_yscale() == "log"

    disp = ScoreHistogramDisplay.from_estimator(
        fitted_mse, X, digits[1][:60], inlier_label=3
    )
    assert disp.is_inlier.sum() == (digits[1][:60] == 3).sum()  # a class label

    disp = ScoreHistogramDisplay.from_estimator(fitted_mse, X)
    assert _legend(disp.ax_)[0] == "all samples (n=60)"

    disp = ScoreHistogramDisplay(disp.scores).plot(bins="auto")  # no threshold
    assert disp.line_ is None and _legend(disp.ax_) == ["all samples (n=60)"]


def test_score_histogram_with_string_labels(plt, fitted_mse, digits):
    X = digits[0][:60]
    y = np.where(digits[1][:60] == 0, "normal", "anomaly")
    match = (
        r"^Got inlier_label=True, but no sample of y has that label: y holds "
        r"'anomaly', 'normal'\. Pass inlier_label= set to the label of the "
        r"inliers in y, or y=None to draw all scores as one histogram\.$"
    )
    with pytest.raises(ValueError, match=match):
        ScoreHistogramDisplay.from_estimator(fitted_mse, X, y)
    disp = ScoreHistogramDisplay.from_estimator(fitted_mse, X, y, inlier_label="normal")
    np.testing.assert_array_equal(disp.is_inlier, y == "normal")
    assert _legend(disp.ax_)[:2] == [
        f"inliers (n={(y == 'normal').sum()})",
        f"outliers (n={(y == 'anomaly').sum()})",
    ]


@pytest.mark.parametrize(
    "y, inlier_label, holds",
    [
        (
            np.arange(60) % 12 + 20,
            True,
            r"12 distinct labels \(20, 21, .*, 29, \.\.\.\)",
        ),
        (np.array(["a", 1] * 30, dtype=object), "b", r"'a', 1"),
        (np.zeros(60, dtype=bool), True, "False"),
        (np.full(60, -1), 1, "-1"),
    ],
    ids=["many-labels", "mixed-types", "all-false", "all-minus-one"],
)
def test_score_histogram_without_inliers_lists_the_labels(
    plt, fitted_mse, digits, y, inlier_label, holds
):
    match = (
        rf"^Got inlier_label={re.escape(repr(inlier_label))}, but no sample of y "
        rf"has that label: y holds {holds}\. Pass inlier_label="
    )
    with pytest.raises(ValueError, match=match):
        ScoreHistogramDisplay.from_estimator(
            fitted_mse, digits[0][:60], y, inlier_label=inlier_label
        )


def test_score_histogram_reads_predict_labels_and_refuses_bad_values(plt):
    """is_inlier of 1/-1 labels put every sample among the inliers (-1 cast
    to True); NaN scores and offsets gave numpy's message or a NaN line."""
    scores = np.r_[np.zeros(20), -np.ones(20)]
    labels = np.r_[np.ones(20), -np.ones(20)]
    for is_inlier in (labels, labels.astype(int), labels > 0, (labels > 0) * 1):
        disp = ScoreHistogramDisplay(scores, is_inlier=is_inlier).plot()
        names = disp.ax_.get_legend_handles_labels()[1]
        assert names == ["inliers (n=20)", "outliers (n=20)"], names
        plt.close("all")
    with pytest.raises(ValueError, match="expected bools, or labels of 1"):
        ScoreHistogramDisplay(scores, is_inlier=labels * 2).plot()
    with pytest.raises(ValueError, match=r"is_inlier of shape \(40, 1\)"):
        ScoreHistogramDisplay(scores, is_inlier=labels[:, None]).plot()
    with pytest.raises(ValueError, match="1 score.*NaN or infinite.*index 3"):
        ScoreHistogramDisplay(np.r_[scores[:3], np.nan, scores[4:]]).plot()
    with pytest.raises(ValueError, match="offset=nan"):
        ScoreHistogramDisplay(scores, offset=float("nan")).plot()


def test_score_histogram_of_inliers_only(plt, fitted_mse, digits):
    disp = ScoreHistogramDisplay.from_estimator(
        fitted_mse, digits[0][:60], np.ones(60, dtype=bool)
    )
    assert _legend(disp.ax_)[0] == "inliers (n=60)" and len(disp.ax_.containers) == 1


# -- TrainingCurveDisplay ------------------------------------------------------
def test_training_curve_with_a_monitor(plt, monitored):
    disp = TrainingCurveDisplay.from_estimator(monitored)
    history = monitored.net_.history
    assert set(disp.lines_) == {
        "train_loss",
        "inlier_cost",
        "outlier_cost",
        "threshold",
    }
    # the losses on the left axis, the costs and the threshold on its twin
    assert disp.lines_["train_loss"].axes is disp.ax_
    assert all(
        disp.lines_[k].axes is disp.cost_ax_
        for k in ("inlier_cost", "outlier_cost", "threshold")
    )
    np.testing.assert_array_equal(
        disp.lines_["train_loss"].get_ydata(), monitored.history_["train_loss"]
    )
    np.testing.assert_array_equal(
        disp.lines_["inlier_cost"].get_ydata(), history[:, "inlier_cost"]
    )
    np.testing.assert_array_equal(
        disp.lines_["outlier_cost"].get_ydata(), history[:, "outlier_cost"]
    )
    assert disp.lines_["threshold"].get_ydata()[0] == -monitored.offset_
    assert "standardised" in disp.ax_.get_ylabel()
    assert "squared data units" in disp.cost_ax_.get_ylabel()
    assert _legend(disp.cost_ax_) == [
        "training loss",
        "inlier cost (monitor)",
        "outlier cost (monitor)",
        f"threshold -offset_ = {-monitored.offset_:.3g}",
    ]
    # integer epochs, 1 to n_iter_
    np.testing.assert_array_equal(disp.lines_["train_loss"].get_xdata(), [1, 2, 3])
    ticks = disp.ax_.get_xticks()
    np.testing.assert_array_equal(ticks, np.round(ticks))

    disp = TrainingCurveDisplay.from_estimator(monitored, log_scale=True)
    assert disp.ax_.get_yscale() == disp.cost_ax_.get_yscale() == "log"


def test_training_curve_without_a_monitor(plt, fitted_dense):
    # 300 samples: calibration="auto" held 100 out, which give a valid_loss
    disp = TrainingCurveDisplay.from_estimator(fitted_dense)
    assert disp.cost_ax_ is None and set(disp.lines_) == {"train_loss", "valid_loss"}
    np.testing.assert_array_equal(
        disp.lines_["train_loss"].get_ydata(), fitted_dense.history_["train_loss"]
    )
    assert _legend(disp.ax_) == ["training loss", "validation loss"]
    ticks = disp.ax_.get_xticks()
    np.testing.assert_array_equal(ticks, np.round(ticks))


def test_training_curve_with_validation_and_a_hybrid_score(plt, signal_detector):
    disp = TrainingCurveDisplay.from_estimator(signal_detector)
    # a hybrid score is no threshold on the monitor's cost: no line
    assert set(disp.lines_) == {"train_loss", "valid_loss", "inlier_cost"}
    np.testing.assert_array_equal(
        disp.lines_["valid_loss"].get_ydata(), signal_detector.history_["valid_loss"]
    )
    assert disp.lines_["valid_loss"].axes is disp.ax_


# -- arguments -----------------------------------------------------------------
@pytest.mark.parametrize(
    "draw, message",
    [
        (
            lambda det, X: ReconstructionDisplay.from_estimator(det, X, n_images=0),
            r"'n_images' parameter of ReconstructionDisplay.from_estimator must be "
            r"an int in the range \[1, inf\)",
        ),
        (
            lambda det, X: ReconstructionDisplay.from_estimator(det, X, n_images=2.0),
            "'n_images' parameter",
        ),
        (
            lambda det, X: ReconstructionDisplay.from_estimator(det, X, cmap=3),
            "'cmap' parameter",
        ),
        (
            lambda det, X: ReconstructionDisplay.from_estimator(
                det, X, image_shape="8x8"
            ),
            "'image_shape' parameter",
        ),
        (
            lambda det, X: ReconstructionDisplay.from_estimator(IsolationForest(), X),
            "object implementing 'reconstruct' and 'anomaly_map'",
        ),
        (
            lambda det, X: ScoreHistogramDisplay.from_estimator(det, X, bins=0),
            "'bins' parameter of ScoreHistogramDisplay.from_estimator",
        ),
        (
            lambda det, X: ScoreHistogramDisplay.from_estimator(det, X, density="yes"),
            "'density' parameter",
        ),
        (
            lambda det, X: ScoreHistogramDisplay(det.offset_).plot(log_scale=1),
            "'log_scale' parameter of ScoreHistogramDisplay.plot",
        ),
        (
            lambda det, X: TrainingCurveDisplay.from_estimator(det, log_scale="no"),
            "'log_scale' parameter of TrainingCurveDisplay.from_estimator",
        ),
    ],
)
def test_bad_arguments(plt, fitted_mse, digits, draw, message):
    with pytest.raises(InvalidParameterError, match=message):
        draw(fitted_mse, digits[0][:20])


def test_bad_data(plt, fitted_mse, digits):
    X, y = digits[0][:60], digits[1][:60]
    with pytest.raises(ValueError, match=r"expected y of shape \(60,\)"):
        ScoreHistogramDisplay.from_estimator(fitted_mse, X, y[:5])
    with pytest.raises(ValueError, match=r"is_inlier of shape \(5,\).*shape \(60,\)"):
        ScoreHistogramDisplay(np.zeros(60), is_inlier=y[:5] == 0).plot()
    unfitted = ConvAutoencoderOutlierDetector(image_shape=(8, 8))
    for draw in (
        lambda: ReconstructionDisplay.from_estimator(unfitted, X),
        lambda: ScoreHistogramDisplay.from_estimator(unfitted, X),
        lambda: TrainingCurveDisplay.from_estimator(unfitted),
    ):
        with pytest.raises(NotFittedError):
            draw()


# -- matplotlib is optional ------------------------------------------------------
@pytest.mark.parametrize(
    "draw",
    [
        lambda det, X: ReconstructionDisplay.from_estimator(det, X),
        lambda det, X: ScoreHistogramDisplay.from_estimator(det, X),
        lambda det, X: TrainingCurveDisplay.from_estimator(det),
        lambda det, X: ScoreHistogramDisplay(np.zeros(3)).plot(),
        lambda det, X: TrainingCurveDisplay([1.0]).plot(),
        lambda det, X: ReconstructionDisplay(*np.zeros((3, 1, 1, 2, 2))).plot(),
    ],
    ids=["reconstruction", "histogram", "training_curve", "plot", "plot2", "plot3"],
)
def test_missing_matplotlib_names_the_extra(fitted_mse, digits, monkeypatch, draw):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "skcae\[plot\]"'):
        draw(fitted_mse, digits[0][:10])


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (([],), {}, r"train_loss of shape \(0,\); expected a non-empty 1-D"),
        ((["a", "b"],), {}, "train_loss that is not numbers"),
        (([[1.0, 0.5]],), {}, r"train_loss of shape \(1, 2\)"),
        (([1.0, 0.5],), {"inlier_cost": [1, 2, 3]}, "inlier_cost of 3 epochs"),
    ],
)
def test_training_curve_refuses_series_it_cannot_draw(args, kwargs, match):
    # an empty or text series drew an empty plot; a longer cost series or a
    # 2-D loss failed inside matplotlib (a probe)
    with pytest.raises(ValueError, match=match):
        TrainingCurveDisplay(*args, **kwargs).plot()


@pytest.mark.parametrize("scores", [np.array([]), np.ones((3, 2))])
def test_score_histogram_refuses_empty_or_2d_scores(scores):
    # an empty histogram was drawn; 2-D scores were flattened (a probe)
    with pytest.raises(ValueError, match="expected a non-empty 1-D array"):
        ScoreHistogramDisplay(scores).plot()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(reconstructions=np.zeros((3, 1, 8, 8))), r"reconstructions of shape"),
        (dict(anomaly_maps=np.zeros((1, 8, 8))), r"anomaly_maps of shape"),
        (dict(scores=np.arange(5.0)), r"scores of shape \(5,\); expected .*\(2,\)"),
        (dict(images=np.full((2, 1, 8, 8), np.nan)), r"images hold NaN"),
        (dict(images=np.zeros((8, 8))), r"images of shape \(8, 8\)"),
        (dict(scores=np.array([0.0, np.nan])), r"scores hold NaN"),
    ],
)
def test_reconstruction_display_checks_what_it_is_given(kwargs, match):
    """An extra reconstruction was dropped, extra scores titled the images,
    a missing map was an IndexError (a hostile probe)."""
    args = dict(
        images=np.zeros((2, 1, 8, 8)),
        reconstructions=np.zeros((2, 1, 8, 8)),
        anomaly_maps=np.zeros((2, 8, 8)),
    )
    args.update(kwargs)
    scores = args.pop("scores", None)
    display = ReconstructionDisplay(**args, scores=scores)
    with pytest.raises(ValueError, match=match):
        display.plot()


def test_reconstruction_display_plot_still_checks_its_parameters():
    """The shape checks went in between plot and its validate_params
    decorator, which then checked them instead (a review)."""
    images = np.zeros((2, 1, 8, 8))
    display = ReconstructionDisplay(images, images, np.zeros((2, 8, 8)))
    with pytest.raises(
        ValueError, match="'cmap' parameter of ReconstructionDisplay.plot must"
    ):
        display.plot(cmap=5)


@pytest.mark.parametrize("offset", ["1.5", np.array([1.5]), True, [1.5]])
def test_histogram_offset_must_be_a_number(offset):
    """A string or a 1-element array failed inside the label's formatting
    ("Unknown format code 'g'", a probe); now a clear error."""
    from skcae.plotting import ScoreHistogramDisplay

    with pytest.raises(ValueError, match="expected a finite number"):
        ScoreHistogramDisplay(np.array([1.0, 2.0]), offset=offset).plot()
    disp = ScoreHistogramDisplay(np.array([1.0, 2.0]), offset=np.float32(1.5)).plot()
    assert disp.ax_ is not None
