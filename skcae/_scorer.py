"""The fitted model as one torch module: standardisation, network, score.

:class:`AutoencoderModel` is what every fitted estimator keeps: the
float64 :class:`Standardization` and the network, with the
one definition of the per-value reconstruction error. :class:`Scorer`
(the detectors' ``scorer_``) adds the score's terms
(:mod:`skcae._terms`), their calibrations and their combination, so that
``scorer_(x)`` is the outlier cost of data ``x`` in the caller's units.
Scoring, ONNX export, persistence and the plots all read this module.

:func:`run_batches` runs a function of the model over rows of any kind
(arrays, memmaps, lazy datasets), block by block.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ._knn_terms import TERMS
from ._network import autocast
from ._terms import chunk_of
from ._threads import chunk_rows, current_call, map_chunks
from ._tuning import (
    DENSITY_QUERY_NEIGHBORS,
    PIXEL_DENSITY_WEIGHTS,
    TERM_WEIGHTS,
    TRIM_TERMS,
    Z_LIMIT,
)

# Numerical Recipes' erfc (fractional error below 1.2e-7 everywhere) as
# coefficients of its exponent's polynomial in 1 / (1 + z / 2): a log upper
# tail that never underflows, from exp and log only, so the ONNX graph
# (onnxruntime has no float64 Erf) computes the same.
_ERFC = (
    -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
    0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277,
)  # fmt: skip


def neg_log_sf(t):
    """``-log(P(N(0, 1) > t))`` of a float64 tensor, finite for every finite t.

    About ``t ** 2 / 2`` far in the upper tail, near zero for negative t;
    the tail probability's relative error is below 1.2e-7.
    """
    # z * z stays finite; the bound is a float32 number, as an exported
    # graph holds it (1e150 became inf there, and inf - inf NaN)
    z = t.abs().clamp_max(1e38) / math.sqrt(2.0)
    u = 1.0 / (1.0 + 0.5 * z)
    poly = torch.zeros_like(u)
    for c in reversed(_ERFC):
        poly = poly * u + c
    log_erfc = torch.log(u) - z * z + poly  # log(erfc(|t| / sqrt(2)))
    upper = math.log(2.0) - log_erfc  # -log(erfc / 2), for t >= 0
    lower = -torch.log(1.0 - 0.5 * torch.exp(log_erfc))  # for t < 0
    return torch.where(t >= 0, upper, lower)


def _shaped(values, ndim):
    """Per-channel values shaped to broadcast against (n, C, H, W) or (n, F)."""
    return values.reshape((1, -1, 1, 1) if ndim == 4 else (1, -1))


class Standardization(nn.Module):
    """The input's per-channel (images) or per-feature (rows) standardisation.

    The one place where data in the caller's units become the network's
    input and back: ``forward`` maps float64 data to standardised float32
    values, ``(x - center) / scale`` computed in float64 and clipped to
    ``Z_LIMIT``; :meth:`inverse` maps them back. Float32 would lose data far
    from zero (``1e9 + N(0, 1)`` has no significant digits left) and
    overflow for data at scale ``1e19``; standardised values are of order
    one whatever the units, so the network, its loss and the learning rate
    never see the units.

    Buffers (float64): ``center`` and ``scale`` of shape ``(n_channels,)``,
    the statistics of :func:`fit_statistics`, and ``data_range`` of shape
    ``(2, n_channels)``, the training data's minimum and maximum (to warn
    when new data come in other units).
    """

    def __init__(self, n_channels):
        super().__init__()
        for name, shape in (
            ("center", (n_channels,)),
            ("scale", (n_channels,)),
            ("data_range", (2, n_channels)),
        ):
            self.register_buffer(name, torch.zeros(shape, dtype=torch.float64))

    @classmethod
    def from_statistics(cls, statistics):
        """The standardisation of ``(center, scale, low, high)``, the
        training data's :func:`fit_statistics`."""
        center, scale, low, high = statistics
        return cls(len(center)).set(center, scale, np.stack([low, high]))

    def set(self, center, scale, data_range):
        with torch.no_grad():
            for name, value in (
                ("center", center),
                ("scale", scale),
                ("data_range", data_range),
            ):
                getattr(self, name).copy_(torch.as_tensor(np.asarray(value)))
        return self

    def forward(self, x):
        """Standardise data (a float64 tensor) into float32 network input."""
        z = (x - _shaped(self.center, x.ndim)) / _shaped(self.scale, x.ndim)
        return z.clamp(-Z_LIMIT, Z_LIMIT).to(torch.float32)

    def clip(self, x):
        """Data (float64 tensor) clipped to the training data's range
        (``data_range``): what training sees of values beyond it."""
        low, high = self.data_range
        return torch.clamp(x, _shaped(low, x.ndim), _shaped(high, x.ndim))

    def inverse(self, z):
        """Standardised values (a tensor) back in data units, in float64."""
        z = z.to(torch.float64)
        return z * _shaped(self.scale, z.ndim) + _shaped(self.center, z.ndim)

    def squared_scale(self, ndim, *, relative=False):
        """``scale ** 2`` shaped to multiply squared standardised errors.

        ``relative`` divides it by its largest value (the channels' relative
        weights, which no scale of the data can overflow or underflow).
        """
        scale = self.scale / self.scale.max() if relative else self.scale
        return _shaped(scale.square(), ndim)

    def check(self):
        """ValueError unless the buffers are a standardisation fit can give."""
        if not (self.scale > 0).all():
            raise ValueError("the standardisation's scale must be positive")
        if not (self.data_range[0] <= self.data_range[1]).all():
            raise ValueError("the standardisation's data_range is inverted")


@dataclass(frozen=True)
class ModelConfig:
    """Everything that decides the shapes of a fitted model, as plain values.

    ``module_kwargs`` are sorted ``(name, value)`` pairs of
    ``module_class``; ``n_standardized`` the number of standardised
    channels (images) or features (rows). The detectors add their score:
    ``score_type``, its ``terms`` and their settings; ``n_channels`` is the
    number of image channels (1 for rows).
    """

    module_class: type
    module_kwargs: tuple
    n_standardized: int
    latent_dim: int
    n_channels: int = 1
    score_type: str = None
    terms: tuple = ()
    n_neighbors: int = 5
    density_neighbors: int = DENSITY_QUERY_NEIGHBORS
    smoothing: int = 1
    top_fraction: float = 1.0


class AutoencoderModel(nn.Module):
    """Standardisation and network: data in the caller's units in and out."""

    def __init__(self, config, network=None, standardization=None):
        super().__init__()
        self.config = config
        self.standardization = (
            Standardization(config.n_standardized)
            if standardization is None
            else standardization
        )
        self.network = (
            config.module_class(**dict(config.module_kwargs))
            if network is None
            else network
        )

    def encode(self, x):
        """Codes of data ``x`` (float64, data units)."""
        return self.network.encode(self.standardization(x))

    def decode(self, code):
        """Data (float64, data units) decoded from codes."""
        return self.standardization.inverse(self.network.decode(code).float())

    def reconstruct(self, x):
        return self.decode(self.encode(x))

    @property
    def chunk_rows(self):
        """Rows of each chunk this model computes at once
        (:func:`~skcae._threads.chunk_rows` of its sample's size): scoring
        pads its blocks to a multiple of it, as the CPU kernels give
        bit-identical per-sample results for equal batch sizes but not for
        tiny ones, so scores do not depend on how the caller batches the
        data."""
        if self.config is None:  # a bare model (the callbacks' monitor)
            return None
        return chunk_of(self.config)

    def errors(self, x, *, relative=False):
        """Squared reconstruction error of every value (float64).

        In the squared units of the data; ``relative`` weights the channels
        by their squared scales relative to the largest one instead (the
        score's terms), which no scale of the data can overflow.
        """
        z = self.standardization(x)
        return self.errors_of(z, self.network(z), relative=relative)

    def errors_of(self, z, recon, *, relative=False):
        """:meth:`errors` from standardised inputs and reconstructions."""
        weights = self.standardization.squared_scale(z.ndim, relative=relative)
        return (recon.float() - z).square() * weights

    def check(self):
        """ValueError unless every buffer holds what fit can give."""
        self.standardization.check()


class Scorer(AutoencoderModel):
    """The detectors' fitted score: ``forward(x)`` is the outlier cost.

    One network pass per batch computes the features the terms need
    (:meth:`features`); each term (a module of :mod:`skcae._terms`) turns
    them into a raw positive cost (:meth:`raw_terms`), and :meth:`combine`
    makes the cost of each sample:

    * ``score_type="hybrid"``: each term's calibration maps it to ``t``,
      about a standard normal on normal data; ``-log(sf(t))`` (``sf`` the
      standard normal's upper tail) is the evidence of that term, and the
      cost is their weighted mean (weights ``TERM_WEIGHTS``), Fisher's
      method of combining tests: a term far in its tail dominates, and
      terms that are a little high together add up;
    * a score of one term: that term, the mean squared error in the squared
      units of the data (``"reconstruction"``).
    """

    def __init__(self, config, network=None, standardization=None):
        super().__init__(config, network, standardization)
        self.terms = nn.ModuleDict({name: TERMS[name](config) for name in config.terms})

    def features(self, x):
        """The per-sample features of one network pass over data ``x``.

        ``z`` (standardised input), ``code``, ``maps`` (the encoder blocks'
        outputs), ``recon`` (standardised reconstruction) and ``errors``
        (squared errors, channels weighted by their relative squared scale).
        """
        z = self.standardization(x)
        code, maps = self.network.encode(z, return_maps=True)
        recon = self.network.decode(code)
        errors = self.errors_of(z, recon, relative=True)
        return {"z": z, "code": code, "maps": maps, "recon": recon, "errors": errors}

    def raw_terms(self, x, *, leave_one_out=False):
        """The raw cost of each term, by name (float64 tensors)."""
        features = self.features(x)
        return {
            name: term(features, leave_one_out=leave_one_out)
            for name, term in self.terms.items()
        }

    def combine(self, raw):
        """The outlier cost (float64 tensor) from the raw terms."""
        if self.config.score_type == "hybrid":
            return self._evidence(raw, raw)
        ((name, cost),) = raw.items()
        if name == "mse":  # relative channel weights -> squared data units
            return cost * self.standardization.scale.max().square()
        return cost

    def _evidence(self, raw, names):
        """The weighted mean of ``-log(sf(t))`` over the terms ``names``."""
        names = list(names)
        # one neg_log_sf over the terms stacked: its ~40 elementwise
        # operations once instead of once per term (the same values; a
        # default score chunk ran 406 operations, 231 of them here)
        evidence = neg_log_sf(
            torch.stack([self.terms[name].calibration(raw[name]) for name in names])
        )
        # the first evidence plus the weighted mean of the others' excess
        # over it: exactly that evidence when every term agrees (constant
        # data, where scores and threshold tie), whatever the weights (which
        # follow the references, so differ between the model and the
        # cross-fitted networks that set its threshold)
        base = evidence[0]
        total, weights = 0.0, 0.0
        for name, row in zip(names, evidence):
            weight = self.term_weight(name) * self.terms[name].reliability()
            total = total + weight * (row - base)
            weights += weight
        return base + total / weights

    @property
    def weighs_pixel_density(self):
        """Whether the hybrid image score's density term reads the pixels
        themselves (images of at most 8x8 pixels), where it and the range
        term take ``PIXEL_DENSITY_WEIGHTS`` (file format 12)."""
        terms = self.terms
        return (
            self.config.score_type == "hybrid"
            and "range" in terms
            and "density" in terms
            and terms["density"].reads_pixels
        )

    def term_weight(self, name):
        """The weight of term ``name`` in the hybrid score, before its
        reliability: ``TERM_WEIGHTS``, or ``PIXEL_DENSITY_WEIGHTS`` where
        :attr:`weighs_pixel_density`."""
        if self.weighs_pixel_density and name in PIXEL_DENSITY_WEIGHTS:
            return PIXEL_DENSITY_WEIGHTS[name]
        return TERM_WEIGHTS.get(name, 1.0)

    def trim_terms(self):
        """The terms that rank the training samples for trimming: those of
        ``TRIM_TERMS`` the score has, else all of its terms."""
        if self.config.score_type != "hybrid":
            return list(self.terms)
        return [n for n in TRIM_TERMS if n in self.terms] or list(self.terms)

    def trim_cost(self, raw):
        """How outlying each training sample is, from the raw terms
        :meth:`trim_terms` (leave-one-out), to drop the most outlying from
        the references."""
        if self.config.score_type != "hybrid":
            return self.combine(raw)
        return self._evidence(raw, self.trim_terms())

    def forward(self, x):
        return self.combine(self.raw_terms(x))

    @property
    def cost_is_mse(self):
        """Whether the cost is the plain mean squared error in squared data
        units (``score_type="reconstruction"``, no smoothing, every pixel)."""
        config = self.config
        return (
            config.score_type == "reconstruction"
            and config.smoothing == 1
            and config.top_fraction == 1.0
        )

    def fit_features(self, x):
        """What fitting the terms needs of data ``x``, by term name: the
        reference features of the kNN terms, the raw cost of the others."""
        features = self.features(x)
        values = {}
        for name, term in self.terms.items():
            ref = term.reference_features(features)
            values[name] = term(features) if ref is None else ref
        return values

    def fits_on_references(self, name):
        """Whether the term ``name`` learns from reference samples."""
        return self.terms[name].learns_from_references

    def fit_terms(self, values, rows=None):
        """Fit the kNN terms on the reference features ``values`` (by name,
        arrays); return the leave-one-out costs of their references ``rows``
        (indices; None: all), and of every row for an untrimmed term
        (:meth:`fits_untrimmed`: its calibration takes them all)."""
        out = {}
        for name, array in values.items():
            term, array = self.terms[name], np.asarray(array, np.float64)
            whole = rows is None or term.untrimmed
            out[name] = term.fit(array) if whole else term.fit_rows(array, rows)
        return out

    def fits_untrimmed(self, name):
        """Whether the term ``name`` is fitted and calibrated on every
        training sample, those trimmed from the references included."""
        return self.terms[name].untrimmed

    def term_costs(self, values):
        """The raw costs of the kNN terms for reference features ``values``
        (by name, arrays) of new samples (ndarrays)."""
        out = {}
        for name, array in values.items():
            term = self.terms[name]
            x = torch.as_tensor(
                np.asarray(array, np.float64),
                device=term.calibration.center.device,
            )
            out[name] = term.cost(x).cpu().numpy()
        return out

    def calibrate(self, raw):
        """Fit each term's calibration on the raw terms of normal samples
        (``score_type="hybrid"`` only)."""
        if self.config.score_type == "hybrid":
            for name, costs in raw.items():
                self.terms[name].calibration.fit(costs)

    def check(self):
        super().check()
        for term in self.terms.values():
            term.check()


def build_model(config, *, device="meta"):
    """An empty model of ``config`` (a :class:`Scorer` when it has a score):
    on the meta device it allocates nothing (the shapes of a saved state)."""
    cls = Scorer if config.score_type is not None else AutoencoderModel
    with torch.device(device):
        return cls(config)


def reference_buffers(model):
    """Names (in the state dict) of the buffers whose number of rows varies."""
    names = []
    for prefix, module in model.named_modules():
        for name in getattr(module, "reference_buffers", ()):
            names.append(f"{prefix}.{name}" if prefix else name)
    return names


def run_batches(
    model,
    rows,
    fn,
    *,
    device,
    mixed_precision=False,
    tracker=None,
    raw=False,
    dtype=None,
):
    """``fn(model, x)`` over ``rows`` in blocks, in eval mode; numpy results.

    ``rows`` is any array whose rows can be sliced (images ``(n, C, H, W)``,
    tabular rows, or codes with ``raw=True``). It is read in blocks of a
    few chunks of the model's ``chunk_rows`` rows (:func:`_score_block`) as
    float64 (float32 for ``raw`` codes), moved to
    ``device`` and zero-padded to a multiple of ``chunk_rows`` rows, so
    memory stays bounded and each row's result does not depend on how the
    caller batches or orders the rows. ``fn`` returns a tensor or a dict of
    tensors with one row per input row; the rows of each are written into
    one preallocated array, so scoring a memmap never holds more than a
    block of intermediate results. A :class:`~skcae._data.RangeTracker`
    ``tracker`` sees every block read. ``dtype`` (a numpy dtype): the
    arrays' dtype, each block cast as it is written (values beyond its
    range become inf), so that a float32 result never exists as float64
    first (it did: 3x the returned array's memory); None: the outputs'.
    """
    model.eval()
    n = len(rows)
    outputs = None
    on_cuda = torch.device(device).type == "cuda"
    read_dtype = np.float32 if raw else np.float64
    chunk = getattr(model, "chunk_rows", None)
    if chunk is None:  # any module: by the size of a row
        chunk = chunk_rows(math.prod(rows.shape[1:]))
    with torch.inference_mode():
        step = _score_block(rows.shape[1:], chunk)
        for start in range(0, max(n, 1), step):
            block = np.asarray(rows[start : start + step], dtype=np.float64)
            if tracker is not None and len(block):
                tracker.update(block)
            x = torch.from_numpy(_writable(block, read_dtype))
            m = x.shape[0]
            n_pad = -m % chunk if m else chunk
            if n_pad:
                x = torch.cat([x, x.new_zeros((n_pad, *x.shape[1:]))])
            if on_cuda:
                x = x.pin_memory()  # lets the copy below overlap compute
            x = x.to(device, non_blocking=True)
            result = map_chunks(
                fn, model, x, lambda: autocast(device, mixed_precision), chunk
            )
            single = not isinstance(result, dict)
            result = {None: result} if single else result
            if outputs is None:
                outputs = {
                    k: np.empty(
                        (n, *r.shape[1:]),
                        dtype=dtype or _numpy_dtype(r.dtype),
                    )
                    for k, r in result.items()
                }
            for k, r in result.items():
                if r.dtype in (torch.bfloat16, torch.float16):
                    r = r.float()
                with np.errstate(over="ignore"):
                    outputs[k][start : start + m] = r[:m].cpu().numpy()
    return outputs[None] if single else outputs


def _score_block(sample_shape, chunk):
    """Rows read per block when scoring: a chunk of ``chunk`` rows per worker
    of the current call (at least two), at most about 32 MB of float64."""
    call = current_call()
    chunks = max(2, call.n_workers if call else 1)
    fit = 2**22 // max(1, int(np.prod(sample_shape)))
    return chunk * max(1, min(chunks, fit // chunk))


def _writable(block, dtype):
    """``block`` as a contiguous array of ``dtype`` torch may wrap: a copy
    when it is read-only (a memmap opened "r", or an array joblib's loky
    workers receive), which torch would warn about."""
    block = np.ascontiguousarray(block, dtype=dtype)
    return block if block.flags.writeable else block.copy()


def _numpy_dtype(dtype):
    if dtype in (torch.bfloat16, torch.float16):
        return np.float32
    return torch.empty(0, dtype=dtype).numpy().dtype
