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

import math

import numpy as np

from ._warn import warn_user

# Rows per block when statistics are computed (and per scoring chunk).
BLOCK_ROWS = 256
# A column whose standard deviation is below this fraction of its mean's
# magnitude is constant (up to float64 rounding): it is centred, and scaled
# like the other columns (see scale_of). Constant columns' moments gave at
# most 7e-15 (numpy draws: magnitudes 1e-300 to 1e300, 2 to 1,000,000 rows);
# at 1e-12, values 0-10 on an offset of 1e13 (exact in float64) were taken
# for constant, silently (a probe).
_RELATIVE_CONSTANT = 1e-13
# ... and fit warns of one whose values differ by more than this many units
# in the last place (rounding alone moves them by a few: a row total of
# shares lies within 1 +- 2e-16, a review).
_ROUNDING_ULPS = 256


# robust_bounds: the quantiles come from this many rows (evenly spaced), and
# reach this many inter-quantile widths beyond them.
_QUANTILE_ROWS = 2000
_QUANTILE_VALUES = 1_000_000  # per channel of images
_BOUND_WIDTHS = 10.0
# ... and of images (at least _IMAGE_RULE_MIN of them), also the same of
# each image's extremes, with k one more than this share of the images read,
# widened by _IMAGE_BOUND_WIDTHS: a few whole images of garbage (a fill
# value such as 9.97e36) hold too many values for the first rule.
_CORRUPT_IMAGE_SHARE = 0.05
_IMAGE_BOUND_WIDTHS = 100.0
_IMAGE_RULE_MIN = 20
# A column of fewer values than this is not bounded: of 4 rows of Gaussian
# data, the range of the middle two widened ten times left out 15% of the
# columns' extreme values (5 columns warned in 5-6 fits of 10, a probe); of
# 7, 0.02% (numpy draws of 20,000 columns: exponential 0.4%, lognormal
# (sigma 1) 1.9%); of 10, none (0.03%, 0.7%).
_BOUND_MIN_VALUES = 10


def block_rows(sample_shape):
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


def fit_statistics(rows, *, warn=True):
    """Per-channel (or per-feature) mean, scale, minimum and maximum of
    ``rows`` ((n, C, H, W) or (n, F)), read block by block, robust to a few
    extreme values.

    Values beyond :func:`robust_bounds` (corrupt pixels, a sensor glitch)
    are clipped to them before the moments are taken, so that one value of
    1e6 among pixels in [0, 1] neither sets the centre and scale nor the
    range (training clips to that range too); a :class:`UserWarning` names
    how many there were and the first one (unless ``warn`` is False).
    Each channel is first divided by a power of two near the largest
    magnitude of the bounds, so squares neither overflow (data at 1e200)
    nor underflow (1e-200). The scale is
    :func:`scale_of` the standard deviation.
    """
    axes = _reduce_axes(len(rows.shape))
    step = block_rows(rows.shape[1:])
    lower, upper, magnitude = robust_bounds(rows)
    magnitude[~(magnitude > 0)] = 1.0
    # at most 2**1023: 2**1024 (a magnitude above ~1.3e308) is inf
    norm = np.exp2(np.minimum(np.round(np.log2(magnitude)), 1023.0))
    moments, low, high = Moments(), None, None
    clipped, first = 0, None
    row_max = np.empty(len(rows))  # each sample's largest magnitude
    shaped = (
        (lambda v: v.reshape(1, -1, 1, 1)) if len(rows.shape) == 4 else np.atleast_2d
    )
    for start in range(0, len(rows), step):
        block = read_block(rows, slice(start, start + step))
        row_max[start : start + len(block)] = (
            np.abs(block).reshape(len(block), -1).max(axis=1, initial=0.0)
        )
        outside = (block < shaped(lower)) | (block > shaped(upper))
        if outside.any():
            if first is None:
                where = np.unravel_index(int(np.argmax(outside)), block.shape)
                first = (start + int(where[0]), where[1:], float(block[where]))
            clipped += int(outside.sum())
            block = np.clip(block, shaped(lower), shaped(upper))
        moments.update(block / np.expand_dims(norm, axes), axes)
        b_low, b_high = block.min(axis=axes), block.max(axis=axes)
        low = b_low if low is None else np.minimum(low, b_low)
        high = b_high if high is None else np.maximum(high, b_high)
    if clipped and warn:
        sample, position, value = first
        warn_user(
            f"X holds {clipped} value(s) far outside the range of the other "
            f"values of their channel or feature, e.g. {value:.6g} in sample "
            f"{sample} at position {tuple(int(p) for p in position)}; they "
            "were clipped to that range for the standardisation and the "
            "training, so they cannot dominate them (scoring does not clip: "
            "such a sample still scores as an outlier). Expected values of "
            "one scale; check X for corrupt values.",
            UserWarning,
        )
    if warn and len(rows.shape) == 4:
        # images only: a row of tabular data compares features of their own
        # units, and a sparse column of large amounts among unit-scale ones
        # warned of images in 0-255 (a probe)
        _warn_mixed_units(row_max)
    mean, std = moments.mean * norm, moments.std() * norm
    if warn:
        _warn_lost_spread(mean, std, low, high)
    return mean, scale_of(std, mean), low, high


def _warn_lost_spread(mean, std, low, high):
    """Warn of columns whose values spread too little beside their magnitude
    for float64 to keep (scale_of takes them for constant), unless they
    differ by rounding alone (a range of at most ``_ROUNDING_ULPS`` units
    in the last place: a row total of shares, 1 +- 2e-16, is constant)."""
    with np.errstate(over="ignore", invalid="ignore"):
        lost = ~(std > _RELATIVE_CONSTANT * np.abs(mean)) & (
            high - low > _ROUNDING_ULPS * np.spacing(np.abs(mean))
        )
    if lost.any():
        i = int(np.flatnonzero(lost)[0])
        warn_user(
            f"X's column (channel or feature) {i} holds values from "
            f"{float(low[i]):.17g} to {float(high[i]):.17g}, whose standard "
            f"deviation ({float(std[i]):.3g}) is less than "
            f"{_RELATIVE_CONSTANT:g} of their magnitude: float64 keeps too "
            "few of their digits, so the column is taken for constant "
            f"({int(lost.sum())} such column(s)). Expected values whose spread "
            "float64 holds: subtract the offset first (e.g. X - X.mean(axis=0)).",
            UserWarning,
        )


#: A sample whose largest magnitude is this many times the typical sample's
#: looks like data in other units (0-255 images among 0-1 ones: 255x) ...
MIXED_UNITS_RATIO = 30.0
#: ... when such samples are apart from the others, the smallest of them this
#: many times the largest of the rest: brightness that spreads over orders
#: of magnitude without a gap (star fields, exposures) is one unit.
MIXED_UNITS_GAP = 10.0


def _warn_mixed_units(row_max):
    """Warn when a minority of the samples is far larger than the rest, with
    a gap between them: images in 0-255 mixed with images in 0-1 train a
    network on the first kind only and a detector that flags nothing (a
    hostile probe: 10% of such images, no warning at fit, AUROC .96 ->
    .83)."""
    # the typical sample: the lower median of those that are not blank
    # (blank samples say nothing of their units). With half the samples in
    # each unit, the median of the two middle ones lay between them and
    # nothing warned; with half of them blank it was 0 (a probe, a review).
    # Near the float64 maximum nothing may overflow, or numpy warns of it
    # (a probe, data at 1e308): ratios are compared by division.
    positive = row_max[row_max > 0]
    if not len(positive):
        return
    typical = float(np.percentile(positive, 50, method="lower"))
    if not np.isfinite(typical):
        return
    is_large = row_max / MIXED_UNITS_RATIO > typical
    large = np.flatnonzero(is_large)
    if not 0 < len(large) <= len(positive) // 2:
        return
    if not row_max[large].min() / MIXED_UNITS_GAP > row_max[~is_large].max():
        return
    first = int(large[0])
    warn_user(
        f"{len(large)} of {len(row_max)} samples of X (e.g. sample {first}, "
        f"whose largest value is {row_max[first]:.6g}) hold values more than "
        f"{MIXED_UNITS_RATIO:g} times the largest value of a typical sample "
        f"({typical:.6g}). Expected every sample in the same units: if X mixes "
        "units (images in 0-255 beside images in 0-1), rescale those samples; "
        "if they are outliers, they shape the network and its threshold.",
        UserWarning,
    )


def robust_bounds(rows):
    """Per-channel (or per-feature) range of plausible values.

    Of up to ``_QUANTILE_ROWS`` rows (evenly spaced; of images, about
    ``_QUANTILE_VALUES`` values a channel), the ``k``-th smallest and
    largest values ``lo``, ``hi`` of each column, ``k`` one more than a
    thousandth of them (at least the second: one corrupt value has no
    say), widened by ten times ``hi - lo`` on each side: values no
    measurement gives, not merely large ones.

    No value of a clean sample from a bounded or Gaussian-like distribution
    lies outside (about 50 standard deviations for a Gaussian; [-10, 11]
    for pixels in [0, 1]); a column whose ``lo`` and ``hi`` agree (mostly
    constant) is not bounded, so rare non-constant values of it are kept.
    Of 20 images or more, each channel the first rule bounds is also
    bounded by the ``k``-th smallest of the images' minima and largest of
    their maxima, ``k`` one more than ``_CORRUPT_IMAGE_SHARE`` of the
    images, widened by a hundred times their gap, and the tighter bound of
    the two holds: a few whole images of garbage (5 of 182 digits at 1e37)
    are clipped too, where they would otherwise set the scale and flatten
    every other image to the same score. Clean images lie inside both
    bounds unless one is a hundred times brighter than the 95% brightest
    (none of 76 benchmark training sets clipped a value); a mostly constant
    channel (sparse images), and a column of fewer than ``_BOUND_MIN_VALUES``
    values (a few rows of tabular data), stay unbounded.
    Also returns each column's largest finite magnitude: of its bounds, or
    of the values read when it is not bounded.
    """
    n = len(rows)
    per_row = int(np.prod(rows.shape[2:])) if len(rows.shape) == 4 else 1
    n_read = min(n, _QUANTILE_ROWS, max(100, _QUANTILE_VALUES // per_row))
    positions = np.unique(np.linspace(0, n - 1, n_read).astype(int))
    step = block_rows(rows.shape[1:])  # out-of-core rows: a block at a time
    sample = np.concatenate(
        [
            read_block(rows, positions[i : i + step])
            for i in range(0, len(positions), step)
        ]
    )
    images = sample.ndim == 4
    if images:
        minima, maxima = sample.min(axis=(2, 3)), sample.max(axis=(2, 3))
        sample = sample.transpose(1, 0, 2, 3).reshape(sample.shape[1], -1).T
    m = len(sample)
    k = min(1 + math.ceil(m / 1000), m)  # the k-th smallest and largest
    ordered = np.partition(sample, [k - 1, m - k], axis=0)
    lower, upper, free = _widened(ordered[k - 1], ordered[m - k])
    if m < _BOUND_MIN_VALUES:  # too few to tell a corrupt value from the rest
        free[:] = True
    if images and len(minima) >= _IMAGE_RULE_MIN:
        m = len(minima)
        k = min(1 + math.ceil(m * _CORRUPT_IMAGE_SHARE), m)
        lo = np.partition(minima, k - 1, axis=0)[k - 1]
        hi = np.partition(maxima, m - k, axis=0)[m - k]
        image_lower, image_upper, image_free = _widened(lo, hi, _IMAGE_BOUND_WIDTHS)
        both = ~(free | image_free)  # a mostly constant channel stays free
        lower = np.where(both, np.maximum(lower, image_lower), lower)
        upper = np.where(both, np.minimum(upper, image_upper), upper)
    magnitude = np.maximum(np.abs(lower), np.abs(upper))
    lower[free], upper[free] = -np.inf, np.inf
    magnitude[free] = np.abs(sample[:, free]).max(axis=0)
    return lower, upper, magnitude


def _widened(lo, hi, widths=_BOUND_WIDTHS):
    """``lo`` and ``hi`` widened by ``widths`` times their gap on each side,
    and which columns have no gap (not bounded)."""
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float64: inf
        width = hi - lo
        lower, upper = lo - widths * width, hi + widths * width
    return lower, upper, ~(width > 0)


def read_block(rows, index):
    """Rows ``index`` (a slice or sorted int array) as a contiguous float64
    ndarray: reductions over a transposed view (channels-last images read
    channels first) would otherwise sum in another order."""
    return np.ascontiguousarray(rows[index], dtype=np.float64)


#: The spread of scored data is taken of values clipped to this many of the
#: training data's scales around its centre, unless more than
#: UNITS_CLIP_SHARE of a channel's values lie beyond: one corrupt pixel of
#: 1e4 among 200 8x8 digits no longer looked like data in other units,
#: while uint16 images against training data in [0, 1] (nearly every value
#: beyond) still do.
UNITS_CLIP = 100.0
UNITS_CLIP_SHARE = 0.01
#: Scored data whose spread is beyond this factor of the training data's,
#: either way, look like data in other units (uint8 0-255 against [0, 1]:
#: 255x) ...
UNITS_FACTOR = 10.0
#: ... unless (images) at most this share of the images lie that far off
#: on their own (RangeTracker._count_images): one image at 100 times the
#: brightness among ten 8x8 digits took the spread of all to 34x and was
#: reported as the whole batch in other units (a hostile probe).
UNITS_ROW_SHARE = 0.5


class RangeTracker:
    """The per-channel spread and range of the data read for scoring.

    With a ``standardization`` (the fitted model's), a channel's spread is
    of its values clipped to ``UNITS_CLIP`` of its scales around its centre
    when at most ``UNITS_CLIP_SHARE`` of them lie beyond (a few corrupt
    values), else of the values themselves (the range is never clipped).
    Images are also counted by how far each lies from the training data
    (see :meth:`_count_images`).
    """

    def __init__(self, standardization=None):
        self.low = self.high = None
        self.n_rows = 0
        self.moments = Moments()
        self.clipped = Moments()
        self.n_clipped = 0
        self.norm = None
        self.bounds = None
        self.scale = self.center = None
        # images: all, far off, with a spread, with a spread far below
        self.images = np.zeros(4, dtype=np.int64)
        if standardization is not None:
            center = standardization.center.detach().cpu().numpy()
            scale = standardization.scale.detach().cpu().numpy()
            with np.errstate(over="ignore"):
                self.bounds = (center - UNITS_CLIP * scale, center + UNITS_CLIP * scale)
            low, high = standardization.data_range.detach().cpu().numpy()
            self.scale = np.where(high > low, scale, np.nan)  # NaN: constant
            self.center = center

    def update(self, block):
        axes = _reduce_axes(block.ndim)
        self.n_rows += len(block)
        low, high = block.min(axis=axes), block.max(axis=axes)
        self.low = low if self.low is None else np.minimum(self.low, low)
        self.high = high if self.high is None else np.maximum(self.high, high)
        with np.errstate(over="ignore", invalid="ignore"):  # absurd values: inf
            if self.norm is None:
                # each channel divided by a power of two near the first
                # block's magnitude, as in fit_statistics: squares of data
                # at 1e300 stay finite
                magnitude = np.maximum(np.abs(low), np.abs(high)).astype(np.float64)
                magnitude[~((magnitude > 0) & np.isfinite(magnitude))] = 1.0
                self.norm = np.exp2(np.minimum(np.round(np.log2(magnitude)), 1023.0))
            norm = np.expand_dims(self.norm, axes)
            self.moments.update(block / norm, axes)
            if self.bounds is not None and len(self.bounds[0]) == block.shape[1]:
                lower, upper = (np.expand_dims(b, axes) for b in self.bounds)
                beyond = (block < lower) | (block > upper)
                self.n_clipped = self.n_clipped + beyond.sum(axis=axes)
                self.clipped.update(np.clip(block, lower, upper) / norm, axes)
            if block.ndim == 4 and self.scale is not None and len(block):
                self._count_images(block)

    def _count_images(self, block):
        """Count the images of ``block``: all, those whose root mean square
        distance from the training centre exceeds ``UNITS_FACTOR`` training
        scales, those with any spread, and those whose own spread is below
        ``1 / UNITS_FACTOR`` of the training scale (medians over the
        channels). Brightness alone moves the first (images that differ
        from each other mainly in brightness have little spread of their
        own), contrast alone the last."""
        known = ~np.isnan(self.scale)
        if not known.any() or len(self.scale) != block.shape[1]:
            return
        with np.errstate(all="ignore"):  # data at 1e300: inf, far off
            std = block.std(axis=(2, 3))[:, known]
            mean = block.mean(axis=(2, 3))[:, known]
            scale, center = self.scale[known], self.center[known]
            own = np.median(std / scale, axis=1)
            far = np.median(np.hypot(std, mean - center) / scale, axis=1)
        spread = own > 0
        self.images += (
            len(block),
            (far > UNITS_FACTOR).sum(),
            spread.sum(),
            (spread & (own < 1 / UNITS_FACTOR)).sum(),
        )

    def _std(self):
        """Each channel's spread (see the class)."""
        std = self.moments.std()
        if self.clipped.count:
            few = self.n_clipped <= UNITS_CLIP_SHARE * self.clipped.count
            std = np.where(few, self.clipped.std(), std)
        return std * self.norm

    def mismatch(self, standardization, factor=UNITS_FACTOR, min_rows=10):
        """A message when the data look like they are in other units.

        Compares each channel's standard deviation over the scored data with
        the training data's; when their median ratio is beyond ``factor``
        either way (uint8 0-255 at fit and floats in [0, 1] now: 255x) it
        returns a message, else None. A few extreme samples (outliers) move
        a standard deviation far less than a range; and images warn only
        when more than ``UNITS_ROW_SHARE`` of them lie more than ``factor``
        training scales from the training centre (a larger spread), or of
        those with any spread have their own below ``1 / factor`` of it (a
        smaller one): one bright image among ten moves the spread of all
        ten. Fewer than ``min_rows``
        rows and blank data never warn; channels constant in training, and
        those that take one value in the scored data, are left out of the
        ratio.
        """
        if self.low is None or self.n_rows < min_rows:
            return None
        data_min, data_max = standardization.data_range.cpu().numpy()
        scale = standardization.scale.cpu().numpy()
        varying = data_max > data_min
        with np.errstate(over="ignore", invalid="ignore"):
            std = self._std()
            # a channel that takes one value (a row repeated) is blank: its
            # spread, from the moments' rounding, came out as 1e-16 of the
            # training one ("other units")
            blank = (self.high <= self.low) | ~(std > 0)
            measured = varying & ~blank  # blank ones say nothing of the units
            if not measured.any():
                return None
            ratio = float(np.median(std[measured] / scale[measured]))
        if 1 / factor < ratio < factor:
            return None
        n_images, far, with_spread, below = (int(v) for v in self.images)
        votes, voters = (far, n_images) if ratio > 1 else (below, with_spread)
        if voters and votes <= UNITS_ROW_SHARE * voters:
            return None  # a few images far off: outliers, not other units
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
