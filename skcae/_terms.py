"""The terms of the detectors' score: each a small torch module.

A term turns the features of one network pass (see
:meth:`skcae._scorer.Scorer.features`) into a positive cost per sample,
higher for more abnormal samples. It holds as buffers what it was fitted
on (kNN references, their whitening) and its :class:`Calibration`.

Adding a term is one class and one registration::

    @register_term("my_term")
    class MyTerm(Term):
        reference_buffers = ("reference",)      # rows vary: 1..MAX_REFERENCES

        def __init__(self, config):
            super().__init__(config)
            self.register_buffer("reference", torch.zeros(0, d, dtype=...))

        def reference_features(self, features):  # per sample, to fit on
            ...

        def fit(self, values):                   # values of the references
            self.reference = torch.from_numpy(values)

        def forward(self, features, leave_one_out=False):
            ...                                  # float64 cost, shape (n,)

``fit`` returns the references' leave-one-out costs (the calibration's
samples); beyond FIT_SUBSET references the calibration takes those of some
of them (:meth:`Term.fit_rows`, which a term may override to compute only
those).

Persistence (the buffers' shapes come from an empty build on the meta
device) and ONNX export (the term is part of the scorer's graph) follow.
"""

import math
from statistics import NormalDist

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ._threads import chunk_rows
from ._tuning import (
    MAX_EPS,
    MIN_SPREAD,
    POOLED_SMOOTHING,
    POOLED_TOP_FRACTION,
    RANGE_FLOOR,
    RANGE_NARROW_QUANTILE,
    RANGE_OFFSET,
    RESIDUAL_FLOOR,
    RESIDUAL_MAX_SIDE,
    TAIL_MIN_SPREAD,
)

#: The registered terms, by name (see :func:`register_term`).
TERMS = {}


def register_term(name):
    """Class decorator: make a :class:`Term` available under ``name``."""

    def register(cls):
        cls.name = name
        TERMS[name] = cls
        return cls

    return register


def scalar():
    return torch.zeros((), dtype=torch.float64)


class Calibration(nn.Module):
    """A scale-free version of a positive cost, fitted on normal samples.

    ``t(c) = (log(c + eps) - center) / spread`` where ``center`` and
    ``spread`` are the median and the robust spread (the interquartile
    range / 1.349, i.e. a robust standard deviation; the standard deviation
    if that is 0; at least ``MIN_SPREAD``) of ``log(c + eps)`` over the
    calibration samples and ``eps`` is a millionth of their median cost (a
    floor for costs of exactly zero). For normal samples ``t`` is about a
    standard normal, whatever the units of ``c``, so terms in different
    units can be combined.
    """

    def __init__(self):
        super().__init__()
        for name in ("center", "spread", "eps"):
            self.register_buffer(name, scalar())
        with torch.no_grad():
            self.spread.fill_(1.0)
            self.eps.fill_(1e-300)

    def fit(self, costs):
        costs = np.asarray(costs, dtype=np.float64)
        median_cost = float(np.median(costs)) if len(costs) else 0.0
        eps = max(1e-6 * median_cost, 1e-300)
        logs = np.log(costs + eps)
        q75, q25 = np.percentile(logs, [75, 25])
        spread = float((q75 - q25) / 1.349)
        if not spread > MIN_SPREAD:
            spread = float(np.std(logs))
        # costs that (nearly) all agree, e.g. the leave-one-out distances of a
        # handful of codes, which whitening places on a regular simplex: a
        # spread of 1e-15 would turn any other cost into a t of 1e15
        with torch.no_grad():
            self.center.fill_(float(np.median(logs)))
            self.spread.fill_(max(spread, MIN_SPREAD))
            self.eps.fill_(eps)
        return self

    def forward(self, costs):
        """``t`` of costs (a float64 tensor)."""
        return (torch.log(costs + self.eps) - self.center) / self.spread

    def check(self):
        spread, eps = float(self.spread), float(self.eps)
        if not (spread >= MIN_SPREAD and 1e-300 <= eps <= MAX_EPS):
            raise ValueError(
                f"spread {spread:.3g} and eps {eps:.3g}; expected spread >= "
                f"{MIN_SPREAD} and eps in [1e-300, {MAX_EPS:g}]"
            )


class TailCalibration(Calibration):
    """A :class:`Calibration` for costs that most normal samples share
    (their smallest), fitted on the others, the tail.

    With a share ``p`` of the calibration costs above their smallest, the
    median of those maps to ``t`` of the standard normal's upper ``p / 2``
    quantile, and the robust spread of their logs (at least
    ``TAIL_MIN_SPREAD``) is the spread: a cost as rare among normal
    samples as that median is about as rare as the standard normal says.
    Fitted on all costs, the point mass left an interquartile range of
    zero, the spread fell to the standard deviation of the logs (0.08 on
    binary digits, 0.3 on real ones), and a typical excess of a new
    normal image came out at ``t`` of 8 to 40 (a probe). Costs that are
    all the same (two training images, each measured against the other):
    as :class:`Calibration`, with the same floor on the spread (its own,
    0.05, gave new normal images a ``t`` of 46, a probe).
    """

    def fit(self, costs):
        """Fit on the calibration costs ``costs`` (leave-one-out, of
        normal samples); return self."""
        costs = np.asarray(costs, dtype=np.float64)
        above = costs[costs > costs.min()] if len(costs) else costs
        if not len(above):
            super().fit(costs)
            with torch.no_grad():
                self.spread.clamp_(min=TAIL_MIN_SPREAD)
            return self
        eps = max(1e-6 * float(np.median(costs)), 1e-300)
        logs = np.log(above + eps)
        q75, q50, q25 = np.percentile(logs, [75, 50, 25])
        spread = max(float((q75 - q25) / 1.349), TAIL_MIN_SPREAD)
        level = NormalDist().inv_cdf(1.0 - 0.5 * len(above) / len(costs))
        with torch.no_grad():
            self.center.fill_(float(q50) - level * spread)
            self.spread.fill_(spread)
            self.eps.fill_(eps)
        return self

    def check(self):
        super().check()
        if not float(self.spread) >= TAIL_MIN_SPREAD:
            raise ValueError(
                f"spread {float(self.spread):.3g}; expected at least "
                f"{TAIL_MIN_SPREAD} (a tail calibration's floor)"
            )


def sample_shape(module_kwargs):
    """The shape of one sample of the network of ``module_kwargs`` (a
    dict): its ``input_shape``, or ``(n_features,)``."""
    shape = module_kwargs.get("input_shape", (module_kwargs.get("n_features", 1),))
    return tuple(int(v) for v in shape)


def sample_values(module_kwargs):
    """Values of one sample of the network of ``module_kwargs`` (a dict)."""
    return math.prod(sample_shape(module_kwargs))


def chunk_of(config):
    """Rows a model of ``config`` computes at once when scoring
    (:func:`~skcae._threads.chunk_rows` of its sample's size): its network
    and its kNN searches alike, so no chunk is padded twice."""
    return chunk_rows(sample_values(dict(config.module_kwargs)))


class Term(nn.Module):
    """A positive cost per sample, computed from the features of one pass.

    ``config`` is the scorer's :class:`~skcae._scorer.ScorerConfig`.
    Subclasses set ``reference_buffers`` (buffers with one row per
    reference; an empty build gives them zero rows) and override
    :meth:`reference_features` and :meth:`fit` when they learn from the
    training samples, and :meth:`forward`.
    """

    name = None
    reference_buffers = ()
    #: Whether :meth:`fit` learns from reference samples (then it returns
    #: their leave-one-out costs, and :meth:`cost` scores new vectors).
    learns_from_references = False
    #: Whether :meth:`fit` takes every training sample, those that trimming
    #: drops from the other terms' references included, and the calibration
    #: all of their leave-one-out costs (not FIT_SUBSET of them).
    untrimmed = False

    def __init__(self, config):
        super().__init__()
        self.calibration = Calibration()

    def reference_features(self, features):
        """Per-sample values (a tensor ``(n, d)``) to fit on, or None."""
        return None

    def fit(self, values):
        """Fit the buffers on the reference features of the training samples."""

    def fit_rows(self, values, rows):
        """:meth:`fit`, returning the leave-one-out costs of the references
        ``rows`` only (indices; a term may compute just those)."""
        return np.asarray(self.fit(values))[rows]

    def forward(self, features, leave_one_out=False):
        """The cost of each sample (float64 tensor of shape (n,)).

        ``leave_one_out``: the samples are the references themselves, each
        left out of its own neighbours (for the calibration).
        """
        raise NotImplementedError

    def reliability(self):
        """How much of its weight the term gets in the hybrid score (1)."""
        return 1.0

    def check(self):
        """ValueError unless the buffers are values fit can give."""
        try:
            self.calibration.check()
        except ValueError as exc:
            raise ValueError(f"invalid calibration for {self.name!r}: {exc}") from exc


# -- the reconstruction terms ------------------------------------------------------
def _as_images(err):
    """View per-value errors as images ``(n, C, H, W)`` (rows: one channel)."""
    return err if err.ndim == 4 else err.reshape(err.shape[0], 1, 1, -1)


def _box_blur(err, kernel):
    """Mean over a centred ``kernel`` window, zero padding, in ``err``'s dtype.

    Written as sums of shifted slices (along the width, then the height)
    rather than ``avg_pool2d``, so it runs in float64 and exports to ONNX
    operators that onnxruntime runs in float64 (its AveragePool takes
    float32 only). A window of ``2 * side - 1`` or more covers the whole
    image from every pixel, so a wider one sums as that one does (and
    divides by its own area): ``score_smoothing=9999`` on 8x8 images
    padded each to 10,007 pixels a side and ran out of memory (a probe).
    """
    height, width = err.shape[-2:]
    area = kernel[0] * kernel[1]
    kh, kw = min(kernel[0], 2 * height - 1), min(kernel[1], 2 * width - 1)
    padded = F.pad(err, (kw // 2, kw // 2, kh // 2, kh // 2))
    rows = padded[..., :, 0:width]
    for j in range(1, kw):
        rows = rows + padded[..., :, j : j + width]
    total = rows[..., 0:height, :]
    for i in range(1, kh):
        total = total + rows[..., i : i + height, :]
    return total / area


def pooled_error(errors, smoothing=1, top_fraction=1.0):
    """Per-sample reconstruction error from per-value errors (float64).

    The errors are averaged over channels, box-blurred with a
    ``smoothing`` x ``smoothing`` window (zero padding), and the mean of the
    largest ``top_fraction`` of pixels is returned. With ``smoothing=1`` and
    ``top_fraction=1.0`` this is the mean squared error of each sample.
    """
    err = _as_images(errors).to(torch.float64)
    if smoothing > 1 or top_fraction < 1.0:
        err = err.mean(1, keepdim=True)
    if smoothing > 1:
        k = smoothing
        err = _box_blur(
            err, (1 if err.shape[-2] == 1 else k, 1 if err.shape[-1] == 1 else k)
        )
    flat = err.flatten(1)
    if top_fraction < 1.0:
        k_top = max(1, math.ceil(top_fraction * int(flat.shape[1])))
        if k_top < flat.shape[1]:
            flat = torch.topk(flat, k_top, dim=1, sorted=False).values
    return flat.mean(1)


@register_term("mse")
class MeanSquaredError(Term):
    """Mean squared reconstruction error (the channels weighted by their
    relative squared scales), with the detector's ``score_smoothing`` and
    ``score_top_fraction``."""

    def __init__(self, config):
        super().__init__(config)
        self.smoothing = int(config.smoothing)
        self.top_fraction = float(config.top_fraction)

    def forward(self, features, leave_one_out=False):
        return pooled_error(features["errors"], self.smoothing, self.top_fraction)


@register_term("pooled")
class PooledError(Term):
    """The squared error box-blurred 3x3 and averaged over its 10% largest
    pixels: a localised defect (a stroke too many) stands out."""

    def forward(self, features, leave_one_out=False):
        return pooled_error(features["errors"], POOLED_SMOOTHING, POOLED_TOP_FRACTION)


def pool_to_side(maps, side):
    """Maps ``(n, C, H, W)`` average-pooled in whole blocks so that each
    side has at most ``side`` pixels (zero-padded to whole blocks; the
    same maps where they are that small already). The density term's maps
    and the residual term's errors are pooled so."""
    height, width = maps.shape[-2:]
    fh, fw = math.ceil(height / side), math.ceil(width / side)
    if fh <= 1 and fw <= 1:
        return maps
    maps = F.pad(maps, (0, -width % fw, 0, -height % fh))
    return F.avg_pool2d(maps, (fh, fw))


def _block_means(err, side):
    """Per-pixel errors (any layout, see :func:`_as_images`) averaged over
    channels and over blocks, so that each side has at most ``side`` pixels
    (:func:`pool_to_side`): ``(n, 1, h, w)`` float64.

    Averaged in float32 with ``avg_pool2d`` (0.2 ms a 128-row chunk of
    28x28 errors against 1.3 ms for a float64 reshape and mean, measured by
    hand; ONNX's AveragePool, which onnxruntime runs in float32 only), then
    widened."""
    err = _as_images(err).to(torch.float32)
    if err.shape[1] > 1:
        err = err.mean(1, keepdim=True)
    return pool_to_side(err, side).to(torch.float64)


def _block_grid(config):
    """The grid of blocks :func:`_block_means` gives for a sample of the
    network of ``config`` (a meta pass: nothing is computed)."""
    shape = sample_shape(dict(config.module_kwargs))
    with torch.device("meta"):
        blocks = _block_means(torch.empty(1, *shape), RESIDUAL_MAX_SIDE)
    return tuple(blocks.shape[-2:])


@register_term("residual")
class ScaledError(Term):
    """The squared error of each pixel over that pixel's mean squared error
    on the training samples, averaged over the pixels (or smoothed and
    averaged over the largest, as the ``mse`` term: ``score_smoothing``,
    ``score_top_fraction``).

    A pixel the network always reconstructs well (the background of a
    digit, a photo's flat sky) weighs more than one it always gets wrong
    (a stroke's edge): scattered bright pixels or a line where normal
    images have none stand out, where the plain mean squared error drowns
    them in the errors that normal images make anyway. The errors are
    averaged over channels and over blocks, so that each side has at most
    ``RESIDUAL_MAX_SIDE`` blocks (16x16 blocks at most: the references'
    errors stay small); each block's mean error gets ``RESIDUAL_FLOOR``
    times the mean over blocks added (a floor: a block never seen wrong
    does not weigh without bound). The leave-one-out cost of a training
    sample divides by the other samples' mean errors (plus the floor of
    all of them). Smoothing and the top fraction act on the grid of
    blocks, so their windows count blocks, not pixels.
    """

    learns_from_references = True

    def __init__(self, config):
        super().__init__(config)
        self.grid = _block_grid(config)
        self.smoothing = int(config.smoothing)
        self.top_fraction = float(config.top_fraction)
        # 1 / (the block's mean error + the floor)
        self.register_buffer("weight", torch.zeros(self.grid, dtype=torch.float64))

    def reference_features(self, features):
        return _block_means(features["errors"], RESIDUAL_MAX_SIDE).flatten(1)

    def _pooled(self, ratios):
        images = ratios.reshape(-1, 1, *self.grid)
        return pooled_error(images, self.smoothing, self.top_fraction)

    def fit(self, values):
        values = torch.as_tensor(np.asarray(values, np.float64))
        m = values.shape[0]
        # sums of the excess over the first row: copies of one image have
        # exactly its errors as their mean, whatever their number, so a
        # model and its cross-fitted networks (and the leave-one-out costs)
        # weigh them alike and score them to the bit (a sum of 20 copies
        # rounded: 20 identical training images scored 1e-15 below the
        # threshold their own calibration set, and were flagged)
        first = values[:1]
        excess = values - first
        total = excess.sum(0)
        mean = (first + total / max(m, 1))[0]
        floor = max(RESIDUAL_FLOOR * float(mean.mean()), 1e-300)
        self.weight = (1.0 / (mean + floor)).reshape(self.grid)
        if m < 2:
            return self.cost(values).numpy()
        others = first + (total - excess) / (m - 1)
        return self._pooled(values * (1.0 / (others + floor))).numpy()

    def cost(self, values, leave_one_out=False):
        """The cost of block errors ``values`` (a tensor ``(n, blocks)``)."""
        return self._pooled(values.to(torch.float64) * self.weight.flatten())

    def forward(self, features, leave_one_out=False):
        return self.cost(self.reference_features(features))

    def check(self):
        super().check()
        weight = self.weight
        # fit gives 1 / (mean + floor), the floor at least 1e-300
        if not (torch.isfinite(weight).all() and (weight > 0).all()) or (
            weight.numel() and float(weight.max()) > 1e300
        ):
            raise ValueError("the 'residual' term's pixel weights are invalid")


@register_term("range")
class PixelRange(Term):
    """How far the sample's pixels lie beyond the values the training
    samples take there: each pixel's excess over the training maximum (or
    under the minimum), squared, over that pixel's variance on the
    training samples, averaged over the pixels.

    Scattered noise that stays within the size of the reconstruction's own
    errors (a pixel that is zero in every training image and now is not)
    stands out here, as it does for an isolation forest; a new sample
    within the training range costs nothing. The standardised pixels are
    averaged over channels and over blocks, as the ``residual`` term's
    errors (at most ``RESIDUAL_MAX_SIDE`` blocks a side). Each block's
    variance gets ``RANGE_FLOOR`` times the mean over blocks added (a
    pixel that never varies does not weigh without bound), and every cost
    gets ``RANGE_OFFSET`` times the median of the references' positive
    leave-one-out costs (most of those are zero: a sample lies beyond the
    others' range only where it is their maximum or minimum), so the
    calibration's log compares a cost with a typical excess, not with
    zero (without any, as when ties hold every extreme, a tenth of the cost
    of one block a floor's standard deviation out). The leave-one-out cost
    of a training sample measures it against the range of the others.
    Exact copies count once, as for the kNN terms.
    """

    learns_from_references = True
    # the samples that trimming drops hold the extremes a range is made of
    # (fitted on the references kept, a pixel lit in 2 of 1,000 binary
    # training digits had a range of "never lit", and new digits lighting
    # it were flagged: a probe); and most samples lie within the others'
    # range, so FIT_SUBSET of them held too few of the rest for a steady
    # calibration (on 100 of 600 8x8 digits the whole score's ranking
    # moved, correlation 0.937 with the one calibrated on all)
    untrimmed = True

    def __init__(self, config):
        super().__init__(config)
        self.calibration = TailCalibration()
        self.grid = _block_grid(config)
        for name in ("low", "high", "weight"):
            self.register_buffer(name, torch.zeros(self.grid, dtype=torch.float64))
        self.register_buffer("offset", scalar())
        # the share of its weight (see reliability)
        self.register_buffer("share", scalar())

    def reference_features(self, features):
        return _block_means(features["z"], RESIDUAL_MAX_SIDE).flatten(1)

    def _raw(self, values, low, high):
        excess = (values - high).clamp_min(0.0) + (low - values).clamp_min(0.0)
        return (excess.square() * self.weight.flatten()).mean(1)

    def fit(self, values):
        """Fit the ranges on the distinct rows of ``values`` (as the kNN
        terms keep one reference per distinct row: 30 copies of each
        training image would share every maximum, leave every reference
        within the others' range, and make a hair beyond it look far out);
        return each row's leave-one-out cost (that of its distinct row)."""
        from ._knn_terms import distinct_rows  # imports this module

        values = np.asarray(values, np.float64)
        first, copy_of = distinct_rows(values)
        if first is not None:
            values = values[first]
        m, width = values.shape
        low, high = values.min(0), values.max(0)
        variance = values.var(0)
        floor = max(RANGE_FLOOR * float(variance.mean()), 1e-300)
        self.low = torch.from_numpy(low.reshape(self.grid).copy())
        self.high = torch.from_numpy(high.reshape(self.grid).copy())
        self.weight = torch.from_numpy((1.0 / (variance + floor)).reshape(self.grid))
        # the chance that a new sample of continuous values, drawn as the m
        # references were, lies within every block's range of theirs: the
        # term's silence on normal data (ties, as quantised images have,
        # make it likelier)
        silent = (1.0 - 2.0 / (m + 1.0)) ** width
        share = _narrowness(low, high) * silent
        self.share = torch.tensor(share, dtype=torch.float64)
        raw = np.zeros(m)
        if m >= 2:
            # each sample against the range of the others: the second
            # largest (smallest) value where it is the largest (smallest)
            ordered = np.partition(values, (1, m - 2), axis=0)
            others_high = np.where(values >= high, ordered[m - 2], high)
            others_low = np.where(values <= low, ordered[1], low)
            raw = self._raw(
                torch.from_numpy(values),
                torch.from_numpy(others_low),
                torch.from_numpy(others_high),
            ).numpy()
        positive = raw[raw > 0]
        # no sample beyond the others' range (one sample, or ties at every
        # extreme, as binary images give): a tenth of the cost of one block
        # a floor's standard deviation beyond it
        typical = float(np.median(positive)) if len(positive) else 1.0 / width
        offset = min(max(RANGE_OFFSET * typical, 1e-12), MAX_EPS)
        self.offset = torch.tensor(offset, dtype=torch.float64)
        return (raw + offset)[copy_of]

    def reliability(self):
        """The term's share of its weight (``share``, in [0, 1]): how much
        narrower than the whole range of the training values the ranges of
        their narrowest tenth of pixels are, times the chance that a new
        sample drawn as the ``m`` references were lies within every one of
        the ``B`` blocks' ranges, ``(1 - 2 / (m + 1)) ** B`` (continuous
        values; ties make it likelier). Images of one layout (digits,
        faces) keep some pixels in a narrow band (a digit's blank border:
        narrowness 1 on MNIST and 8x8 digits); crops of photos at any
        position give every pixel about the whole range (0.1-0.4 on
        validation crops), where a pixel beyond its range says little. And
        among few references most new normal samples lie beyond some
        block's range (120 8x8 digits: a chance of 0.35 to lie within):
        at full weight there the term cost one-class 8x8 digits up to .014
        AUROC (digit 8), on 30 8x8 3s it flagged 26% of new 3s (5% before
        the term)."""
        return self.share

    def cost(self, values, leave_one_out=False):
        """The cost of block values ``values`` (a tensor ``(n, blocks)``)
        against the references' ranges (``leave_one_out`` is not used:
        :meth:`fit` returns the references' own leave-one-out costs)."""
        values = values.to(torch.float64)
        low, high = self.low.flatten(), self.high.flatten()
        return self._raw(values, low, high) + self.offset

    def forward(self, features, leave_one_out=False):
        return self.cost(self.reference_features(features))

    def check(self):
        super().check()
        weight, offset = self.weight, float(self.offset)
        if not (
            torch.isfinite(weight).all()
            and (weight > 0).all()
            and torch.isfinite(self.low).all()
            and torch.isfinite(self.high).all()
            and (self.low <= self.high).all()
        ) or (weight.numel() and float(weight.max()) > 1e300):
            raise ValueError("the 'range' term's pixel ranges are invalid")
        if not 0.0 <= float(self.share) <= 1.0:
            raise ValueError(
                f"the 'range' term's share {float(self.share):.3g} is invalid; "
                "expected a number in [0, 1]"
            )
        if not 1e-12 <= offset <= MAX_EPS:
            raise ValueError(f"the 'range' term's offset {offset:.3g} is invalid")


def _narrowness(low, high):
    """1 minus the width of the pixels' ``RANGE_NARROW_QUANTILE`` narrowest
    range over the width of the whole range (``low``, ``high``: each
    pixel's; 0 where the values never vary)."""
    widths = np.asarray(high, np.float64) - np.asarray(low, np.float64)
    whole = float(np.max(high) - np.min(low))
    if not whole > 0:
        return 0.0
    narrow = float(np.quantile(widths, RANGE_NARROW_QUANTILE))
    return float(np.clip(1.0 - narrow / whole, 0.0, 1.0))
