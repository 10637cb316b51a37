"""A hostile-input catalogue for the three estimators.

Every case feeds an estimator something a careless or unlucky user could
give it (inputs at fit and at score time, parameters, faults during
training, threads) and asserts the exact outcome: a clear error matched on
its message, or the correct answer. Files (zip, safetensors, IDX) have
their own catalogues in test_persistence.py and test_datasets.py.

Cases marked ``xfail(strict=True)`` are real bugs: the reason says what
goes wrong today; the test asserts what should happen.
"""

import contextlib
import copy
import re
import threading
import time
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from _lazy import RecordingArray
from _settings import TINY, TINY_DENSE
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from skorch.callbacks import Callback

from skcae import (
    AutoencoderOutlierDetector,
    ConvAutoencoder,
    ConvAutoencoderOutlierDetector,
    _threads,
)

# TINY / TINY_DENSE train the session fixtures fitted, fitted_dense and
# fitted_transformer; FAST trains one epoch for the throwaway fits.
CLASSES = {
    "conv": ConvAutoencoderOutlierDetector,
    "transformer": ConvAutoencoder,
    "dense": AutoencoderOutlierDetector,
}
KINDS = list(CLASSES)
DETECTORS = ["conv", "dense"]
CONV_KINDS = ["conv", "transformer"]
FIXTURE = {
    "conv": "fitted",
    "transformer": "fitted_transformer",
    "dense": "fitted_dense",
}


def build(kind, epochs=1, **params):
    """A tiny estimator of ``kind``; conv kinds read 64 features as 8x8."""
    base = dict(TINY_DENSE if kind == "dense" else TINY, max_epochs=epochs)
    if kind != "dense":
        base["image_shape"] = (8, 8)
    base.update(params)
    return CLASSES[kind](**base)


def output(est, X):
    """What an estimator answers for X: scores, or codes for the transformer."""
    if isinstance(est, ConvAutoencoder):
        return est.transform(X)
    return est.score_samples(X)


def assert_unfitted(est):
    fitted = [k for k in vars(est) if k.endswith("_") and not k.startswith("_")]
    assert fitted == []


@contextlib.contextmanager
def only_user_warnings():
    """A context where any warning but a UserWarning is an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", UserWarning)
        yield


@pytest.fixture
def trained(request):
    """The session-scoped fitted estimator of a kind (never modify it)."""
    return lambda kind: request.getfixturevalue(FIXTURE[kind])


@pytest.fixture(scope="module")
def fits():
    """Memoised fits shared by the tests of this module: fits(key, make, X)."""
    cache = {}

    def fit(key, make, X):
        if key not in cache:
            cache[key] = make().fit(X)
        return cache[key]

    return fit


@pytest.fixture(scope="module")
def X(digits):
    return digits[0]


@pytest.fixture(scope="module")
def batch(X):
    """12 digits none of the fitted estimators trained on."""
    return X[300:312].copy()


def bug(reason, raises=None):
    return pytest.mark.xfail(strict=True, reason=reason, raises=raises)


# ==============================================================================
# 1. Inputs at fit and at score time
# ==============================================================================
NON_FINITE = [
    pytest.param(dtype, value, id=f"{np.dtype(dtype).name}-{value}")
    for dtype in (np.float32, np.float64)
    for value in (np.nan, np.inf, -np.inf)
]


def _non_finite_match(value):
    return "contains NaN" if np.isnan(value) else "contains infinity"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype, value", NON_FINITE)
def test_non_finite_at_fit(kind, dtype, value, X):
    data = X[:20].astype(dtype)
    data[7, 30] = value
    est = build(kind)
    with pytest.raises(ValueError, match=_non_finite_match(value)):
        est.fit(data)
    assert_unfitted(est)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype, value", NON_FINITE)
def test_non_finite_at_score(kind, dtype, value, batch, trained):
    data = batch.astype(dtype)
    data[-1, 0] = value
    with pytest.raises(ValueError, match=_non_finite_match(value)):
        output(trained(kind), data)


ABSURD = {
    "1e300-row": (np.float64, (0, slice(None)), 1e300),
    "minus-1e300-row": (np.float64, (0, slice(None)), -1e300),
    "1e300-pixel": (np.float64, (0, 27), 1e300),
    "1e38-pixel": (np.float64, (0, 27), 1e38),
    "1e38-pixel-float32": (np.float32, (0, 27), 1e38),
}


@pytest.mark.parametrize("kind", DETECTORS)
@pytest.mark.parametrize("case", list(ABSURD))
def test_absurd_finite_values_are_finite_outliers(kind, case, batch, trained):
    """Finite values beyond float32 (or at its edge): finite scores, label -1,
    the other samples' scores untouched, at most a UserWarning."""
    dtype, where, value = ABSURD[case]
    clean = batch.astype(dtype)
    data = clean.copy()
    data[where] = value
    det = trained(kind)
    with only_user_warnings():
        scores = det.score_samples(data)
        labels = det.predict(data)
        reference = det.score_samples(clean)
    assert np.isfinite(scores).all()
    assert labels[0] == -1 and scores[0] < reference.min()
    np.testing.assert_array_equal(scores[1:], reference[1:])


@pytest.mark.parametrize("case", ["1e300-row", "1e38-pixel"])
def test_absurd_finite_values_give_finite_codes(case, batch, fitted_transformer):
    dtype, where, value = ABSURD[case]
    data = batch.astype(dtype)
    data[where] = value
    with only_user_warnings():
        codes = fitted_transformer.transform(data)
        recon = fitted_transformer.reconstruct(data)
    assert np.isfinite(codes).all() and np.isfinite(recon).all()
    np.testing.assert_array_equal(codes[1:], fitted_transformer.transform(batch)[1:])


def _shape_match(kind, shape, conv_match):
    if kind == "dense" and len(shape) > 2:
        return "takes 2-D tabular data"
    if len(shape) > 2:  # named as given, not as the rows it is flattened to
        shown = re.escape(f" (shape={shape})")
        return conv_match.replace(r"sample\(s\)", r"sample\(s\)" + shown, 1)
    return conv_match


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(0, 4), (0, 8, 8), (0, 1, 8, 8)], ids=str)
def test_empty_at_fit(kind, shape):
    est = build(kind)
    match = _shape_match(kind, shape, r"0 sample\(s\).*minimum of 2")
    with pytest.raises(ValueError, match=match):
        est.fit(np.zeros(shape))
    assert_unfitted(est)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(0, 64), (0, 8, 8), (0, 1, 8, 8)], ids=str)
def test_empty_at_score(kind, shape, trained):
    match = _shape_match(kind, shape, r"0 sample\(s\).*minimum of 1")
    with pytest.raises(ValueError, match=match):
        output(trained(kind), np.zeros(shape))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(10, 0), (10, 0, 8), (10, 1, 8, 0)], ids=str)
def test_zero_features_at_fit(kind, shape):
    """Samples of no values; images are named by X's own shape (sklearn's
    message named the flattened one, (10, 0), a probe)."""
    est = build(kind, image_shape=None) if kind != "dense" else build(kind)
    match = r"0 feature\(s\)"
    if len(shape) > 2:
        match = (
            "takes 2-D tabular data"
            if kind == "dense"
            else re.escape(
                f"Got X of shape {shape}, whose samples of shape "
                f"{shape[1:]} hold no values"
            )
        )
    with pytest.raises(ValueError, match=match):
        est.fit(np.zeros(shape))


@pytest.mark.parametrize("kind", KINDS)
def test_one_sample_at_fit(kind, X):
    est = build(kind)
    with pytest.raises(ValueError, match=r"1 sample\(s\).*minimum of 2 is required"):
        est.fit(X[:1])
    assert_unfitted(est)


@pytest.mark.parametrize(
    "kind, score_type",
    [
        ("conv", "hybrid"),
        ("conv", "latent"),
        ("conv", "reconstruction"),
        ("dense", "hybrid"),
        ("transformer", None),
    ],
)
def test_two_samples_at_fit(kind, score_type, X):
    params = {} if score_type is None else {"score_type": score_type}
    est = build(kind, **params).fit(X[:2])
    result = output(est, X[:2])
    assert len(result) == 2 and np.isfinite(result).all()


@pytest.mark.parametrize("kind", KINDS)
def test_one_sample_at_score_is_its_row_of_a_batch(kind, batch, trained):
    est = trained(kind)
    np.testing.assert_array_equal(output(est, batch[3:4]), output(est, batch)[3:4])


WRONG_RANK = {
    "1d": (lambda X: X[0], r"Got X of shape \(64,\): a 1-D array.*Reshape your data"),
    "5d": (lambda X: X[:12].reshape(12, 1, 1, 8, 8), r"5 dimension\(s\)"),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rank", list(WRONG_RANK))
@pytest.mark.parametrize("when", ["fit", "score"])
def test_wrong_rank(kind, rank, when, X, trained):
    make, match = WRONG_RANK[rank]
    if kind == "dense" and rank == "5d":
        match = "takes 2-D tabular data"
    if kind == "dense" and rank == "1d":  # scikit-learn's own message
        match = "Expected 2D array, got 1D array"
    data = make(X)
    with pytest.raises(ValueError, match=match):
        if when == "fit":
            build(kind).fit(data)
        else:
            output(trained(kind), data)


def _with_none(X):
    data = X[:20].astype(object)
    data[3, 3] = None
    return data


def _frame_with_strings(X):
    frame = pd.DataFrame(X[:20], columns=[f"px{i}" for i in range(64)])
    frame["px5"] = "dark"
    return frame


def _frame_with_category_strings(X):
    frame = pd.DataFrame(X[:20], columns=[f"px{i}" for i in range(64)])
    frame["px5"] = pd.Categorical(["dark", "light"] * 10)
    return frame


def _frame_with_nan(X):
    frame = pd.DataFrame(X[:20], columns=[f"px{i}" for i in range(64)])
    frame.iloc[4, 9] = np.nan
    return frame


def _matrix(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.asmatrix(X[:20])


NOT_NUMBERS = {
    "ragged-list": (lambda X: [[1.0, 2.0], [3.0]] * 5, ValueError, "could not convert"),
    "strings": (lambda X: np.full((20, 64), "a"), ValueError, "Expected numeric data"),
    "numbers-as-strings": (
        lambda X: X[:20].astype(str),
        ValueError,
        r"X has dtype <U32 \(strings\); if the strings hold numbers, convert "
        r"them with X\.astype\(float\)",
    ),
    "numbers-as-bytes": (
        lambda X: X[:20].astype("S"),
        ValueError,
        r"X has dtype \|S32 \(bytes\); if the strings hold numbers",
    ),
    "object-strings": (
        lambda X: X[:20].astype(str).astype(object),
        ValueError,
        r"X has dtype object and holds strings \(e\.g\. '0\.0'\); if the",
    ),
    "object-with-None": (_with_none, ValueError, "not numbers"),
    "complex": (
        lambda X: X[:20] + 1j,
        ValueError,
        r"\AExpected real numbers \(ints or floats\), but X has dtype "
        r"complex128\. Complex data not supported: pass X\.real[^\n\[]*\Z",
    ),
    "object-complex": (
        lambda X: (X[:20] + 1j).astype(object),
        ValueError,
        r"\AExpected real numbers.*X has dtype object and holds complex numbers "
        r"\(e\.g\. 1j\)\. Complex data not supported[^\n\[]*\Z",
    ),
    "frame-string-column": (
        _frame_with_strings,
        ValueError,
        r"X's column 'px5' \(dtype \w+\) holds strings \(e\.g\. 'dark'\)",
    ),
    "frame-numbers-as-strings": (
        lambda X: pd.DataFrame(X[:20]).astype(str),
        ValueError,
        r"X's column 0 \(dtype \w+\) holds strings \(e\.g\. '0\.0'\)",
    ),
    "frame-category-strings": (
        _frame_with_category_strings,
        ValueError,
        r"column 'px5' \(dtype category\) has categories that hold strings",
    ),
    "frame-with-nan": (_frame_with_nan, ValueError, "contains NaN"),
    "None": (lambda X: None, ValueError, "Got X=None"),
    "sparse": (lambda X: sp.csr_matrix(X[:20]), TypeError, "dense data is required"),
    "np.matrix": (_matrix, TypeError, "np.matrix"),
    "datetime64": (
        lambda X: X[:20].astype("datetime64[s]"),
        ValueError,
        "Expected numeric data",
    ),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "case",
    [c for c in NOT_NUMBERS],
)
def test_not_numbers_at_fit(kind, case, X):
    make, error, match = NOT_NUMBERS[case]
    est = build(kind)
    with pytest.raises(error, match=match):
        est.fit(make(X))
    assert_unfitted(est)


TEXT_AT_SCORE = {
    "numbers-as-strings": (lambda b: b.astype(str), r"dtype <U32 \(strings\)"),
    "object-strings": (
        lambda b: b.astype(str).astype(object),
        r"dtype object and holds strings",
    ),
    "frame-numbers-as-strings": (
        lambda b: pd.DataFrame(b).astype(str),
        r"X's column 0 \(dtype \w+\) holds strings",
    ),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", list(TEXT_AT_SCORE))
def test_numbers_as_text_at_score(kind, case, batch, trained):
    make, match = TEXT_AT_SCORE[case]
    with pytest.raises(ValueError, match=match + r".*X\.astype\(float\)"):
        output(trained(kind), make(batch))


NUMBERS_IN_CONTAINERS = {
    "object": lambda b: b.astype(object),
    "frame": pd.DataFrame,
    "frame-object": lambda b: pd.DataFrame(b).astype(object),
    "frame-Int64": lambda b: pd.DataFrame(b.astype(int)).astype("Int64"),
    "frame-Float64": lambda b: pd.DataFrame(b).astype("Float64"),
    "frame-category": lambda b: pd.DataFrame(b).astype({5: "category"}),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", list(NUMBERS_IN_CONTAINERS))
def test_numbers_in_objects_and_frames_give_the_numpy_answer(
    kind, case, batch, trained
):
    est = trained(kind)
    data = NUMBERS_IN_CONTAINERS[case](batch)
    np.testing.assert_array_equal(output(est, data), output(est, batch))


@pytest.mark.parametrize("kind", KINDS)
def test_booleans_are_read_as_zero_and_one(kind, batch, trained):
    est = trained(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 0/1 vs 0-16: other units
        np.testing.assert_array_equal(
            output(est, batch > 8), output(est, (batch > 8).astype(np.float64))
        )


def test_boolean_training_data_is_read_as_zero_and_one(X, fits):
    mask = X[:40] > 8
    a = fits("bool", lambda: build("conv"), mask)
    b = fits("bool-as-float", lambda: build("conv"), mask.astype(np.float64))
    np.testing.assert_array_equal(a.score_samples(mask), b.score_samples(mask * 1.0))
    assert a.offset_ == b.offset_


TENSORS = {
    "float64": lambda X: torch.tensor(X),
    "requires-grad": lambda X: torch.tensor(X, requires_grad=True),
    "float32": lambda X: torch.tensor(X, dtype=torch.float32),
    "int64": lambda X: torch.tensor(X.astype(np.int64)),
    "bfloat16": lambda X: torch.tensor(X, dtype=torch.bfloat16),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "case",
    list(TENSORS),
)
def test_tensors_give_the_numpy_answer(kind, case, batch, trained):
    """Digits are small integers: exact in every dtype here, bfloat16 too."""
    est = trained(kind)
    tensor = TENSORS[case](batch)
    expected = output(est, batch.astype(np.float32 if case == "float32" else float))
    np.testing.assert_array_equal(output(est, tensor), expected)


@pytest.mark.parametrize("kind", [("conv")])
def test_meta_tensor_is_a_clear_error(kind, trained):
    with pytest.raises(ValueError, match="meta"):
        output(trained(kind), torch.zeros(3, 64, device="meta"))


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def _row_strided(a):
    return np.repeat(a, 2, axis=0)[::2]


def _column_strided(a):
    wide = np.zeros((len(a), 2 * a.shape[1]))
    wide[:, ::2] = a
    return wide[:, ::2]


LAYOUTS = {
    "read-only": _read_only,
    "fortran": np.asfortranarray,
    "row-strided": _row_strided,
    "column-strided": _column_strided,
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_memory_layouts_at_score(kind, layout, batch, trained):
    data = LAYOUTS[layout](batch)
    assert not data.flags.c_contiguous or not data.flags.writeable
    est = trained(kind)
    np.testing.assert_array_equal(output(est, data), output(est, batch))


@pytest.mark.parametrize("layout", ["read-only", "fortran", "row-strided"])
def test_memory_layouts_at_fit(layout, X, batch, fits):
    """Same model as from a contiguous copy (up to float64 summation order
    of the standardisation statistics)."""
    reference = fits("conv-40", lambda: build("conv"), X[:40])
    det = build("conv").fit(LAYOUTS[layout](X[:40]))
    np.testing.assert_allclose(
        det.score_samples(batch), reference.score_samples(batch), rtol=1e-9
    )


DTYPES = [np.int8, np.uint16, np.int64, np.float16]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_small_dtypes_at_score(kind, dtype, batch, trained):
    est = trained(kind)
    np.testing.assert_array_equal(output(est, batch.astype(dtype)), output(est, batch))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_small_dtypes_at_fit(dtype, X, batch, fits):
    reference = fits("conv-40", lambda: build("conv"), X[:40])
    det = build("conv").fit(X[:40].astype(dtype))
    np.testing.assert_array_equal(
        det.score_samples(batch), reference.score_samples(batch)
    )


WRONG_SHAPES = {
    "10-features": (lambda b: b[:, :10], r"X has 10 features, but \w+ is expecting 64"),
    "4x16-images": (
        lambda b: b.reshape(-1, 4, 16),
        r"images of shape \(1, 4, 16\).*fitted on images of shape \(1, 8, 8\)",
    ),
    "4x4-images": (lambda b: b[:, :16].reshape(-1, 1, 4, 4), "X has 16 features"),
    "3-channel": (lambda b: np.zeros((3, 3, 8, 8)), "X has 192 features"),
}


@pytest.mark.parametrize(
    "kind, case",
    [(k, c) for k in CONV_KINDS for c in WRONG_SHAPES]
    + [("dense", "10-features"), ("dense", "4x16-images")],
)
def test_wrong_shape_at_score(kind, case, batch, trained):
    make, match = WRONG_SHAPES[case]
    if kind == "dense" and case != "10-features":
        match = "takes 2-D tabular data"
    est = trained(kind)
    with pytest.raises(ValueError, match=match):
        output(est, make(batch))
    if kind != "transformer":
        with pytest.raises(ValueError, match=match):
            est.predict(make(batch))


@pytest.mark.parametrize("kind", CONV_KINDS)
@pytest.mark.parametrize("when", ["fit", "score"])
@pytest.mark.parametrize("image", [(8, 8, 3), (8, 8, 1), (8, 8, 4), (6, 6, 3)])
def test_channels_last_looking_arrays_name_data_format(kind, when, image, trained):
    data = np.random.RandomState(0).rand(12, *image)
    looks = rf"samples of shape {re.escape(str(image))} look like channels-last.*"
    if when == "fit":
        match = (
            looks + r"Pass data_format='channels_last'.*data_format='channels_first'"
        )
        with pytest.raises(ValueError, match=match):
            build(kind, image_shape=None).fit(data)
        return
    # a fitted model names the layout it was fitted on, and that a
    # data_format set now waits for the next fit (it advised to set the
    # parameter that had just been set, a probe)
    h, w, c = image
    match = looks + (
        r"fitted on channels-first images.*applies from the next fit.*"
        rf"Transpose X to \(n_samples, {c}, {h}, {w}\), or refit with "
        "data_format='channels_last'"
    )
    est = trained(kind)
    with pytest.raises(ValueError, match=match):
        output(est, data)


def _channels_last_fit(kind, form, rgb, fits):
    images = rgb.transpose(0, 2, 3, 1)  # (40, 6, 5, 3)
    data = images if form == "4d" else images.reshape(len(images), -1)
    shape = None if form == "4d" else (6, 5, 3)
    est = fits(
        ("channels-last", kind, form),
        lambda: CLASSES[kind](image_shape=shape, data_format="channels_last", **TINY),
        data,
    )
    return est, data


@pytest.mark.parametrize("kind", CONV_KINDS)
@pytest.mark.parametrize("form", ["4d", "flat"])
def test_channels_last_matches_the_transposed_channels_first(
    kind, form, rgb, fits, fitted_rgb
):
    est, data = _channels_last_fit(kind, form, rgb, fits)
    first = fitted_rgb
    if kind == "transformer":
        first = fits("rgb-transformer", lambda: ConvAutoencoder(**TINY), rgb)
    assert est.image_shape_ == (3, 6, 5)
    np.testing.assert_allclose(output(est, data), output(first, rgb), rtol=1e-9)


@pytest.mark.parametrize("kind", CONV_KINDS)
@pytest.mark.parametrize("form", ["4d", ("flat")])
def test_channels_last_reconstruction_in_the_input_form(
    kind, form, rgb, fits, fitted_rgb
):
    est, data = _channels_last_fit(kind, form, rgb, fits)
    first = fitted_rgb
    if kind == "transformer":
        first = fits("rgb-transformer", lambda: ConvAutoencoder(**TINY), rgb)
    expected = first.reconstruct(rgb).transpose(0, 2, 3, 1).reshape(data.shape)
    np.testing.assert_allclose(est.reconstruct(data), expected, rtol=1e-6, atol=1e-9)


def test_channels_last_detector_refuses_channels_first_images(rgb, fits):
    det, _ = _channels_last_fit("conv", "4d", rgb, fits)
    with pytest.raises(ValueError, match=r"fitted on images of shape \(3, 6, 5\)"):
        det.score_samples(rgb)


@pytest.mark.parametrize("kind", KINDS)
def test_memmap_at_score(kind, batch, trained, tmp_path):
    np.save(tmp_path / "x.npy", batch)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    est = trained(kind)
    np.testing.assert_array_equal(output(est, mm), output(est, batch))


def test_memmap_at_fit_dense(X, batch, fits, tmp_path):
    np.save(tmp_path / "x.npy", X[:40])
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    reference = fits("dense-40", lambda: build("dense"), X[:40])
    det = build("dense").fit(mm)
    np.testing.assert_array_equal(
        det.score_samples(batch), reference.score_samples(batch)
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("when", ["fit", "score"])
def test_lazy_array_with_nan_in_a_late_block(kind, when, trained):
    data = np.random.RandomState(0).rand(600, 64)
    data[555, 17] = np.nan  # in the third block of 256 rows
    if when == "fit" and kind != "dense":
        data = data.reshape(600, 8, 8)
    # counted and located in X, as in memory (it said only "contains NaN")
    located = r"Input X contains NaN: 1 NaN .* of X \(the first: sample 555\)"
    with pytest.raises(ValueError, match=located):
        if when == "fit":
            est = build(kind, image_shape=None) if kind != "dense" else build(kind)
            try:
                est.fit(RecordingArray(data))
            finally:
                assert_unfitted(est)
        else:
            output(trained(kind), RecordingArray(data))


CONSTANT_CASES = [
    ("conv", "hybrid"),
    ("conv", "latent"),
    pytest.param("conv", "reconstruction", id="conv-reconstruction"),
    ("dense", "hybrid"),
    pytest.param("dense", "reconstruction", id="dense-reconstruction"),
]


def _constant_fit(kind, score_type, fits):
    data = np.full((40, 64), 5.0)
    return fits(
        ("constant", kind, score_type),
        lambda: build(kind, score_type=score_type),
        data,
    )


@pytest.mark.parametrize(
    "kind, score_type",
    [
        ("conv", "hybrid"),
        ("conv", "latent"),
        ("conv", "reconstruction"),
        ("dense", "hybrid"),
        ("transformer", None),
    ],
)
def test_constant_training_data(kind, score_type, fits):
    """All pixels equal: fit works and the constant data score finitely."""
    if kind == "transformer":
        est = fits("constant-transformer", lambda: build(kind), np.full((40, 64), 5.0))
    else:
        est = _constant_fit(kind, score_type, fits)
    result = output(est, np.full((5, 64), 5.0))
    assert np.isfinite(result).all()
    assert np.ptp(result, axis=0).max() == 0  # identical samples, identical answers
    if kind != "transformer":
        assert np.isfinite(est.offset_)
        np.testing.assert_array_equal(est.predict(np.full((5, 64), 5.0)), 1)


@pytest.mark.parametrize("value, other", [(0.0, None), (5.0, None), (0.0, 1.0)])
def test_cross_fitted_threshold_flags_no_constant_training_image(value, other):
    """Blank (or constant) images, score_type="reconstruction", "auto": the
    fold networks' squared errors lay a little off the model's own, and
    their 1% quantile put every training image, and every identical new
    one, below the threshold (a probe: 40 of 40 flagged; also with one
    pixel of one image changed). The model flags at most the rate of its
    own training images, tied ones none."""
    X = np.full((40, 8, 8), value)
    if other is not None:
        X[0, 0, 0] = other
    det = ConvAutoencoderOutlierDetector(
        score_type="reconstruction", channels=(4, 4), latent_dim=4, random_state=0
    ).fit(X)
    assert det.calibration == "auto" and len(det.validation_scores_) == 40
    np.testing.assert_array_equal(det.predict(X[1:]), 1)
    np.testing.assert_array_equal(det.predict(np.full((5, 8, 8), value)), 1)
    assert det.offset_ < det.score_samples(X[1:2])[0]
    np.testing.assert_array_equal(det.predict(X[1:] + 1.0), -1)


@pytest.mark.parametrize("kind, score_type", CONSTANT_CASES)
def test_sample_unlike_constant_training_data_is_an_outlier(
    kind, score_type, batch, fits
):
    det = _constant_fit(kind, score_type, fits)
    scores = det.score_samples(batch + 5.0)
    assert np.isfinite(scores).all()
    np.testing.assert_array_equal(det.predict(batch + 5.0), -1)


@pytest.mark.parametrize("kind", DETECTORS)
def test_copies_of_a_few_samples_score_in_range(kind, digits):
    """Each training sample repeated 30 times (oversampled images, tabular
    data of a few distinct rows): the kNN terms keep one reference per
    distinct sample, so a sample a hair from a training one scores as it
    does. Before, the density term's reference densities were zero and
    such a sample scored about -1e7, like every other new one."""
    base = digits[0][:8]
    det = build(kind, epochs=2).fit(np.repeat(base, 30, axis=0))
    exact = det.score_samples(base)
    near = det.score_samples(base + 1e-6)
    assert np.isfinite(near).all()
    np.testing.assert_allclose(near, exact, rtol=1e-4)
    assert det.score_samples(digits[0][100:110]).min() > -1e3
    references = [
        term.reference.shape[0]
        for term in det.scorer_.terms.values()
        if hasattr(term, "reference")
    ]
    assert references and max(references) == 8


def test_repeated_training_images_rank_as_the_images_once(digits):
    """The default detector on 104 images of a 3, each 20 times: the same
    ranking of new digits as on the images once, within a few thousandths
    of AUROC (0.80 against 0.95 before the kNN terms kept distinct
    references: every new image then scored about -1e7 and was flagged)."""
    X, y = digits
    images = X.reshape(-1, 8, 8)
    train = images[:1000][y[:1000] == 3]
    test, normal = images[1000:], y[1000:] == 3
    once = ConvAutoencoderOutlierDetector(random_state=0).fit(train)
    copies = ConvAutoencoderOutlierDetector(random_state=0).fit(
        np.repeat(train, 20, axis=0)
    )
    scores = copies.score_samples(test)
    assert np.median(scores[normal]) > -10
    assert (copies.predict(test[normal]) == 1).mean() > 0.5
    auc_once = roc_auc_score(normal, once.score_samples(test))
    assert roc_auc_score(normal, scores) > auc_once - 0.03


@pytest.mark.parametrize("kind", [("conv")])
def test_one_absurd_training_pixel(kind, X):
    """1e38 in one training pixel: that sample is the outlier of the fit."""
    data = X[:40].copy()
    data[0, 27] = 1e38
    det = build(kind).fit(data)
    scores = det.score_samples(data)
    assert np.isfinite(scores).all() and np.argmin(scores) == 0


@pytest.mark.parametrize("kind", DETECTORS)
@pytest.mark.parametrize("where", ["row", "column"])
def test_largest_floats_in_a_row_or_a_constant_column(kind, where, X):
    """1.7e308 (above 2**1023) across a sample, or in a column that is
    otherwise constant: the fit's power-of-two normaliser must stay finite."""
    data = X[:40].copy()
    if where == "row":
        data[3, :] = 1.7e308
    else:
        data[:, 0] = 0.0
        data[3, 0] = 1.7e308
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        det = build(kind).fit(data)
        scores = det.score_samples(data)
    assert np.isfinite(scores).all() and np.argmin(scores) == 3


@pytest.mark.parametrize("kind", DETECTORS)
def test_largest_floats_leak_no_numpy_warning(kind, X):
    """Values at +-float64's largest fit and score finitely, and numpy's
    overflow warnings stay inside: the robust bounds' width and sklearn's
    finiteness check (a sum) warned on every call (a probe)."""
    big = np.finfo(np.float64).max
    data = np.where(np.random.RandomState(0).rand(*X[:40].shape) > 0.5, big, -big)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        det = build(kind).fit(data)
        assert np.isfinite(det.score_samples(data)).all()
        assert np.isfinite(det.score_samples(X[:5] * 0 + big)).all()


def _scaled_data(scale, offset):
    rng = np.random.RandomState(0)
    base = rng.rand(100, 1, 4, 4)
    outliers = base[:20].copy()
    outliers[:, 0, 1:3, 1:3] += 4.0  # a bright 2x2 patch
    train = scale * base[40:] + offset
    test = scale * np.r_[base[20:40], outliers] + offset
    return train, test


@pytest.mark.parametrize("kind", DETECTORS)
@pytest.mark.parametrize(
    "scale, offset",
    [
        (1e-20, 0.0),
        (1e19, 0.0),
        (1.0, 1e9),
        (1e160, 0.0),
        (1e-200, 0.0),
    ],
    ids=["scale-1e-20", "scale-1e19", "offset-1e9", "scale-1e160", "scale-1e-200"],
)
def test_units_far_from_one(kind, scale, offset):
    """Finite, discriminating scores whatever the units (default score)."""
    train, test = _scaled_data(scale, offset)
    if kind == "dense":
        train, test = train.reshape(len(train), -1), test.reshape(len(test), -1)
    if kind == "conv":
        det = build(kind, epochs=2, image_shape=None)
    else:
        det = build(kind, epochs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        scores = det.fit(train).score_samples(test)
    assert np.isfinite(scores).all()
    assert roc_auc_score(np.r_[np.ones(20), np.zeros(20)], scores) > 0.9


@pytest.mark.parametrize("kind", DETECTORS)
@pytest.mark.parametrize("fit_units", ["uint8", "unit-float"])
def test_data_in_other_units_warn(kind, fit_units, fits):
    images = (np.random.RandomState(1).rand(40, 64) * 255).astype(np.uint8)
    floats = images / 255.0
    train, other = (images, floats) if fit_units == "uint8" else (floats, images)
    det = fits(("units", kind, fit_units), lambda: build(kind), train)
    with pytest.warns(UserWarning, match="other units"):
        det.score_samples(other)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        det.score_samples(train)  # the training units: silent


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_inputs_are_never_modified(kind, dtype, X):
    data = X[:40].astype(dtype)
    assert data.flags.writeable
    before = data.copy()
    est = build(kind).fit(data)
    methods = ["encode", "reconstruct", "anomaly_map"]
    if kind == "transformer":
        methods += ["transform"]
    else:
        methods += ["score_samples", "decision_function", "predict"]
    for name in methods:
        getattr(est, name)(data)
    codes = est.encode(data)
    codes_before = codes.copy()
    est.decode(codes)
    if kind != "transformer":
        est.set_threshold_from(data, false_positive_rate=0.1)
    np.testing.assert_array_equal(data, before)
    np.testing.assert_array_equal(codes, codes_before)


@pytest.mark.parametrize(
    "kind, method",
    [
        ("conv", "decode"),
        ("transformer", "inverse_transform"),
    ],
)
def test_codes_beyond_float32(kind, method, trained):
    """Either a clear error about Z or finite images, never silent NaN."""
    est = trained(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            images = getattr(est, method)(np.full((3, 2), 1e300))
        except ValueError as exc:
            assert "Z" in str(exc) or "X" in str(exc)
        else:
            assert np.isfinite(images).all()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "Z, match",
    [
        (np.full((3, 2), np.nan), "Input Z contains NaN"),
        (np.zeros((3, 3)), r"Z with 3 columns.*latent_dim=2"),
        (np.zeros((0, 2)), r"0 sample\(s\)"),
    ],
    ids=["nan", "3-columns", "empty"],
)
def test_bad_codes_at_decode(kind, Z, match, trained):
    with pytest.raises(ValueError, match=match):
        trained(kind).decode(Z)


# ==============================================================================
# 2. Parameters
# ==============================================================================
ALL, CONV, DET, CONV_DET, DENSE = (
    tuple(KINDS),
    ("conv", "transformer"),
    ("conv", "dense"),
    ("conv",),
    ("dense",),
)
SGD_INSTANCE = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)

BAD_PARAMETERS = [
    # (parameter, value, estimators, message regex beyond the parameter's name)
    ("latent_dim", 0, ALL, r"range \[1, inf\)"),
    ("latent_dim", -1, ALL, r"range \[1, inf\)"),
    ("latent_dim", 1.5, ALL, "an int"),
    ("latent_dim", "8", ALL, "an int"),
    ("latent_dim", 1025, ALL, r"samples of 64 values.*latent_dim <= 1024"),
    ("latent_dim", True, ALL, r"a boolean, but expected an int in the range"),
    ("max_epochs", True, ALL, r"a boolean, but expected an int in the range"),
    ("n_neighbors", np.True_, DET, r"an int in the range.*Got np.True_"),
    ("n_neighbors", True, DET, r"a boolean, but expected an int"),
    ("n_jobs", True, ALL, r"a boolean, but expected an instance of 'int'"),
    ("channels", (), CONV, "non-empty tuple of positive ints"),
    ("channels", (0,), CONV, "positive ints"),
    ("channels", (4, -1), CONV, "positive ints"),
    ("channels", "8", CONV, "tuple"),
    ("channels", (4,) * 20, CONV, "20 pooling blocks.*8x8 pixels"),
    ("kernel_size", 4, CONV, "odd int"),
    ("kernel_size", 0, CONV, r"range \[1, inf\)"),
    ("lr", 0, ALL, r"range \(0.0, 3.40\d*e\+38\]"),
    ("lr", -1, ALL, r"range \(0.0, 3.40\d*e\+38\]"),
    # beyond float32 (torch's Adam failed: "cannot be converted to type
    # float without overflow", a probe)
    ("lr", 1e39, ALL, r"range \(0.0, 3.40\d*e\+38\]"),
    ("weight_decay", 1e39, ALL, r"range \[0.0, 3.40\d*e\+38\]"),
    ("lr", float("inf"), ALL, "Got inf"),
    ("lr", float("nan"), ALL, "Got nan"),
    ("max_epochs", 0, ALL, r"range \[1, inf\)"),
    ("batch_size", 0, ALL, r"range \[1, inf\)"),
    ("batch_size", "big", ALL, "auto"),
    ("optimizer", int, ALL, "Got <class 'int'>"),
    ("optimizer", "lbfgs", ALL, "Got 'lbfgs'"),
    ("optimizer", SGD_INSTANCE, ALL, r"not\s+an instance"),
    ("weight_decay", -1, ALL, r"range \[0.0, 3.40\d*e\+38\]"),
    ("validation_fraction", 0, ALL, r"range \(0.0, 1.0\)"),
    ("validation_fraction", 1, ALL, r"range \(0.0, 1.0\)"),
    ("validation_fraction", 0.01, ALL, "leaves 0 of n_samples=10 for validation"),
    ("n_iter_no_change", 0, ALL, r"range \[1, inf\)"),
    ("noise_std", -1, ALL, r"range \[0.0, inf\)"),
    ("mask_fraction", 1.0, ALL, r"range \[0.0, 1.0\)"),
    ("contamination", 0, DET, r"range \(0.0, 0.5\]"),
    ("contamination", 0.6, DET, r"range \(0.0, 0.5\]"),
    ("contamination", "high", DET, "auto"),
    ("threshold", -1, DET, r"range \[0.0, inf\)"),
    ("score_type", "mse", DET, "hybrid"),
    ("n_neighbors", 0, DET, r"range \[1, inf\)"),
    ("score_smoothing", 2, CONV_DET, "odd int"),
    ("score_top_fraction", 0, CONV_DET, r"range \(0.0, 1.0\]"),
    ("score_top_fraction", 1.5, CONV_DET, r"range \(0.0, 1.0\]"),
    ("device", "gpu", ALL, "torch does not know"),
    ("device", "meta", ALL, "meta device holds no data"),
    ("device", "cuda:9", ALL, "CUDA"),
    ("device", "tpu", ALL, "expected 'auto'"),
    ("n_jobs", 0, ALL, "positive number of threads"),
    ("image_shape", (0, 3), CONV, "positive ints"),
    ("image_shape", (8,), CONV, r"\(H, W\) or \(C, H, W\)"),
    ("image_shape", (8, 9), CONV, "72 values per image.*64 features"),
    ("data_format", "NHWC", CONV, "channels_first"),
    ("callbacks", ["x"], ALL, "skorch Callback"),
    ("memory", 3, ALL, "cache"),
    ("random_state", "seed", ALL, "RandomState"),
    ("hidden_layer_sizes", (0,), DENSE, "positive ints"),
    ("hidden_layer_sizes", "8", DENSE, "tuple"),
]


def _short(value):
    if isinstance(value, torch.optim.Optimizer):
        return "SGD-instance"
    return repr(value)[:24]


@pytest.mark.parametrize(
    "kind, name, value, match",
    [
        pytest.param(kind, name, value, match, id=f"{kind}-{name}={_short(value)}")
        for name, value, kinds, match in BAD_PARAMETERS
        for kind in kinds
    ],
)
def test_bad_parameter(kind, name, value, match, X):
    est = build(kind, **{name: value})
    start = time.perf_counter()
    with pytest.raises(ValueError, match=rf"(?s)(?=.*\b{name}\b).*{match}"):
        est.fit(X[:10])
    assert time.perf_counter() - start < 1.0  # refused before any training
    assert_unfitted(est)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "params", [{"verbose": True}, {"verbose": np.False_}, {"mixed_precision": True}]
)
def test_booleans_where_a_boolean_is_meant(kind, params, X, capsys):
    # bools are refused for numeric parameters only, never for verbose and
    # flags: verbose=True is how users ask for the progress table
    est = build(kind, **params).fit(X[:40])
    assert est.n_iter_ == 1
    assert ("train_loss" in capsys.readouterr().out) == bool(params.get("verbose"))


def test_memory_that_is_a_file(X, tmp_path):
    path = tmp_path / "cache.txt"
    path.write_text("not a folder")
    est = build("conv", memory=str(path))
    with pytest.raises(NotADirectoryError, match="cache.txt"):
        est.fit(X[:10])
    assert_unfitted(est)


# ==============================================================================
# 3. Faults
# ==============================================================================
class Interrupt(Callback):
    """Ctrl-C mid-way through epoch 1 ("first") or at the end of the last."""

    def __init__(self, when="first"):
        self.when = when

    def on_batch_end(self, net, **kwargs):
        if self.when == "first" and len(net.history) == 1:
            raise KeyboardInterrupt

    def on_epoch_end(self, net, **kwargs):
        if self.when == "last" and len(net.history) == net.max_epochs:
            raise KeyboardInterrupt


class Boom(Callback):
    def on_epoch_begin(self, net, **kwargs):
        raise RuntimeError("boom from a user callback")


class WreckWeights(Callback):
    """Blows the weights up after the last recorded loss."""

    def on_train_end(self, net, **kwargs):
        with torch.no_grad():
            for p in net.module_.parameters():
                p.mul_(1e4)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("when", ["first", "last"])
def test_keyboard_interrupt(kind, when, X, tmp_path):
    est = build(kind, epochs=2).fit(X[:20])  # fitted before: must end unfitted
    est.set_params(callbacks=[Interrupt(when)], memory=str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        est.fit(X[:20])
    assert_unfitted(est)
    assert list(tmp_path.rglob("output.pkl")) == []  # nothing cached


@pytest.mark.parametrize("kind", KINDS)
def test_callback_error_propagates_unchanged(kind, X):
    est = build(kind, callbacks=[Boom()])
    with pytest.raises(RuntimeError, match="^boom from a user callback$"):
        est.fit(X[:20])
    assert_unfitted(est)


@pytest.mark.parametrize("kind", KINDS)
def test_weights_wrecked_after_training(kind, X):
    est = build(kind, callbacks=[WreckWeights()])
    # the message names the rate trained at: lr="auto" gives 20 rows (80
    # steps) the highest, 8e-3
    rate = 0.008 if est.lr == "auto" else est.lr
    with pytest.raises(FloatingPointError, match=f"Training diverged.*lr={rate}") as e:
        est.fit(X[:20])
    assert_unfitted(est)
    # it trained with Adam (the default): no hint to try the optimizer in use
    assert "optimizer=" not in str(e.value)


@pytest.mark.parametrize("kind", KINDS)
def test_huge_sgd_learning_rate(kind, X):
    est = build(kind, optimizer="sgd", lr=1e12)
    with pytest.raises(
        FloatingPointError, match=r"lr=1000000000000\.0.*lower lr.*optimizer='adam'"
    ):
        est.fit(X[:20])
    assert_unfitted(est)


@pytest.mark.parametrize("kind", KINDS)
def test_a_loss_that_blows_up_but_stays_finite(kind, X):
    """lr=100 with Adam takes the loss to ~1e20, finite: no NaN to catch,
    and the fit used to succeed with scores ranking worse than chance."""
    est = build(kind, lr=100.0)
    with pytest.raises(
        FloatingPointError,
        match=r"more than 2 times the error of predicting the mean.*lr=100\.0.*lower",
    ):
        est.fit(X[:60])
    assert_unfitted(est)


def test_a_masked_denoising_fit_is_not_called_diverged():
    """Trained on 90% masked inputs, the default dense detector reconstructs
    clean rows worse than their mean would (a review: the divergence check
    refused it); checked on inputs masked as in training, it fits."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    det = AutoencoderOutlierDetector(mask_fraction=0.9, random_state=0)
    det.fit(X[y == 1][:200])
    assert roc_auc_score(y == 0, -det.score_samples(X)) > 0.9


def _nan_network(est):
    est = copy.deepcopy(est)
    with torch.no_grad():
        for p in est.net_.module_.parameters():
            p.fill_(float("nan"))
    return est


@pytest.mark.parametrize("kind", DETECTORS)
@pytest.mark.parametrize("method", ["score_samples", "decision_function", "predict"])
def test_nan_network_never_labels(kind, method, batch, trained):
    det = _nan_network(trained(kind))
    with pytest.raises(FloatingPointError, match=r"12 sample\(s\) of X are not finite"):
        getattr(det, method)(batch)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method", ["encode", "reconstruct", "anomaly_map", "decode"])
def test_nan_network_never_gives_quiet_nan(kind, method, batch, trained):
    """encode, reconstruct, anomaly_map and decode raise too, for every
    estimator (the transformer's codes included)."""
    est = _nan_network(trained(kind))
    data = np.zeros((3, 2)) if method == "decode" else batch
    with pytest.raises(FloatingPointError, match="are not finite for"):
        getattr(est, method)(data)


GRAD_MODES = {
    "inference_mode": torch.inference_mode,
    "no_grad": torch.no_grad,
    "set_grad_enabled(False)": lambda: torch.set_grad_enabled(False),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", list(GRAD_MODES))
def test_fit_inside_grad_free_context(kind, mode, X, batch, fits):
    reference = fits(("grad", kind), lambda: build(kind), X[:40])
    with GRAD_MODES[mode]():
        est = build(kind).fit(X[:40])
        inside = output(est, batch)
    assert torch.is_grad_enabled()
    np.testing.assert_array_equal(inside, output(reference, batch))


@pytest.mark.parametrize("kind", KINDS)
def test_set_params_after_fit_changes_nothing_until_refit(kind, X, batch, trained):
    est = copy.deepcopy(trained(kind))
    before = output(est, batch)
    offset = getattr(est, "offset_", None)
    params = dict(latent_dim=3, lr=0.01, max_epochs=1, random_state=7)
    if kind != "transformer":
        params.update(contamination=0.4, n_neighbors=2)
    if kind != "dense":
        params.update(channels=(8,))
    est.set_params(**params)
    np.testing.assert_array_equal(output(est, batch), before)
    assert getattr(est, "offset_", None) == offset
    assert est.encode(batch).shape == (12, 2)
    est.fit(X[:40])
    assert est.encode(batch).shape == (12, 3)


RATES = {"1-1e-12": 1 - 1e-12, "1e-12": 1e-12, "1e-320": 1e-320}


@pytest.mark.parametrize("kind", DETECTORS)
@pytest.mark.parametrize("source", ["X_normal", "validation_scores"])
@pytest.mark.parametrize("rate", list(RATES))
def test_set_threshold_from_extreme_rates(kind, source, rate, X, trained):
    det = copy.deepcopy(trained(kind))
    held_out = X[300:320]
    if source == "X_normal":
        det.set_threshold_from(held_out, false_positive_rate=RATES[rate])
        scores = det.score_samples(held_out)
        flagged = int(np.sum(det.predict(held_out) == -1))
    else:
        det.set_threshold_from(false_positive_rate=RATES[rate])
        scores = det.validation_scores_
        flagged = int(np.sum(scores < det.offset_))
    k = len(scores) - 1 if rate == "1-1e-12" else 0
    assert det.offset_ == np.sort(scores)[k]
    assert flagged == np.sum(scores < np.sort(scores)[k]) <= k
    if rate in ("1e-12", "1e-320"):
        assert flagged == 0


@pytest.mark.parametrize(
    "rate, needed",
    [
        (0.01, "100"),
        (1e-12, "1000000000000"),
        (1e-300, "1e+300"),
        (1e-320, "1e308 or more"),
    ],
)
def test_set_threshold_from_names_the_samples_a_tiny_rate_needs(
    X, trained, rate, needed
):
    # 1 / 1e-320 is inf: math.ceil of it raised OverflowError
    det = copy.deepcopy(trained("conv"))
    with pytest.warns(UserWarning, match=f"fewer than the {re.escape(needed)} that"):
        det.set_threshold_from(X[300:320], false_positive_rate=rate)
    expected = needed if needed.endswith("more") else f"at least {needed}"
    with pytest.warns(UserWarning, match=f"Expected {re.escape(expected)} held-out"):
        det.set_threshold_from(X[300:320], false_positive_rate=rate)


@pytest.mark.parametrize("kind", DETECTORS)
def test_set_threshold_from_without_validation_scores(kind, trained):
    det = copy.deepcopy(trained(kind))
    del det.validation_scores_
    offset = det.offset_
    with pytest.raises(ValueError, match="X_normal=None.*no validation scores"):
        det.set_threshold_from(false_positive_rate=0.1)
    assert det.offset_ == offset


@pytest.mark.parametrize("kind", DETECTORS)
@pytest.mark.parametrize(
    "X_normal, rate, match",
    [
        (np.full((5, 64), np.nan), 0.1, "Input X contains NaN"),
        (np.zeros((5, 10)), 0.1, "X has 10 features"),
        (np.zeros((5, 64)), float("nan"), "false_positive_rate"),
        (np.zeros((5, 64)), True, "false_positive_rate"),
    ],
    ids=["nan-X", "wrong-width", "nan-rate", "bool-rate"],
)
def test_set_threshold_from_bad_input_keeps_the_offset(
    kind, X_normal, rate, match, trained
):
    det = copy.deepcopy(trained(kind))
    offset = det.offset_
    with pytest.raises(ValueError, match=match):
        det.set_threshold_from(X_normal, false_positive_rate=rate)
    assert det.offset_ == offset


def test_transformer_has_no_threshold(fitted_transformer):
    assert not hasattr(fitted_transformer, "offset_")
    with pytest.raises(AttributeError, match="set_threshold_from"):
        fitted_transformer.set_threshold_from(false_positive_rate=0.1)


UNFITTED = {
    "conv": [
        "score_samples",
        "decision_function",
        "predict",
        "encode",
        "decode",
        "reconstruct",
        "anomaly_map",
        "set_threshold_from",
    ],
    "transformer": [
        "transform",
        "inverse_transform",
        "encode",
        "decode",
        "reconstruct",
        "anomaly_map",
        "get_feature_names_out",
    ],
}
UNFITTED["dense"] = UNFITTED["conv"]


@pytest.mark.parametrize(
    "kind, method", [(k, m) for k, methods in UNFITTED.items() for m in methods]
)
def test_unfitted_calls(kind, method):
    est = build(kind)
    args = {
        "decode": (np.zeros((3, 2)),),
        "inverse_transform": (np.zeros((3, 2)),),
        "get_feature_names_out": (),
        "set_threshold_from": (np.zeros((3, 64)),),
    }.get(method, (np.zeros((3, 64)),))
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(est, method)(*args)


# ==============================================================================
# 4. Threads
# ==============================================================================
@pytest.fixture
def caller_threads():
    """torch set to 3 threads by the caller (the suite pins it to 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    yield 3
    torch.set_num_threads(before)


def _fit_in_four_threads(kind, X, batch):
    results, errors = [None] * 4, []

    def fit(i):
        try:
            results[i] = output(build(kind, n_jobs=1).fit(X[:40]), batch)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fit, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


@pytest.mark.parametrize("kind", KINDS)
def test_concurrent_fits_are_bit_identical(kind, X, batch):
    """Caller at 1 thread (as the suite pins it), n_jobs=1 everywhere."""
    assert torch.get_num_threads() == 1
    reference = output(build(kind, n_jobs=1).fit(X[:40]), batch)
    rng_state = torch.get_rng_state()
    for result in _fit_in_four_threads(kind, X, batch):
        np.testing.assert_array_equal(result, reference)
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert torch.get_num_threads() == 1
    assert _threads._active == 0


@pytest.mark.parametrize("kind", KINDS)
def test_concurrent_fits_restore_the_callers_thread_count(
    kind, X, batch, caller_threads
):
    """Caller at 3 threads: restored once all four are done; the answers are
    bit-identical (skcae computes at one intra-op thread whatever the
    caller's count: see test_n_jobs_governs_every_torch_op)."""
    reference = output(build(kind, n_jobs=1).fit(X[:40]), batch)
    rng_state = torch.get_rng_state()
    for result in _fit_in_four_threads(kind, X, batch):
        np.testing.assert_array_equal(result, reference)
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert torch.get_num_threads() == caller_threads
    assert _threads._active == 0


@pytest.mark.parametrize(
    "kind",
    [
        ("conv"),
        ("dense"),
    ],
)
def test_n_jobs_governs_every_torch_op(kind, X, batch, caller_threads, monkeypatch):
    import skcae._knn_terms

    seen = []
    original = skcae._knn_terms.knn_distance

    def recorded(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(skcae._knn_terms, "knn_distance", recorded)
    build(kind, n_jobs=1).fit(X[:40]).score_samples(batch)
    assert seen and set(seen) == {1}


@pytest.mark.parametrize(
    "kind, n_jobs", [("conv", 1), ("dense", 1), ("transformer", 1), ("transformer", 2)]
)
def test_n_jobs_is_used_and_the_callers_count_restored(
    kind, n_jobs, X, batch, caller_threads
):
    """(Two threads only for the one-network transformer on 8 samples: on a
    busy 2-core machine OpenMP spinning makes them slow.)"""
    est = build(kind, n_jobs=n_jobs).fit(X[:8])
    assert est.net_.history[:, "torch_threads"] == [n_jobs]
    assert torch.get_num_threads() == caller_threads
    output(est, batch)
    assert torch.get_num_threads() == caller_threads


@pytest.mark.parametrize("kind", KINDS)
def test_default_threads_are_the_callers_count_at_most_the_cpus(kind, X):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        est = build(kind, epochs=2).fit(X[:20])  # n_jobs=None
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    workers = min(2, len(_threads._allowed_cpus()))
    assert est.net_.history[:, "torch_threads"] == [workers, workers]


def test_auto_threshold_from_a_few_calibration_scores_warns(X):
    # after a fit on 2 images every new image was flagged, silently
    det = ConvAutoencoderOutlierDetector(**dict(TINY, score_type="density"))
    with pytest.warns(UserWarning, match="from 2 calibration score.s. .fewer than 10"):
        det.fit(X[:2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ConvAutoencoderOutlierDetector(**TINY).fit(X[:20])  # enough: no warning


def test_the_few_scores_warning_says_that_nothing_may_be_flagged(X):
    """On 2 images (a 0 and a 1) the fold networks (one image each) set the
    threshold below any score the model gives: values of 1e30 were not
    flagged, and the warning spoke only of flagging too much (a probe).
    The warning now says both, in words that fit tabular rows too."""
    settings = dict(TINY, image_shape=(8, 8), max_epochs=2)
    with pytest.warns(UserWarning, match="calibration score") as record:
        det = ConvAutoencoderOutlierDetector(**settings).fit(X[:2])
    (message,) = [
        str(w.message) for w in record if "calibration score" in str(w.message)
    ]
    assert "nothing is flagged (values of 1e30 included)" in message
    assert "a fit on 2 samples once flagged every new one" in message
    junk = np.random.RandomState(0).rand(5, 64) * 1e30
    # what the warning describes (if a refit flags these one day, reword it)
    assert (det.predict(junk) == 1).all()


def test_a_network_trained_on_a_handful_of_a_large_x_warns(X):
    """validation_fraction=0.99 of 60 samples trained the network on one and
    calibrated on 59, silently: offset_ -9.5e5, nothing flagged (a probe)."""
    settings = dict(TINY, image_shape=(8, 8))
    with pytest.warns(
        UserWarning,
        match=r"validation_fraction=0.99\), so the network "
        r"trained on 1 \(fewer than 10\).*smaller validation_fraction",
    ):
        ConvAutoencoderOutlierDetector(validation_fraction=0.99, **settings).fit(X[:60])
    with pytest.warns(
        UserWarning,
        match=r"took 10 of the 19 samples, so the network "
        r"trained on 9 .*calibration='cross_fit'",
    ):
        ConvAutoencoderOutlierDetector(calibration="holdout", **settings).fit(X[:19])
    # a float rate (no "auto" warning of few calibration scores): as well
    with pytest.warns(UserWarning, match=r"took 9 of the 10 samples .*trained on 1"):
        ConvAutoencoderOutlierDetector(
            validation_fraction=0.9, contamination=0.1, **settings
        ).fit(X[:10])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ConvAutoencoderOutlierDetector(validation_fraction=0.2, **settings).fit(X[:60])


def test_kernels_larger_than_the_images_and_closure_optimisers_are_refused(X):
    images = X[:20].reshape(-1, 8, 8)
    with pytest.raises(
        ValueError, match="kernel_size=17 for 8x8 images; expected at most 15"
    ):
        ConvAutoencoderOutlierDetector(**dict(TINY, kernel_size=17)).fit(images)
    with pytest.raises(ValueError, match="kernel_size=1000000000001 for 8x8"):
        ConvAutoencoderOutlierDetector(**dict(TINY, kernel_size=10**12 + 1)).fit(images)
    for optimizer in (torch.optim.LBFGS, torch.optim.SparseAdam):
        with pytest.raises(ValueError, match=f"optimizer={optimizer.__name__}, which"):
            ConvAutoencoderOutlierDetector(**dict(TINY, optimizer=optimizer)).fit(
                X[:20]
            )
