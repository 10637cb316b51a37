"""The data as the network sees it: standardised float32 batches.

The estimators standardise every channel (images) or feature (tabular rows)
with the training data's mean and standard deviation, computed and applied
in float64 before the cast to float32. Float32 would lose data far from
zero (``1e9 + N(0, 1)`` has no significant digits left) and overflow for
data at scale ``1e19``; standardised values are of order one whatever the
units, so the network, its loss and the learning rate never see the units.
"""

import numpy as np
import torch

# Rows per block when statistics are computed (and per scoring chunk).
BLOCK_ROWS = 256
# Standardised values are clipped to this many standard deviations: the
# network stays finite for absurd inputs (1e300 in data at scale 1), which
# still get huge, finite outlier scores.
Z_LIMIT = 1e6
# A channel whose standard deviation is below this fraction of its mean's
# magnitude is constant (up to float64 rounding): it is centred, and scaled
# like the other channels (see _scale_of).
_RELATIVE_CONSTANT = 1e-12


def _block_rows(sample_shape):
    """Rows per block: at most BLOCK_ROWS and about 32 MB of float64."""
    return max(1, min(BLOCK_ROWS, 2**22 // max(1, int(np.prod(sample_shape)))))


def _reduce_axes(ndim):
    """Axes averaged over for one statistic per channel (or per feature)."""
    return (0, 2, 3) if ndim == 4 else (0,)


def _scale_of(std, mean, constant):
    """Each channel's scale: its std, or a data-relative one when constant.

    A scale of 1 for a constant channel would measure deviations in it in
    the caller's units (a lit dead pixel flagged at one unit, missed at
    another); the other channels' median std keeps them relative.
    """
    if not constant.any():
        return std
    if not constant.all():
        fallback = np.median(std[~constant])
    else:
        magnitude = np.abs(mean)
        fallback = np.median(magnitude[magnitude > 0]) if magnitude.any() else 1.0
    return np.where(constant, fallback, std)


class Standardizer:
    """Per-channel (images) or per-feature (rows) centre and scale, in float64.

    Parameters
    ----------
    center, scale : ndarray of shape (n_channels,)
        Mean and standard deviation of the training data. A channel
        constant in training is scaled by the median standard deviation of
        the other channels (by its own magnitude when every channel is
        constant, 1 for all-zero data), so deviations in it are measured in
        the data's units, whatever they are.
    data_min, data_max : ndarray of shape (n_channels,)
        The training data's range, to warn when new data live in other units.
    """

    def __init__(self, center, scale, data_min, data_max):
        self.center = np.asarray(center, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.data_min = np.asarray(data_min, dtype=np.float64)
        self.data_max = np.asarray(data_max, dtype=np.float64)

    @classmethod
    def fit(cls, rows):
        """Statistics of ``rows`` ((n, C, H, W) or (n, F)), block by block.

        Means and variances of the blocks are merged with Chan et al.'s
        pairwise update, which stays exact far from zero (no
        ``E[x^2] - E[x]^2`` cancellation). Each channel is first divided by
        a power of two near the largest magnitude of the first block, so
        squares neither overflow (data at 1e200) nor underflow (1e-200).
        """
        n = len(rows)
        axes = _reduce_axes(len(rows.shape))
        step = _block_rows(rows.shape[1:])
        count, mean, m2 = 0, 0.0, 0.0
        low = high = norm = None
        for start in range(0, n, step):
            block = np.asarray(rows[start : start + step], dtype=np.float64)
            b_low, b_high = block.min(axis=axes), block.max(axis=axes)
            if norm is None:
                magnitude = np.maximum(np.abs(b_low), np.abs(b_high))
                magnitude[magnitude == 0] = 1.0
                norm = np.exp2(np.round(np.log2(magnitude)))
            block = block / np.expand_dims(norm, axes)
            b_count = block.size // block.shape[1]
            b_mean = block.mean(axis=axes)
            b_m2 = np.square(block - np.expand_dims(b_mean, axes)).sum(axis=axes)
            delta = b_mean - mean
            total = count + b_count
            mean = mean + delta * (b_count / total)
            m2 = m2 + b_m2 + np.square(delta) * (count * b_count / total)
            count = total
            low = b_low if low is None else np.minimum(low, b_low)
            high = b_high if high is None else np.maximum(high, b_high)
        mean, std = mean * norm, np.sqrt(m2 / count) * norm
        constant = ~(std > _RELATIVE_CONSTANT * np.abs(mean))
        return cls(mean, _scale_of(std, mean, constant), low, high)

    def _shaped(self, values, ndim):
        return values.reshape((1, -1, 1, 1) if ndim == 4 else (1, -1))

    def transform(self, block):
        """Standardise a float64 block and return it as a float32 tensor."""
        z = (block - self._shaped(self.center, block.ndim)) / self._shaped(
            self.scale, block.ndim
        )
        np.clip(z, -Z_LIMIT, Z_LIMIT, out=z)
        return torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))

    def inverse(self, z):
        """Map standardised values (ndarray) back to data units, in float64."""
        z = np.asarray(z, dtype=np.float64)
        return z * self._shaped(self.scale, z.ndim) + self._shaped(self.center, z.ndim)

    def squared_scale(self, ndim, *, relative=False):
        """``scale ** 2`` shaped to multiply squared standardised errors.

        ``relative`` divides it by its largest value (the channels' relative
        weights, which no scale of the data can overflow or underflow).
        """
        scale = self.scale / self.scale.max() if relative else self.scale
        with np.errstate(over="ignore", under="ignore"):
            return self._shaped(np.square(scale), ndim)

    def state(self):
        """The statistics as a dict of arrays (fitted attributes, persistence)."""
        return {
            "center": self.center,
            "scale": self.scale,
            "data_min": self.data_min,
            "data_max": self.data_max,
        }


def read_block(rows, index):
    """Rows ``index`` (a slice or sorted int array) as a float64 ndarray."""
    return np.asarray(rows[index], dtype=np.float64)


class RangeTracker:
    """The per-channel spread and range of the data read for scoring."""

    def __init__(self):
        self.low = self.high = None
        self.n_rows = 0
        self.count, self.mean, self.m2 = 0, 0.0, 0.0

    def update(self, block):
        axes = _reduce_axes(block.ndim)
        self.n_rows += len(block)
        low, high = block.min(axis=axes), block.max(axis=axes)
        self.low = low if self.low is None else np.minimum(self.low, low)
        self.high = high if self.high is None else np.maximum(self.high, high)
        b_count = block.size // block.shape[1]
        with np.errstate(over="ignore", invalid="ignore"):  # absurd values: inf
            b_mean = block.mean(axis=axes)
            b_m2 = np.square(block - np.expand_dims(b_mean, axes)).sum(axis=axes)
            delta = b_mean - self.mean
            total = self.count + b_count
            self.mean = self.mean + delta * (b_count / total)
            self.m2 = self.m2 + b_m2 + np.square(delta) * (self.count * b_count / total)
        self.count = total

    def mismatch(self, standardizer, factor=10.0, min_rows=10):
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
        varying = standardizer.data_max > standardizer.data_min
        with np.errstate(over="ignore", invalid="ignore"):
            std = np.sqrt(self.m2 / self.count)
            if not varying.any() or not (std[varying] > 0).all():
                return None
            ratio = float(np.median(std[varying] / standardizer.scale[varying]))
        if 1 / factor < ratio < factor:
            return None
        return (
            f"X's values span [{np.min(self.low):.4g}, {np.max(self.high):.4g}] "
            f"with {ratio:.3g} times the training data's spread, which spanned "
            f"[{np.min(standardizer.data_min):.4g}, "
            f"{np.max(standardizer.data_max):.4g}]: X looks like it is in "
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
