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

Persistence (the buffers' shapes come from an empty build on the meta
device) and ONNX export (the term is part of the scorer's graph) follow.
"""

import math

import numpy as np
import torch
from sklearn.covariance import ledoit_wolf
from torch import nn
from torch.nn import functional as F

from ._data import scale_of
from ._tuning import MAX_EPS, MIN_SPREAD, POOLED_SMOOTHING, POOLED_TOP_FRACTION

# kNN queries are compared with the references in chunks of this many.
KNN_CHUNK = 512

#: The registered terms, by name (see :func:`register_term`).
TERMS = {}


def register_term(name):
    """Class decorator: make a :class:`Term` available under ``name``."""

    def register(cls):
        cls.name = name
        TERMS[name] = cls
        return cls

    return register


def _scalar():
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
            self.register_buffer(name, _scalar())
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

    def __init__(self, config):
        super().__init__()
        self.calibration = Calibration()

    def reference_features(self, features):
        """Per-sample values (a tensor ``(n, d)``) to fit on, or None."""
        return None

    def fit(self, values):
        """Fit the buffers on the reference features of the training samples."""

    def forward(self, features, leave_one_out=False):
        """The cost of each sample (float64 tensor of shape (n,)).

        ``leave_one_out``: the samples are the references themselves, each
        left out of its own neighbours (for the calibration).
        """
        raise NotImplementedError

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

    Written as a sum of shifted slices rather than ``avg_pool2d``, so it
    runs in float64 and exports to ONNX operators that onnxruntime runs in
    float64 (its AveragePool takes float32 only).
    """
    kh, kw = kernel
    height, width = err.shape[-2:]
    padded = F.pad(err, (kw // 2, kw // 2, kh // 2, kh // 2))
    total = None
    for i in range(kh):
        for j in range(kw):
            part = padded[..., i : i + height, j : j + width]
            total = part if total is None else total + part
    return total / (kh * kw)


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


# -- the kNN terms -----------------------------------------------------------------
def knn_distance(codes, reference, k, *, exclude_self=False, chunk=KNN_CHUNK):
    """Mean Euclidean distance of each code to its ``k`` nearest references.

    The nearest references are found with one float32 matrix product
    (``|r|^2 - 2 q.r``; ``|q|^2`` does not change the order) and their
    distances are then computed exactly, in float64, from the differences,
    so that large codes lose no precision to cancellation. Queries go in
    chunks of exactly ``chunk`` rows (the last one zero-padded), so every
    query meets the same matrix-product shapes whatever else is scored
    with it, and its distance does not depend on the batch.

    Parameters
    ----------
    codes : torch.Tensor of shape (n, d)
        Query codes (already standardised).
    reference : torch.Tensor of shape (m, d)
        The reference (training) codes.
    k : int
        Number of neighbours (clipped to the number of references).
    exclude_self : bool, default=False
        The queries are the references themselves: drop each one's match
        with itself (leave-one-out), which also caps ``k`` at ``m - 1``.
    chunk : int or None, default=512
        Queries compared at once (bounded memory); None compares all at
        once.

    Returns
    -------
    distance : torch.Tensor of shape (n,) (float64)
    """
    reference = reference.to(torch.float64)
    m = reference.shape[0]
    if exclude_self and m < 2:  # no other reference: no evidence either way
        return codes.new_zeros(codes.shape[0], dtype=torch.float64)
    k = max(1, min(int(k), m - 1 if exclude_self else m))
    take = k + 1 if exclude_self else k
    reference32 = reference.to(torch.float32)
    ref_sq = reference32.square().sum(1)

    def distances(q):
        q = q.to(torch.float64)
        partial = torch.addmm(ref_sq, q.to(torch.float32), reference32.T, alpha=-2.0)
        nearest = torch.topk(partial, take, dim=1, largest=False).indices
        if exclude_self:
            nearest = nearest[:, 1:]
        diff = reference[nearest] - q.unsqueeze(1)  # (n, k, d)
        return diff.square().sum(2).sqrt().mean(1)

    n = len(codes)
    if chunk is None:
        return distances(codes)
    if n <= chunk:  # one chunk (as in the ONNX graph's Scan: no writes)
        return distances(F.pad(codes, (0, 0, 0, chunk - n)))[:n]
    # one preallocated output: a list of small per-chunk results would be
    # interleaved with each chunk's large temporaries and fragment the heap
    # (measured: +7 GB after 1,000,000 queries)
    out = torch.empty(n, dtype=torch.float64, device=codes.device)
    for start in range(0, n, chunk):
        q = codes[start : start + chunk]
        size = len(q)
        if size < chunk:
            q = torch.cat([q, q.new_zeros(chunk - size, q.shape[1])])
        out[start : start + size] = distances(q)[:size]
    return out


class KNNTerm(Term):
    """Mean distance of a per-sample vector to its ``n_neighbors`` nearest
    references (the training samples'), after an affine map fitted on them:
    ``(v - center) @ transform``. Subclasses give the vector
    (:meth:`reference_features`) and fit the map (:meth:`_affine`)."""

    reference_buffers = ("reference",)

    def __init__(self, config, width):
        super().__init__(config)
        self.n_neighbors = int(config.n_neighbors)
        self.register_buffer("center", torch.zeros(width, dtype=torch.float64))
        self.register_buffer(
            "transform", torch.zeros(width, width, dtype=torch.float64)
        )
        self.register_buffer("reference", torch.zeros(0, width, dtype=torch.float64))

    def fit(self, values):
        center, transform = self._affine(values)
        self.center = torch.from_numpy(np.asarray(center, np.float64))
        self.transform = torch.from_numpy(np.asarray(transform, np.float64))
        self.reference = torch.from_numpy((values - center) @ transform)

    def forward(self, features, leave_one_out=False):
        values = self.reference_features(features).to(torch.float64)
        mapped = (values - self.center) @ self.transform
        return knn_distance(
            mapped, self.reference, self.n_neighbors, exclude_self=leave_one_out
        )

    def check(self):
        super().check()
        if not torch.isfinite(self.transform).all():
            raise ValueError(f"the {self.name!r} term's transform is not finite")


@register_term("latent")
class LatentDistance(KNNTerm):
    """Mean distance of the sample's code to its ``n_neighbors`` nearest
    training codes, after PCA-whitening the codes: how rare the content is,
    where the decoder may still reconstruct it well."""

    def __init__(self, config):
        super().__init__(config, int(config.latent_dim))

    def reference_features(self, features):
        return features["code"].float()

    @staticmethod
    def _affine(codes):
        """Mean and PCA-whitening matrix of ``codes`` (eigenvalues floored).

        The covariance is Ledoit-Wolf shrunk towards a multiple of the
        identity, by an amount that vanishes for many codes and grows when
        there are few (fewer codes than dimensions would leave directions of
        no variance).
        """
        codes = np.asarray(codes, np.float64)
        center = codes.mean(0)
        if len(codes) > 1:
            cov = np.atleast_2d(ledoit_wolf(codes - center, assume_centered=True)[0])
        else:
            cov = np.zeros((codes.shape[1], codes.shape[1]))
        eigval, eigvec = np.linalg.eigh(cov)
        # directions of (almost) no spread are not blown up: a floor relative
        # to the largest variance, and an absolute one for codes that barely
        # vary
        floor = max(1e-6 * float(eigval.max()), 1e-12)
        return center, eigvec / np.sqrt(np.maximum(eigval, floor))


def image_statistics(z):
    """Per-channel mean and standard deviation of each image (float64).

    Parameters
    ----------
    z : torch.Tensor of shape (n, C, H, W)
        Standardised images; the statistics of the data in its own units
        are an affine map of these per channel, which the term's
        standardisation of the statistics removes.

    Returns
    -------
    stats : torch.Tensor of shape (n, 2 * C)
    """
    flat = z.to(torch.float64).flatten(2)
    return torch.cat([flat.mean(2), flat.std(2, correction=0)], dim=1)


@register_term("stats")
class ImageStatistics(KNNTerm):
    """The kNN distance of the image's per-channel mean and standard
    deviation (standardised): brightness, colour and contrast, which a
    reconstruction can match while being wrong."""

    def __init__(self, config):
        super().__init__(config, 2 * int(config.n_channels))

    def reference_features(self, features):
        return image_statistics(features["z"])

    @staticmethod
    def _affine(stats):
        """Per-column mean and 1 / scale (:func:`~skcae._data.scale_of`, in
        the standardised units the statistics are computed in)."""
        stats = np.asarray(stats, np.float64)
        center = stats.mean(0)
        scale = scale_of(stats.std(0), center, unit=1.0)
        return center, np.diag(1.0 / scale)
