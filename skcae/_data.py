"""The training data's statistics, the range check of new data, row subsets.

The estimators standardise every channel (images) or feature (tabular rows)
with the training data's mean and standard deviation, computed here
(:func:`fit_statistics`) and applied by
:class:`~skcae._scorer.Standardization`, in float64 before the cast to
float32. Float32 would lose data far from
zero (``1e9 + N(0, 1)`` has no significant digits left) and overflow for
data at scale ``1e19``; standardised values are of order one whatever the
units, so the network, its loss and the learning rate never see the units.
"""

import numpy as np

# Rows per block when statistics are computed (and per scoring chunk).
BLOCK_ROWS = 256
# A column whose standard deviation is below this fraction of its mean's
# magnitude is constant (up to float64 rounding): it is centred, and scaled
# like the other columns (see scale_of).
_RELATIVE_CONSTANT = 1e-12


def _block_rows(sample_shape):
    """Rows per block: at most BLOCK_ROWS and about 32 MB of float64."""
    return max(1, min(BLOCK_ROWS, 2**22 // max(1, int(np.prod(sample_shape)))))


def _reduce_axes(ndim):
    """Axes averaged over for one statistic per channel (or per feature)."""
    return (0, 2, 3) if ndim == 4 else (0,)


def scale_of(std, mean, *, unit=0.0):
    """Each column's scale: its std, or a data-relative one when constant.

    A column (channel, feature or image statistic) whose standard deviation
    is below ``_RELATIVE_CONSTANT`` of its mean's magnitude (or of ``unit``,
    for values already in standardised units) is constant (up to float64
    rounding). A scale of 1 for it would measure deviations in
    the caller's units (a lit dead pixel flagged at one unit, missed at
    another); the other columns' median std keeps them relative (the
    median magnitude when every column is constant, 1 for all-zero data).
    """
    std, mean = np.asarray(std, np.float64), np.asarray(mean, np.float64)
    constant = ~(std > _RELATIVE_CONSTANT * np.maximum(np.abs(mean), unit))
    if not constant.any():
        return std
    if not constant.all():
        fallback = np.median(std[~constant])
    else:
        magnitude = np.abs(mean)
        fallback = np.median(magnitude[magnitude > 0]) if magnitude.any() else 1.0
    return np.where(constant, fallback, std)


class Moments:
    """Count, mean and sum of squared deviations per column, merged block by
    block with Chan et al.'s pairwise update (exact far from zero: no
    ``E[x^2] - E[x]^2`` cancellation)."""

    def __init__(self):
        self.count, self.mean, self.m2 = 0, 0.0, 0.0

    def update(self, block, axes):
        b_count = block.size // block.shape[1]
        b_mean = block.mean(axis=axes)
        b_m2 = np.square(block - np.expand_dims(b_mean, axes)).sum(axis=axes)
        delta = b_mean - self.mean
        total = self.count + b_count
        self.mean = self.mean + delta * (b_count / total)
        self.m2 = self.m2 + b_m2 + np.square(delta) * (self.count * b_count / total)
        self.count = total

    def std(self):
        return np.sqrt(self.m2 / self.count)


def fit_statistics(rows):
    """Per-channel (or per-feature) mean, scale, minimum and maximum of
    ``rows`` ((n, C, H, W) or (n, F)), read block by block.

    Each channel is first divided by a power of two near the largest
    magnitude of the first block, so squares neither overflow (data at
    1e200) nor underflow (1e-200). The scale is :func:`scale_of` the
    standard deviation.
    """
    axes = _reduce_axes(len(rows.shape))
    step = _block_rows(rows.shape[1:])
    moments, low, high, norm = Moments(), None, None, None
    for start in range(0, len(rows), step):
        block = np.asarray(rows[start : start + step], dtype=np.float64)
        b_low, b_high = block.min(axis=axes), block.max(axis=axes)
        if norm is None:
            magnitude = np.maximum(np.abs(b_low), np.abs(b_high))
            magnitude[magnitude == 0] = 1.0
            norm = np.exp2(np.round(np.log2(magnitude)))
        moments.update(block / np.expand_dims(norm, axes), axes)
        low = b_low if low is None else np.minimum(low, b_low)
        high = b_high if high is None else np.maximum(high, b_high)
    mean, std = moments.mean * norm, moments.std() * norm
    return mean, scale_of(std, mean), low, high


def read_block(rows, index):
    """Rows ``index`` (a slice or sorted int array) as a float64 ndarray."""
    return np.asarray(rows[index], dtype=np.float64)


class RangeTracker:
    """The per-channel spread and range of the data read for scoring."""

    def __init__(self):
        self.low = self.high = None
        self.n_rows = 0
        self.moments = Moments()

    def update(self, block):
        axes = _reduce_axes(block.ndim)
        self.n_rows += len(block)
        low, high = block.min(axis=axes), block.max(axis=axes)
        self.low = low if self.low is None else np.minimum(self.low, low)
        self.high = high if self.high is None else np.maximum(self.high, high)
        with np.errstate(over="ignore", invalid="ignore"):  # absurd values: inf
            self.moments.update(block, axes)

    def mismatch(self, standardization, factor=10.0, min_rows=10):
        """A message when the data look like they are in other units.

        Compares each channel's standard deviation over the scored data with
        the training data's; when their median ratio is beyond ``factor``
        either way (uint8 0-255 at fit and floats in [0, 1] now: 255x) it
        returns a message, else None. A few extreme samples (outliers) move
        a standard deviation far less than a range. Fewer than ``min_rows``
        rows, blank data and channels constant in training never warn.
        """
        if self.low is None or self.n_rows < min_rows:
            return None
        data_min, data_max = standardization.data_range.cpu().numpy()
        scale = standardization.scale.cpu().numpy()
        varying = data_max > data_min
        with np.errstate(over="ignore", invalid="ignore"):
            std = self.moments.std()
            if not varying.any() or not (std[varying] > 0).all():
                return None
            ratio = float(np.median(std[varying] / scale[varying]))
        if 1 / factor < ratio < factor:
            return None
        return (
            f"X's values span [{np.min(self.low):.4g}, {np.max(self.high):.4g}] "
            f"with {ratio:.3g} times the training data's spread, which spanned "
            f"[{np.min(data_min):.4g}, {np.max(data_max):.4g}]: X looks like it is in "
            "other units. Scores are only meaningful for data in the units of "
            "the training data (e.g. both uint8 0-255 or both floats in "
            "[0, 1]); scale X like the training data."
        )


class RowSubset:
    """The rows at sorted ``positions`` of any sliceable rows, read lazily."""

    def __init__(self, rows, positions):
        self.rows = rows
        self.positions = np.sort(np.asarray(positions))
        self.shape = (len(self.positions), *rows.shape[1:])

    def __len__(self):
        return len(self.positions)

    def __getitem__(self, index):
        return self.rows[self.positions[index]]


def take_rows(rows, positions):
    """The rows at ``positions``: a copy for in-memory arrays, else lazy."""
    if isinstance(rows, np.ndarray):
        return rows[np.sort(np.asarray(positions))]
    return RowSubset(rows, positions)
