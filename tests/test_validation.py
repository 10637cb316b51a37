"""skcae._validation: every input form, checked in one place."""

import numpy as np
import pandas as pd
import pytest
import torch
from _lazy import RecordingArray

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
@pytest.mark.parametrize("shape", [(5, 32, 32, 3), (5, 8, 8, 1), (5, 16, 16, 4)])
def test_channels_last_looking_input_is_refused_with_the_fix(shape):
    with pytest.raises(ValueError, match="data_format='channels_last'"):
        validate_input(ConvAutoencoderOutlierDetector(), np.zeros(shape), reset=True)


def test_channels_last_is_read_when_asked():
    X = np.random.RandomState(0).rand(5, 6, 7, 3)
    det = ConvAutoencoderOutlierDetector(data_format="channels_last")
    data = validate_input(det, X, reset=True)
    assert det.image_shape_ == (3, 6, 7) and det.input_shape_ == (6, 7, 3)
    np.testing.assert_array_equal(data.rows, X.transpose(0, 3, 1, 2))


def test_channels_first_can_be_forced_for_odd_shapes():
    det = ConvAutoencoderOutlierDetector(data_format="channels_first")
    validate_input(det, np.zeros((5, 8, 8, 3)), reset=True)
    assert det.image_shape_ == (8, 8, 3)


def test_channels_last_image_shape_is_refused_too():
    det = ConvAutoencoderOutlierDetector(image_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="channels_last"):
        validate_input(det, np.zeros((2, 3072)), reset=True)
    det = ConvAutoencoderOutlierDetector(
        image_shape=(32, 32, 3), data_format="channels_last"
    )
    validate_input(det, np.zeros((2, 3072)), reset=True)
    assert det.image_shape_ == (3, 32, 32)


@pytest.mark.parametrize("shape", [(5, 3, 32, 32), (5, 1, 28, 28), (5, 4, 4, 4)])
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
        (np.zeros(4), "2D array"),
        ([[1.0, 2.0], [3.0]], "could not convert"),
    ],
)
def test_bad_training_data(X, match):
    with pytest.raises(ValueError, match=match):
        validate_input(ConvAutoencoderOutlierDetector(), X, reset=True)


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
