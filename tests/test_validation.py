"""skcae._validation: every input form, checked in one place."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from _lazy import RecordingArray
from _settings import TINY, TINY_DENSE

from skcae import AutoencoderOutlierDetector, ConvAutoencoderOutlierDetector
from skcae._data import BLOCK_ROWS
from skcae._validation import as_samples, validate_input


def _memmap(tmp_path, array, mode="r"):
    path = tmp_path / "x.npy"
    np.save(path, array)
    return np.load(path, mmap_mode=mode)


# -- forms ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "X, image_shape, expected",
    [
        (np.zeros((4, 64)), (8, 8), (1, 8, 8)),
        (np.zeros((4, 192)), (3, 8, 8), (3, 8, 8)),
        (np.zeros((4, 8, 8)), None, (1, 8, 8)),
        (np.zeros((4, 3, 8, 8)), None, (3, 8, 8)),
        (np.zeros((4, 5)), None, (1, 1, 5)),
        (pd.DataFrame(np.zeros((4, 64))), (8, 8), (1, 8, 8)),
        (torch.zeros(4, 1, 8, 8), None, (1, 8, 8)),
        (torch.zeros(4, 1, 8, 8, requires_grad=True), None, (1, 8, 8)),
        ([[0.0] * 6] * 3, (2, 3), (1, 2, 3)),
    ],
    ids=[
        "flat",
        "flat-rgb",
        "gray",
        "nchw",
        "signal",
        "frame",
        "tensor",
        "grad",
        "list",
    ],
)
def test_forms_give_nchw_rows(X, image_shape, expected):
    det = ConvAutoencoderOutlierDetector(image_shape=image_shape)
    data = validate_input(det, X, reset=True)
    assert det.image_shape_ == expected
    assert data.rows.shape == (len(X), *expected)
    assert det.n_features_in_ == int(np.prod(expected))
    assert det.input_shape_ == tuple(np.shape(X)[1:])


def test_rows_are_a_view_and_never_written():
    X = np.random.RandomState(0).rand(4, 8, 8)
    X.flags.writeable = False
    data = validate_input(ConvAutoencoderOutlierDetector(), X, reset=True)
    assert np.shares_memory(data.rows, X)


# -- channels-last -------------------------------------------------------------------
CHANNELS_LAST_LOOKING = [
    (5, 32, 32, 3),
    (5, 8, 8, 1),
    (5, 16, 16, 4),
    (5, 8, 8, 4),  # small images: 4 < 8, though not 2 * 4 < 8
    (5, 6, 6, 3),
    (5, 5, 7, 2),
    (5, 5, 2, 1),
    (5, 9, 5, 4),  # H != W
]


@pytest.mark.parametrize("shape", CHANNELS_LAST_LOOKING)
def test_channels_last_looking_input_is_refused_with_the_fix(shape):
    h, w, c = shape[1:]
    match = (
        rf"Got X of shape={re.escape(str(shape))}, whose samples of shape "
        rf"{re.escape(str(shape[1:]))} look like channels-last images "
        rf"\(H={h}, W={w}, C={c}\).*reads them as {h} channels of {w}x{c} "
        r"images\. Pass data_format='channels_last' to read them as \(H, W, C\), "
        r"data_format='channels_first' to keep \(C, H, W\)"
    )
    with pytest.raises(ValueError, match=match):
        validate_input(ConvAutoencoderOutlierDetector(), np.zeros(shape), reset=True)


@pytest.mark.parametrize("shape", CHANNELS_LAST_LOOKING)
@pytest.mark.parametrize("data_format", ["channels_first", "channels_last"])
def test_data_format_settles_channels_last_looking_input(shape, data_format):
    X = np.random.RandomState(0).rand(*shape)
    det = ConvAutoencoderOutlierDetector(data_format=data_format)
    data = validate_input(det, X, reset=True)
    if data_format == "channels_first":
        assert det.image_shape_ == shape[1:]
        np.testing.assert_array_equal(data.rows, X)
    else:
        assert det.image_shape_ == (shape[3], shape[1], shape[2])
        np.testing.assert_array_equal(data.rows, X.transpose(0, 3, 1, 2))
    assert det.input_shape_ == shape[1:]


@pytest.mark.parametrize("data_format", [None, "channels_last", "channels_first"])
@pytest.mark.parametrize("shape", [(48, 64, 3), (8, 8, 3), (30, 20, 4)])
def test_one_colour_image_warns_with_the_fix(shape, data_format):
    """A photo's array (H, W, C) given to fit read silently as H gray images
    of W x C pixels, whatever data_format said. Three-channel signals
    (n, T, 3) look the same, so it warns (and image_shape silences it)."""
    h, w, c = shape
    det = ConvAutoencoderOutlierDetector(data_format=data_format)
    match = (
        rf"X of shape {re.escape(str(shape))} reads as {h} gray images of {w}x{c} "
        rf"pixels, but it looks like one colour image \(H={h}, W={w}, C={c}\)"
        rf".*np\.stack\(images\).*image_shape=\({w}, {c}\)"
    )
    with pytest.warns(UserWarning, match=match):
        data = validate_input(det, np.zeros(shape), reset=True)
    assert data.rows.shape == (h, 1, w, c)  # read as before
    det = ConvAutoencoderOutlierDetector(data_format=data_format, image_shape=(w, c))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert validate_input(det, np.zeros(shape), reset=True).rows.shape == (
            h,
            1,
            w,
            c,
        )


@pytest.mark.parametrize("shape", [(100, 64, 1), (9, 7, 1), (40, 32, 2), (5, 2, 3)])
def test_signals_and_narrow_images_do_not_warn(shape):
    """(n, T, 1) signals and narrow gray images read as they always did."""
    det = ConvAutoencoderOutlierDetector()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = validate_input(det, np.zeros(shape), reset=True)
    assert data.rows.shape == (shape[0], 1, *shape[1:])


def test_integer_and_channels_last_images_are_not_copied_whole():
    """A probe: 90 MB of uint8 images took +810 MB to score (all of X made
    float64 first), and channels-last images were transposed into a full
    copy; both are now read block by block, as a memmap is."""
    X = np.random.RandomState(0).randint(0, 256, (20, 8, 8, 3)).astype(np.uint8)
    det = ConvAutoencoderOutlierDetector(data_format="channels_last")
    data = validate_input(det, X, reset=True)
    assert data.rows.dtype == np.uint8 and np.shares_memory(data.rows, X)
    np.testing.assert_array_equal(data.rows, X.transpose(0, 3, 1, 2))
    floats = X.astype(np.float32)
    data = validate_input(det, floats, reset=False)
    assert np.shares_memory(data.rows, floats) and data.channels_last
    gray = validate_input(ConvAutoencoderOutlierDetector(), X[..., 0], reset=True)
    assert gray.rows.dtype == np.uint8 and np.shares_memory(gray.rows, X)


def test_channels_last_looking_lazy_input_is_refused_too():
    with pytest.raises(ValueError, match="data_format='channels_last'"):
        validate_input(
            ConvAutoencoderOutlierDetector(),
            RecordingArray(np.zeros((5, 8, 8, 4))),
            reset=True,
        )


def test_channels_last_is_read_when_asked():
    X = np.random.RandomState(0).rand(5, 6, 7, 3)
    det = ConvAutoencoderOutlierDetector(data_format="channels_last")
    data = validate_input(det, X, reset=True)
    assert det.image_shape_ == (3, 6, 7) and det.input_shape_ == (6, 7, 3)
    np.testing.assert_array_equal(data.rows, X.transpose(0, 3, 1, 2))


def test_images_in_the_other_layout_get_a_message_about_the_channel_axis():
    """Fitted on (H, W, C) images, scored on (C, H, W) ones: the sizes are
    right, only the channel axis moved (the message once said to resize
    8x8 images to 8x8)."""
    det = ConvAutoencoderOutlierDetector(data_format="channels_last")
    validate_input(det, np.zeros((5, 8, 8, 3)), reset=True)
    with pytest.raises(ValueError, match=r"channel axis seems to be elsewhere") as err:
        validate_input(det, np.zeros((5, 3, 8, 8)), reset=False)
    assert "resize" not in str(err.value)


def test_channels_first_can_be_forced_for_odd_shapes():
    det = ConvAutoencoderOutlierDetector(data_format="channels_first")
    validate_input(det, np.zeros((5, 8, 8, 3)), reset=True)
    assert det.image_shape_ == (8, 8, 3)


@pytest.mark.parametrize("image_shape", [(32, 32, 3), (6, 6, 3), (8, 8, 4)])
def test_channels_last_image_shape_is_refused_too(image_shape):
    det = ConvAutoencoderOutlierDetector(image_shape=image_shape)
    with pytest.raises(ValueError, match=r"Got image_shape=.*channels_last"):
        validate_input(det, np.zeros((2, int(np.prod(image_shape)))), reset=True)
    det.set_params(data_format="channels_first")
    validate_input(det, np.zeros((2, int(np.prod(image_shape)))), reset=True)
    assert det.image_shape_ == image_shape
    det = ConvAutoencoderOutlierDetector(
        image_shape=(32, 32, 3), data_format="channels_last"
    )
    validate_input(det, np.zeros((2, 3072)), reset=True)
    assert det.image_shape_ == (3, 32, 32)


@pytest.mark.parametrize(
    "shape",
    [
        (5, 3, 32, 32),
        (5, 1, 28, 28),
        (5, 4, 4, 4),
        (5, 2, 8, 8),
        (5, 3, 6, 3),  # the first image axis is a channel count too
        (5, 4, 8, 1),
        (5, 2, 8, 1),
        (5, 8, 3, 3),  # the last axis is not smaller than both others
        (5, 8, 8, 8),
        (5, 6, 6, 5),
    ],
)
def test_channels_first_input_is_not_refused(shape):
    det = ConvAutoencoderOutlierDetector()
    validate_input(det, np.zeros(shape), reset=True)
    assert det.image_shape_ == shape[1:]


# -- errors --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[np.nan] * 4] * 5), "NaN"),
        (np.array([[np.inf] * 4] * 5), "infinity"),
        (np.array([["a", "b"]] * 5), "numeric"),
        (np.zeros((0, 4)), "0 sample"),
        (np.zeros((0, 8, 8)), "0 sample"),
        (np.zeros((1, 4)), "1 sample"),
        (np.zeros((3, 2, 2, 2, 2)), "5 dimension"),
        (np.zeros(4), r"a 1-D array.*Reshape your data"),
        ([[1.0, 2.0], [3.0]], "could not convert"),
    ],
)
def test_bad_training_data(X, match):
    with pytest.raises(ValueError, match=match):
        validate_input(ConvAutoencoderOutlierDetector(), X, reset=True)


STRING_HINT = (
    r"if the strings hold numbers, convert them with X\.astype\(float\); "
    r"otherwise encode them as numbers first\.$"
)


def _frame(columns=None):
    return pd.DataFrame(
        np.arange(24.0).reshape(6, 4), columns=columns or ["a", "b", "c", "d"]
    )


TEXT = {
    "unicode": (
        lambda: np.arange(24.0).reshape(6, 4).astype(str),
        r"^Expected numeric data \(ints or floats\), but X has dtype <U32 "
        r"\(strings\); ",
    ),
    "bytes": (
        lambda: np.arange(24.0).reshape(6, 4).astype("S"),
        r"^Expected numeric data \(ints or floats\), but X has dtype \|S32 "
        r"\(bytes\); ",
    ),
    "images": (
        lambda: np.arange(96).reshape(6, 4, 4).astype(str),
        r"X has dtype <U21 \(strings\); ",
    ),
    "list": (lambda: [["1", "2"], ["3", "4"]], r"X has dtype <U1 \(strings\); "),
    "object": (
        lambda: np.arange(24.0).reshape(6, 4).astype(str).astype(object),
        r"^Expected numeric data \(ints or floats\), but X has dtype object and "
        r"holds strings \(e\.g\. '0\.0'\); ",
    ),
    "object-mixed": (
        lambda: np.array([[1.0, 2.0], [3.0, "4"]] * 3, dtype=object),
        r"X has dtype object and holds strings \(e\.g\. '4'\); ",
    ),
    "object-bytes": (
        lambda: np.array([[1.0, b"2"]] * 3, dtype=object),
        r"X has dtype object and holds strings \(e\.g\. b'2'\); ",
    ),
    "frame-text": (
        lambda: _frame().astype({"c": str}),
        r"^Expected numeric data \(ints or floats\), but X's column 'c' "
        r"\(dtype \w+\) holds strings \(e\.g\. '2\.0'\); ",
    ),
    "frame-string-dtype": (
        lambda: _frame().astype({"b": "string"}),
        r"X's column 'b' \(dtype string\) holds strings \(e\.g\. '1\.0'\); ",
    ),
    "frame-category": (
        lambda: _frame().assign(d=pd.Categorical(["low", "high"] * 3)),
        r"X's column 'd' \(dtype category\) has categories that hold strings "
        r"\(e\.g\. 'high'\); ",
    ),
}


@pytest.mark.parametrize("case", list(TEXT))
@pytest.mark.parametrize("reset", [True, False])
def test_text_is_refused_even_when_it_holds_numbers(case, reset):
    make, match = TEXT[case]
    det = ConvAutoencoderOutlierDetector()
    if not reset:  # as fitted on numbers of the same shape
        validate_input(det, np.zeros(np.shape(make())), reset=True)
    with pytest.raises(ValueError, match=match + ".*" + STRING_HINT):
        validate_input(det, make(), reset=reset)


@pytest.mark.parametrize("images", [True, False])
@pytest.mark.parametrize("reset", [True, False])
def test_a_series_is_refused_as_one_dimensional(images, reset):
    """A pandas Series is refused as 1-D (scikit-learn's message, or the image
    estimators' own, which names the expected shape; it once
    raised a TypeError from iterating over its single dtype)."""
    det = ConvAutoencoderOutlierDetector() if images else AutoencoderOutlierDetector()
    if not reset:
        validate_input(det, np.zeros((20, 16)), reset=True, images=images)
    for series in (pd.Series(np.arange(16.0)), pd.Series(["a"] * 16)):
        with pytest.raises(ValueError, match="2-dimensional|not numbers|a 1-D array"):
            validate_input(det, series, reset=reset, images=images)


def test_text_in_a_tabular_estimator_is_refused():
    with pytest.raises(ValueError, match=r"dtype <U32 \(strings\)"):
        validate_input(
            AutoencoderOutlierDetector(),
            np.zeros((4, 3)).astype(str),
            reset=True,
            images=False,
        )


NUMBERS = {
    "object": lambda X: X.astype(object),
    "object-ints": lambda X: X.astype(int).astype(object),
    "frame": pd.DataFrame,
    "frame-object": lambda X: pd.DataFrame(X).astype(object),
    "frame-Int64": lambda X: pd.DataFrame(X.astype(int)).astype("Int64"),
    "frame-Float64": lambda X: pd.DataFrame(X).astype("Float64"),
    "frame-category": lambda X: pd.DataFrame(X).astype({1: "category"}),
}


@pytest.mark.parametrize("case", list(NUMBERS))
def test_numbers_in_objects_and_frames_are_read(case):
    X = np.arange(24.0).reshape(6, 4)
    data = validate_input(
        ConvAutoencoderOutlierDetector(), NUMBERS[case](X), reset=True
    )
    assert data.rows.dtype == np.float64
    np.testing.assert_array_equal(data.rows.reshape(6, 4), X)


@pytest.mark.parametrize(
    "X, match",
    [
        (
            np.ones((4, 3)) + 1j,
            r"^Expected real numbers \(ints or floats\), but X has dtype "
            r"complex128\. Complex data not supported: pass X\.real or "
            r"np\.abs\(X\) if either is what the model should see\.$",
        ),
        (
            np.ones((4, 2, 2), dtype=np.complex64),
            r"dtype complex64\. Complex data not supported",
        ),
        (
            torch.ones(4, 3, dtype=torch.complex64),
            r"dtype complex64\. Complex data not supported",
        ),
        (
            pd.DataFrame({"a": np.ones(4), "b": np.ones(4) + 1j}),
            r"^Expected real numbers \(ints or floats\), but X's column 'b' has "
            r"dtype complex128\. Complex data not supported: ",
        ),
        (
            (np.ones((4, 3)) + 1j).astype(object),  # Python complex numbers
            r"^Expected real numbers \(ints or floats\), but X has dtype object "
            r"and holds complex numbers \(e\.g\. \(1\+1j\)\)\. Complex data not "
            r"supported: ",
        ),
        (
            pd.DataFrame({"a": np.ones(4), "b": np.ones(4) + 1j}).astype(object),
            r"X's column 'b' \(dtype object\) holds complex numbers",
        ),
    ],
    ids=["complex128", "images", "tensor", "frame", "object", "frame-object"],
)
def test_complex_numbers_are_refused_without_dumping_x(X, match):
    with pytest.raises(ValueError, match=match) as info:
        validate_input(ConvAutoencoderOutlierDetector(), X, reset=True)
    assert "\n" not in str(info.value) and "[" not in str(info.value)


def _frame_with(column):
    return pd.DataFrame({"a": np.arange(4.0), "t": column})


@pytest.mark.parametrize(
    "X, match",
    [
        (
            _frame_with(pd.date_range("2020", periods=4)),
            r"X's column 't' has dtype datetime64\[\w+\] \(dates or times\); "
            r"convert them to numbers",
        ),
        (
            _frame_with(pd.date_range("2020", periods=4, tz="UTC")),
            r"X's column 't' has dtype datetime64\[\w+, UTC\] \(dates or times\)",
        ),
        (
            _frame_with(pd.to_timedelta(np.arange(4), unit="s")),
            r"X's column 't' has dtype timedelta64\[\w+\] \(durations\)",
        ),
        (
            _frame_with(pd.period_range("2020", periods=4, freq="D")),
            r"X's column 't' has dtype period\[D\]",
        ),
        (
            _frame_with(pd.interval_range(0, 4)),
            r"X's column 't' has dtype interval",
        ),
        (
            np.arange(4 * 64).astype("datetime64[s]").reshape(4, 8, 8),
            r"X has dtype datetime64\[s\] \(dates or times\)",
        ),
        (
            np.zeros((4, 3), dtype=[("a", "f8"), ("b", "f8")]),
            r"X has dtype .* \(a structured array\); .*structured_to_unstructured",
        ),
    ],
    ids=["datetime", "tz", "timedelta", "period", "interval", "array", "structured"],
)
def test_dates_durations_and_records_are_named_not_numpy_errors(X, match):
    """pandas' datetime columns used to leak numpy's DTypePromotionError,
    periods and intervals a TypeError (a hostile probe)."""
    for estimator in (ConvAutoencoderOutlierDetector(), AutoencoderOutlierDetector()):
        if X.ndim == 3 and isinstance(estimator, AutoencoderOutlierDetector):
            continue
        with pytest.raises(ValueError, match=r"^Expected numeric data .*" + match):
            validate_input(estimator, X, reset=True)


def test_a_numeric_extension_column_is_read():
    """Only extension columns numpy cannot make floats of are refused: a
    review found decimals refused with periods and intervals."""
    from decimal import Decimal

    decimal = pytest.importorskip("pandas.tests.extension.decimal.array")
    X = _frame_with(decimal.DecimalArray([Decimal("0.5")] * 4))
    data = validate_input(AutoencoderOutlierDetector(), X, reset=True, images=False)
    np.testing.assert_array_equal(data.rows[:, 1], 0.5)


def test_lazy_text_and_complex_blocks_name_their_dtype():
    for X, match in [
        (np.zeros((4, 3)).astype(str), r"X has dtype <U32 \(strings\); "),
        (np.zeros((4, 3)) + 1j, r"X has dtype complex128\. Complex data not supported"),
    ]:
        data = validate_input(
            ConvAutoencoderOutlierDetector(), RecordingArray(X), reset=True
        )
        with pytest.raises(ValueError, match=match):
            data.rows[0:4]


def test_image_shape_inconsistent_with_features():
    with pytest.raises(ValueError, match=r"image_shape=\(8, 9\).*64 features"):
        validate_input(
            ConvAutoencoderOutlierDetector(image_shape=(8, 9)),
            np.zeros((4, 64)),
            reset=True,
        )
    with pytest.raises(ValueError, match="holds images of shape"):
        validate_input(
            ConvAutoencoderOutlierDetector(image_shape=(4, 4)),
            np.zeros((4, 8, 8)),
            reset=True,
        )
    with pytest.raises(ValueError, match="positive ints"):
        validate_input(
            ConvAutoencoderOutlierDetector(image_shape=(0, 3)),
            np.zeros((4, 64)),
            reset=True,
        )


def test_later_calls_must_match_the_fitted_input():
    det = ConvAutoencoderOutlierDetector()
    validate_input(det, np.zeros((4, 8, 8)), reset=True)
    validate_input(det, np.zeros((2, 64)), reset=False)  # flat rows are fine
    with pytest.raises(ValueError, match="X has 10 features.*expecting 64"):
        validate_input(det, np.zeros((3, 10)), reset=False)
    with pytest.raises(ValueError, match=r"fitted on images of shape \(1, 8, 8\)"):
        validate_input(det, np.zeros((3, 4, 4, 4)), reset=False)


def test_tabular_estimators_take_2d_only():
    det = AutoencoderOutlierDetector()
    with pytest.raises(ValueError, match="takes 2-D tabular data"):
        validate_input(det, np.zeros((4, 8, 8)), reset=True, images=False)


# -- out-of-core -------------------------------------------------------------------
def test_lazy_rows_are_read_in_blocks_and_checked():
    images = (np.random.RandomState(0).rand(600, 10, 10) * 255).astype(np.uint8)
    lazy = RecordingArray(images)
    data = validate_input(ConvAutoencoderOutlierDetector(), lazy, reset=True)
    assert lazy.reads == []  # shapes only, nothing read yet
    block = data.rows[0:BLOCK_ROWS]
    assert block.dtype == np.float64 and block.shape == (BLOCK_ROWS, 1, 10, 10)
    assert lazy.reads == [BLOCK_ROWS]


def test_lazy_channels_last_blocks_are_transposed(tmp_path):
    X = np.random.RandomState(0).rand(6, 5, 4, 3)
    det = ConvAutoencoderOutlierDetector(data_format="channels_last")
    data = validate_input(det, _memmap(tmp_path, X), reset=True)
    np.testing.assert_array_equal(data.rows[0:6], X.transpose(0, 3, 1, 2))


@pytest.mark.parametrize(
    "X, match",
    [
        (np.zeros((4, 1, 1, 2, 2)), "5 dimension"),
        (np.zeros((1, 10, 10)), "1 sample"),
        (np.array([["a", "b"]] * 4), "numeric"),
    ],
)
def test_lazy_data_errors(X, match):
    with pytest.raises(ValueError, match=match):
        data = validate_input(
            ConvAutoencoderOutlierDetector(), RecordingArray(X), reset=True
        )
        data.rows[0 : len(X)]  # values are checked as blocks are read


def test_lazy_nan_is_found_when_its_block_is_read():
    bad = np.zeros((600, 4, 4))
    bad[500, 1, 1] = np.nan
    data = validate_input(
        ConvAutoencoderOutlierDetector(), RecordingArray(bad), reset=True
    )
    data.rows[0:256]
    with pytest.raises(ValueError, match="NaN"):
        data.rows[256:600]


# -- callbacks' monitor sets ----------------------------------------------------------
def test_as_samples():
    assert as_samples(np.zeros((3, 64)), (1, 8, 8)).shape == (3, 1, 8, 8)
    assert as_samples(np.zeros((3, 8, 8)), (1, 8, 8)).shape == (3, 1, 8, 8)
    with pytest.raises(ValueError, match="samples of 64 values"):
        as_samples(np.zeros((3, 10)), (1, 8, 8), "X_inliers")
    with pytest.raises(ValueError, match="X_outliers contains NaN"):
        as_samples(np.full((3, 64), np.nan), (1, 8, 8), "X_outliers")


def test_swapped_height_and_width_of_gray_images_get_the_resize_message():
    det = ConvAutoencoderOutlierDetector()
    validate_input(det, np.zeros((5, 8, 16)), reset=True)
    with pytest.raises(ValueError, match="resize them to 8x16") as err:
        validate_input(det, np.zeros((5, 16, 8)), reset=False)
    assert "channel axis" not in str(err.value)


def test_the_same_values_in_another_image_shape_also_get_the_reshape_hint():
    """64 values as 4x16 images against a fit on 8x8 ones: a reshape that
    split the rows wrongly as likely as images of another size, so the
    message names the reshape to the fitted form beside the resize (it
    said only "resize", a probe); other sizes keep the resize alone."""
    det = ConvAutoencoderOutlierDetector()
    validate_input(det, np.zeros((5, 8, 8)), reset=True)
    with pytest.raises(ValueError, match="resize them to 8x8") as err:
        validate_input(det, np.zeros((5, 4, 16)), reset=False)
    assert "the same 64 values arranged otherwise" in str(err.value)
    assert "X.reshape(len(X), 8, 8) (input_shape_=(8, 8))" in str(err.value)
    with pytest.raises(ValueError, match="resize them to 8x8") as err:
        validate_input(det, np.zeros((5, 10, 10)), reset=False)
    assert "arranged otherwise" not in str(err.value)


def test_images_against_a_fit_on_flat_rows_get_the_reshape_message():
    """Flat rows read as 1-D signals at fit, the same values as 8x8 images
    now: reshape them (or fit with image_shape); resizing, as the message
    said, would resample the pixels."""
    det = ConvAutoencoderOutlierDetector()
    validate_input(det, np.zeros((5, 64)), reset=True)
    with pytest.raises(ValueError, match="arranged otherwise") as err:
        validate_input(det, np.zeros((5, 8, 8)), reset=False)
    message = str(err.value)
    assert "X.reshape(len(X), 64)" in message and "image_shape=(8, 8)" in message
    assert "resize" not in message
    # colour images: image_shape takes (C, H, W), which the message names
    det = ConvAutoencoderOutlierDetector()
    validate_input(det, np.zeros((5, 192)), reset=True)
    with pytest.raises(ValueError, match=r"image_shape=\(3, 8, 8\) to read"):
        validate_input(det, np.zeros((5, 3, 8, 8)), reset=False)


def test_a_one_dimensional_x_names_the_fitted_shape(tiny):
    """sklearn's message printed every value and named no image shape."""
    det = ConvAutoencoderOutlierDetector(**tiny).fit(np.zeros((20, 8, 8)))
    with pytest.raises(
        ValueError,
        match=r"Got X of shape \(64,\): a 1-D array, but expected \(n_samples, "
        r"8, 8\), .*Reshape your data: X.reshape\(1, 8, 8\)",
    ) as err:
        det.score_samples(np.full(64, 0.123456))
    assert "0.123456" not in str(err.value)
    assert det.score_samples(np.zeros(64).reshape(1, 8, 8)).shape == (1,)
    with pytest.raises(ValueError, match=r"Got X of shape \(\): a 0-D array"):
        det.predict(np.float64(1.0))
    with pytest.raises(ValueError, match="a 1-D array.*Reshape your data"):
        ConvAutoencoderOutlierDetector(**tiny).fit(np.zeros(64))


def test_not_finite_input_names_what_and_where(digits):
    """Not sklearn's message (which suggested estimators for supervised
    learning): how many NaN and inf values, in how many samples, the first."""
    X = digits[0][:60].reshape(-1, 8, 8).copy()
    X[3, 2, 2], X[7, 0, 0] = np.nan, np.inf
    message = (
        r"Input X contains NaN: 1 NaN and 1 infinite value\(s\) in 2 of 60 "
        r"samples \(the first: sample 3\); expected finite numbers"
    )
    with pytest.raises(ValueError, match=message):
        ConvAutoencoderOutlierDetector(**TINY).fit(X)
    # the defaults, and a fitted detector's scoring, say the same
    with pytest.raises(ValueError, match=message):
        ConvAutoencoderOutlierDetector().fit(X)
    det = ConvAutoencoderOutlierDetector(**TINY).fit(digits[0][:60].reshape(-1, 8, 8))
    with pytest.raises(ValueError, match=message):
        det.score_samples(X)
    X[3, 2, 2] = 0.0
    with pytest.raises(ValueError, match=r"contains infinity: 0 NaN .*sample 7\)"):
        ConvAutoencoderOutlierDetector(**TINY).fit(X)


@pytest.mark.parametrize(
    "make", [ConvAutoencoderOutlierDetector, AutoencoderOutlierDetector]
)
def test_not_finite_input_is_refused_under_assume_finite(digits, make):
    """sklearn's assume_finite=True skips its check: a NaN then reached the
    network and failed as a diverged training ("try a lower lr") or a
    corrupted model, and an infinity scored as a number (a probe)."""
    settings = TINY if make is ConvAutoencoderOutlierDetector else TINY_DENSE
    X = digits[0][:60].copy()
    det = make(**settings).fit(X)
    for bad in (np.nan, np.inf):
        X_bad = X.copy()
        X_bad[3, 5] = bad
        with sklearn.config_context(assume_finite=True):
            with pytest.raises(ValueError, match=r"\(the first: sample 3\)"):
                make(**settings).fit(X_bad)
            with pytest.raises(ValueError, match=r"\(the first: sample 3\)"):
                det.score_samples(X_bad)
        assert np.isnan(X_bad[3, 5]) or np.isinf(X_bad[3, 5])  # not modified
    if make is ConvAutoencoderOutlierDetector:
        with sklearn.config_context(assume_finite=True):
            with pytest.raises(ValueError, match="Z contains NaN"):
                det.decode(np.full((1, det.latent_dim), np.nan))


@pytest.mark.parametrize(
    "make, kind, advice",
    [
        (lambda X: (x for x in X), "generator", "list(X)"),
        (lambda X: iter(list(X)), "list_iterator", "list(X)"),
        (lambda X: map(np.asarray, X), "map", "list(X)"),
        (lambda X: {0: X[0]}, "dict", "list(X.values())"),
    ],
)
def test_iterators_are_refused_with_what_to_pass(digits, make, kind, advice):
    X = digits[0][:60].reshape(-1, 8, 8)
    message = rf"Got X as a {kind}, .*np.stack\({re.escape(advice)}\)"
    with pytest.raises(ValueError, match=message):
        ConvAutoencoderOutlierDetector(**TINY).fit(make(X))


@pytest.mark.parametrize("dtype", ["Int64", "Float64"])
def test_missing_values_of_pandas_are_counted_and_located(digits, dtype):
    """pd.NA does not convert to float: a ValueError that counts and
    locates them, as for NaN (it was sklearn's text, which named no sample;
    before that a TypeError from locating the values)."""
    frame = pd.DataFrame(digits[0][:60].astype(int)).astype(dtype)
    frame.iloc[3, 5] = pd.NA
    frame.iloc[9, 0] = pd.NA
    message = (
        r"missing values \(pandas NA\): 2 in 2 of 60 samples \(the first: sample 3\)"
    )
    for det in (
        ConvAutoencoderOutlierDetector(image_shape=(8, 8), **TINY),
        AutoencoderOutlierDetector(**TINY_DENSE),
    ):
        with pytest.raises(ValueError, match=message):
            det.fit(frame)


def test_an_empty_training_set_is_not_called_one_sample():
    with pytest.raises(ValueError, match=r"0 sample\(s\) .* to fit\.$"):
        ConvAutoencoderOutlierDetector(**TINY).fit(np.empty((0, 8, 8)))
    with pytest.raises(ValueError, match=r"n_samples=1 is too few"):
        ConvAutoencoderOutlierDetector(**TINY).fit(np.ones((1, 8, 8)))
