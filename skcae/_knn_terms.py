"""The kNN terms of the detectors' score (see :mod:`skcae._terms`).

Each compares a per-sample vector with the training samples' (the
references, at most ``MAX_REFERENCES``) after an affine map fitted on them:
the code (``"latent"``), the image's brightness and contrast (``"stats"``)
and the local density of the first encoder block's features, or of the
pixels of images of at most 8x8 (``"density"``). :func:`knn_neighbours` is
their one nearest-neighbour search, exact, chunked and batch-independent.
"""

import math

import numpy as np
import torch
from sklearn.covariance import ledoit_wolf
from torch.nn import functional as F
from torch.utils.weak import WeakTensorKeyDictionary

from . import _tuning
from ._data import scale_of
from ._linalg import gram, symmetric_eigh, top_components
from ._rowwise import rowwise_matmul
from ._terms import TERMS, Term, chunk_of, pool_to_side, register_term, scalar
from ._threads import CHUNK_ROWS, map_items
from ._tuning import (
    DENSITY_COMPONENTS,
    DENSITY_MAX_SIDE,
    DENSITY_QUERY_NEIGHBORS,
    DENSITY_REFERENCE_NEIGHBORS,
    DENSITY_WIDEST_SHARE,
    MAX_EPS,
    RELIABLE_REFERENCES,
)

__all__ = [
    "TERMS",
    "capped_neighbors",
    "density_neighbors",
    "distinct_rows",
    "knn_distance",
    "knn_neighbours",
    "widening",
]

# kNN queries are compared with the references in chunks of this many by
# default; a term compares those of its model's scoring chunk
# (skcae._terms.chunk_of), so no chunk is padded twice.
KNN_CHUNK = CHUNK_ROWS
# Fitting the terms compares the references with each other in chunks of
# this many (their leave-one-out costs only calibrate: no batch to match).
FIT_CHUNK = 512
# Features up to this wide get an exact PCA (an eigendecomposition of their
# covariance), wider ones a randomised one.
_EXACT_PCA_WIDTH = 1024


# -- the kNN terms -----------------------------------------------------------------
def knn_neighbours(
    codes, reference, k, *, exclude_self=False, chunk=KNN_CHUNK, self_rows=None
):
    """Distances to, and indices of, each code's ``k`` nearest references.

    Candidates, ``RERANK_MARGIN`` more than ``k``, are found with one
    float32 matrix product (``|r|^2 - 2 q.r``; ``|q|^2`` does not change
    the order); their distances are then computed in float64, as
    ``|r|^2 + |q|^2 - 2 q.r`` (one batched product: materialising the
    differences took half of a leave-one-out search; up to ``RANK_ALL``
    references, every one is a candidate, and one float64 matrix product
    gives them all), except where that would lose digits to cancellation
    (a squared distance under ``_CANCELLATION`` times the squared norms:
    near-duplicates far from the origin), which are computed from the
    differences; so every distance keeps about nine significant digits or
    more (the terms' vectors are at most ~100 wide), and duplicates are
    exactly zero apart; the ``k`` nearest by those distances are kept, ties
    (to ``_TIE`` relative) to the lower reference index
    (:func:`_nearest_first`), so the choice does not depend on float32
    rounding. Queries go in
    chunks of exactly ``chunk`` rows (the last one zero-padded), so every
    query meets the same matrix-product shapes whatever else is scored
    with it, and its result does not depend on the batch.

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
    chunk : int or None, default=KNN_CHUNK (128)
        Queries compared at once (bounded memory); None compares all at
        once.
    self_rows : torch.Tensor of shape (n,) or None, default=None
        With ``exclude_self``: the reference row each query is (int64);
        None: query ``i`` is reference ``i``.

    Returns
    -------
    distance : torch.Tensor of shape (n, k) (float64)
        Nearest first.
    index : torch.Tensor of shape (n, k) (int64)
    """
    m = reference.shape[0]
    k = max(1, min(int(k), m - 1 if exclude_self else m))
    take = k + 1 if exclude_self else k
    # few references: all of them ranked in float64 (a tie group of any size
    # is then broken alike everywhere); else the k nearest and a margin
    wide = m if m <= RANK_ALL else min(m, take + RERANK_MARGIN)
    block = _block_size(m, wide)
    reference, transposed32, ref_sq, norms = _prepared(reference, block)
    exporting = torch.compiler.is_compiling()

    def neighbours(q, rows):
        q = q.to(torch.float64)
        if wide == m and not exporting:
            # every reference is ranked: no search, and no (n, m, d) gather
            candidates = torch.arange(m, device=q.device).expand(len(q), m)
            squared = _distances_to_all(reference, norms, q)
        else:
            partial = torch.addmm(ref_sq, q.to(torch.float32), transposed32, alpha=-2.0)
            candidates = smallest(partial, wide, block)
            chosen = reference[candidates]  # (n, wide, d)
            if exporting:  # a graph without data-dependent branches
                squared = (chosen - q.unsqueeze(1)).square().sum(2)
            else:
                squared = _distances(chosen, norms[candidates], q)
        self_match = None
        if exclude_self:  # query i is reference rows[i]: first, then dropped
            self_match = candidates == rows.unsqueeze(1)
        order = _nearest_first(squared, candidates, m, take, self_match)
        nearest, squared = candidates.gather(1, order), squared.gather(1, order)
        if exclude_self:
            nearest, squared = nearest[:, 1:], squared[:, 1:]
        return squared.sqrt(), nearest

    def rows_from(start, size):
        if self_rows is None:
            return torch.arange(start, start + size, device=codes.device)
        rows = self_rows[start : start + size].to(codes.device)
        return F.pad(rows, (0, size - len(rows)), value=-1)  # padding: no row

    n = len(codes)
    if chunk is None:
        return neighbours(codes, rows_from(0, n))
    if n <= chunk:  # one chunk (as in the ONNX graph's Scan: no writes)
        padded = F.pad(codes, (0, 0, 0, chunk - n))
        distance, index = neighbours(padded, rows_from(0, chunk))
        return distance[:n], index[:n]
    # many queries (fitting the terms): the chunks go to the call's workers,
    # and into preallocated outputs (a list of small per-chunk results
    # interleaved with each chunk's large temporaries would fragment the
    # heap: measured +7 GB after 1,000,000 queries)
    distance = torch.empty(n, k, dtype=torch.float64, device=codes.device)
    index = torch.empty(n, k, dtype=torch.int64, device=codes.device)

    def one(start):
        q = codes[start : start + chunk]
        size = len(q)
        d, i = neighbours(F.pad(q, (0, 0, 0, chunk - size)), rows_from(start, chunk))
        distance[start : start + size] = d[:size]
        index[start : start + size] = i[:size]

    map_items(one, range(0, n, chunk))
    return distance, index


# The float32 search keeps this many candidates beyond the k nearest, which
# are then ranked by their float64 distances (see _nearest_first); up to
# RANK_ALL references are all ranked so (binary 8x8 images tie in groups
# larger than any margin; ranking every one of thousands costs a score).
RERANK_MARGIN = 8
RANK_ALL = 256
# Squared distances that agree to this share (about 1e-9) of the k-th
# nearest one are a tie, which the references' order breaks. A power of
# two: an exported graph holds Python numbers as float32, and 1e-9 there is
# 3e-8 off, which moved the rounding (onnxruntime chose other neighbours
# than torch).
_TIE = 2.0**-30


def _nearest_first(squared, candidates, n_references, take, self_match=None):
    """Positions of the ``take`` nearest of each row's ``candidates``
    (reference indices) by their squared float64 distances ``squared``,
    nearest first; squared distances that round to the same multiple of
    ``_TIE`` times the row's ``take``-th smallest one are a tie, the lower
    reference index first. ``self_match`` (boolean, like ``candidates``)
    marks each query's own reference, put first whatever its distance.

    The float32 search orders near-ties by its rounding, which depends on
    the kernels (onnxruntime's, another BLAS): on quantised data (8x8
    digits, whose pixels take 17 values) equidistant references are common,
    and swapping one of a query's 20 for another changed a density cost by
    1%. Ranked here, the same references are chosen whatever computed the
    search, while the tie group at the k-th fits in the candidates. The
    unit follows from float64 distances alone, the same wherever computed,
    and from the query's own neighbourhood (a far reference does not widen
    it).
    """
    kth = torch.topk(squared, take, dim=1, largest=False).values[:, -1:]
    unit = (kth * _TIE).clamp_min(2.0**-126)
    # whole numbers of units, at most ``top`` (2^39 units for 10,000
    # references; beyond: a tie), so that the key is an exact float64 integer
    top = float(2 ** (53 - max(1, n_references).bit_length()))
    steps = torch.round((squared / unit).clamp_max(top))
    steps = torch.where(torch.isfinite(squared), steps, top)
    if self_match is not None:
        steps = torch.where(self_match, -1.0, steps)
    key = steps * n_references + candidates.to(torch.float64)
    return torch.topk(key, take, dim=1, largest=False).indices


# A squared distance below this share of |r|^2 + |q|^2 is computed from the
# differences: the expansion's float64 rounding (about 4e-16 of the squared
# norms for the terms' widths, up to ~100; 1e-15 at 512) then stays under
# about 1e-9 of it.
_CANCELLATION = 1e-6


def _distances(chosen, chosen_norms, q):
    """Squared float64 distances of the queries ``q`` ``(n, d)`` to their
    chosen references ``chosen`` ``(n, k, d)`` (squared norms
    ``chosen_norms`` ``(n, k)``): the expansion, and the differences where
    it would cancel."""
    dot = torch.bmm(chosen, q.unsqueeze(2)).squeeze(2)
    return _expanded(dot, chosen_norms, q, lambda rows, cols: chosen[rows, cols])


def _distances_to_all(reference, norms, q):
    """:func:`_distances` of the queries ``q`` ``(n, d)`` to every one of
    the ``(m, d)`` references (squared norms ``norms``), by one matrix
    product: ranking all of a few hundred references, gathering each
    query's copy of them cost a tenth of a fit on 180 8x8 digits."""
    dot = rowwise_matmul(q, reference.T)
    return _expanded(dot, norms.unsqueeze(0), q, lambda rows, cols: reference[cols])


def _expanded(dot, chosen_norms, q, chosen_at):
    """Squared distances ``|r|^2 + |q|^2 - 2 q.r`` from the dot products
    ``dot`` ``(n, k)``, and from the differences (``chosen_at(rows, cols)``:
    those references) where the expansion would cancel."""
    q_norms = q.square().sum(1, keepdim=True)
    scale = chosen_norms + q_norms
    squared = (scale - 2.0 * dot).clamp_min(0.0)
    # and where it is not finite (inf - inf: an infinite query, or norms
    # that overflow), where the differences give inf, not NaN
    risky = (squared <= _CANCELLATION * scale) | ~torch.isfinite(squared)
    rows, cols = torch.nonzero(risky, as_tuple=True)
    if len(rows):
        exact = (chosen_at(rows, cols) - q[rows]).square().sum(1)
        squared = squared.index_put((rows, cols), exact)
    return squared


# Prepared forms of the references a kNN search has met, by reference tensor
# (each term's buffer): scoring a chunk would otherwise convert, pad and
# transpose them anew (5% of a default score_samples).
_PREPARED = WeakTensorKeyDictionary()


def _prepared(reference, block):
    """``reference`` as float64, as the float32 ``(d, m')`` transposed
    matrix and squared norms of the search's matrix product, padded to
    ``m'`` (whole blocks) with references at an infinite distance, and its
    float64 squared norms."""
    # no cache while exporting (ONNX), nor for inference tensors (made
    # under torch.inference_mode: they keep no version counter)
    cache = not (torch.compiler.is_compiling() or reference.is_inference())
    if cache:
        key = (reference._version, tuple(reference.shape), reference.dtype, block)
        cached = _PREPARED.get(reference)
        if cached is not None and cached[0] == key:
            return cached[1]
    pad = -reference.shape[0] % block
    reference32 = reference.to(torch.float32)
    ref_sq = F.pad(reference32.square().sum(1), (0, pad), value=math.inf)
    transposed32 = F.pad(reference32, (0, 0, 0, pad)).T.contiguous()
    reference64 = reference.to(torch.float64)
    prepared = (reference64, transposed32, ref_sq, reference64.square().sum(1))
    if cache:
        _PREPARED[reference] = (key, prepared)
    return prepared


def _block_size(m, take):
    """The block size of :func:`smallest` for ``take`` of ``m`` columns: about
    ``sqrt(m / take)`` (the two top-k passes then have equal widths), 1 (a
    plain top-k) below 4."""
    block = int(math.sqrt(m / take))
    return block if block >= 4 else 1


def smallest(values, take, block):
    """Column indices of each row's ``take`` smallest ``values``, in order.

    Exact, and faster than one :func:`torch.topk` over many columns: the
    columns are cut into ``block``-sized groups (column ``j`` in group
    ``j % n_groups``), each group's minimum is taken, and the ``take`` groups
    with the smallest minima hold every one of the ``take`` smallest values
    (each of those groups holds a value at most the ``take``-th smallest
    minimum); one top-k over those ``take * block`` columns finds them.
    ``values.shape[1]`` must be a multiple of ``block``.
    """
    if block == 1:
        return torch.topk(values, take, dim=1, largest=False).indices
    n, width = values.shape
    n_groups = width // block
    minima = values.view(n, block, n_groups).amin(1)
    groups = torch.topk(minima, take, dim=1, largest=False, sorted=False).indices
    offsets = n_groups * torch.arange(block, device=values.device).view(1, block, 1)
    columns = (groups.unsqueeze(1) + offsets).reshape(n, block * take)
    best = torch.topk(values.gather(1, columns), take, dim=1, largest=False).indices
    return columns.gather(1, best)


def knn_distance(
    codes, reference, k, *, exclude_self=False, chunk=KNN_CHUNK, self_rows=None
):
    """Mean Euclidean distance of each code to its ``k`` nearest references.

    See :func:`knn_neighbours` for the parameters. With ``exclude_self``
    and a single reference there is no other one: zero, no evidence
    either way.

    Returns
    -------
    distance : torch.Tensor of shape (n,) (float64)
    """
    if exclude_self and reference.shape[0] < 2:
        return codes.new_zeros(codes.shape[0], dtype=torch.float64)
    distance, _ = knn_neighbours(
        codes, reference, k, exclude_self=exclude_self, chunk=chunk, self_rows=self_rows
    )
    return distance.mean(1)


def distinct_rows(values):
    """The distinct rows of ``values`` (an ndarray ``(m, d)``), in the order
    of their first occurrence: ``(first, copy_of)``, the position of each
    distinct row's first occurrence (None when every row is distinct) and,
    for each row, the index of its distinct row (both ndarrays).

    The kNN terms keep one reference per distinct row of their features:
    exact copies (an image repeated 50 times, or tabular data of a few
    distinct rows) would put references at distance zero from each other,
    which made the density term's reference densities and the terms'
    leave-one-out costs zero, and the cost of every sample not among them
    about 1e12 times a typical one.

    >>> first, copy_of = distinct_rows(np.array([[1.0], [2.0], [1.0]]))
    >>> first.tolist(), copy_of.tolist()
    ([0, 1], [0, 1, 0])
    """
    m = len(values)
    if m < 2:
        return None, np.arange(m)
    values = np.asarray(values)
    # one 64-bit key per row, equal for equal rows: sorting m keys instead of
    # m rows of d values (np.unique(axis=0) took 0.58 s of a 13 s fit on
    # 10,000 MNIST images, 2.9 s on 60,000); rows that share a key are then
    # compared with the first of them, and a collision of distinct rows
    # falls back to comparing the rows themselves
    _, first, inverse = np.unique(
        _row_keys(values), return_index=True, return_inverse=True
    )
    inverse = inverse.reshape(-1)
    if len(first) == m:
        return None, np.arange(m)
    if not (values == values[first[inverse]]).all():
        _, first, inverse = np.unique(
            values, axis=0, return_index=True, return_inverse=True
        )
        inverse = inverse.reshape(-1)
        if len(first) == m:
            return None, np.arange(m)
    order = np.argsort(first)  # distinct rows in the order they come
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return first[order], rank[inverse]


def _row_keys(values):
    """A hash of each row of the float array ``values`` ``(m, d)`` (int64):
    rows of equal values (``-0.0`` and ``0.0`` alike) get equal keys,
    distinct rows almost surely distinct ones. Python's hash of the row's
    bytes, seeded per process: only which rows share a key counts."""
    rows = np.ascontiguousarray(values, np.float64) + 0.0  # -0.0 -> 0.0
    return np.fromiter((hash(row.tobytes()) for row in rows), np.int64, len(rows))


class KNNTerm(Term):
    """Mean distance of a per-sample vector to its ``n_neighbors`` nearest
    references (the training samples'), after an affine map fitted on them:
    ``(v - center) @ transform``. Subclasses give the vector
    (:meth:`reference_features`) and fit the map (:meth:`_affine`).

    :meth:`fit` returns the references' own leave-one-out costs (the
    calibration's samples); :meth:`cost` is the cost of vectors.
    """

    reference_buffers = ("reference",)
    learns_from_references = True

    def __init__(self, config, width, out_width=None):
        super().__init__(config)
        out_width = width if out_width is None else out_width
        self.n_neighbors = int(config.n_neighbors)
        self.query_chunk = chunk_of(config)
        self.register_buffer("center", torch.zeros(width, dtype=torch.float64))
        self.register_buffer(
            "transform", torch.zeros(width, out_width, dtype=torch.float64)
        )
        self.register_buffer(
            "reference", torch.zeros(0, out_width, dtype=torch.float64)
        )

    def fit(self, values):
        """Fit the map and the references on ``values`` (ndarray ``(m, d)``);
        return each row's leave-one-out cost (ndarray ``(m,)``).

        The references are the distinct mapped rows (see
        :func:`distinct_rows`), and a row's cost is that of its reference
        left out, copies and all."""
        copy_of = self._fit_references(values)
        return self._cost_of(self.reference, leave_one_out=True).numpy()[copy_of]

    def _fit_references(self, values):
        """Fit the map on ``values`` and keep the map of their distinct rows
        as the references; return the reference of each row.

        Rows are compared before the map: a matrix product may round equal
        rows differently by where they sit, which left copies 1e-16 apart
        as two references."""
        values = np.asarray(values, np.float64)
        center, transform = self._affine(values)
        self.center = torch.from_numpy(np.asarray(center, np.float64))
        self.transform = torch.from_numpy(np.asarray(transform, np.float64))
        first, copy_of = distinct_rows(values)
        kept = values if first is None else values[first]
        self.reference = self._map(torch.from_numpy(kept))
        return copy_of

    def fit_rows(self, values, rows):
        """:meth:`fit`, searching the neighbours of the references of
        ``rows`` only (their costs are :meth:`fit`'s to the bit); a subclass
        with its own ``fit`` or ``_cost_of`` gets :meth:`Term.fit_rows` (a
        whole fit)."""
        cls = type(self)
        if cls.fit is not KNNTerm.fit or cls._cost_of is not KNNTerm._cost_of:
            return Term.fit_rows(self, values, rows)
        copy_of = self._fit_references(values)
        rows = torch.as_tensor(copy_of[np.asarray(rows, np.int64)])
        if self.reference.shape[0] < 2:
            return np.zeros(len(rows))
        return knn_distance(
            self.reference[rows],
            self.reference,
            self.n_neighbors,
            exclude_self=True,
            chunk=FIT_CHUNK,
            self_rows=rows,
        ).numpy()

    def reliability(self):
        """A kNN term's share of its weight: its number of references over
        ``RELIABLE_REFERENCES``, at most 1. Neighbours among a few dozen
        images are a noisy estimate, where the reconstruction terms are
        not (MNIST digit 1 from 30 images)."""
        return min(1.0, self.reference.shape[0] / RELIABLE_REFERENCES)

    def _map(self, values):
        return rowwise_matmul(values.to(torch.float64) - self.center, self.transform)

    def _cost_of(self, mapped, leave_one_out=False):
        return knn_distance(
            mapped,
            self.reference,
            self.n_neighbors,
            exclude_self=leave_one_out,
            chunk=FIT_CHUNK if leave_one_out else self.query_chunk,
        )

    def cost(self, values, leave_one_out=False):
        """The cost of vectors ``values`` (a tensor ``(n, d)``, float64)."""
        return self._cost_of(self._map(values), leave_one_out=leave_one_out)

    def forward(self, features, leave_one_out=False):
        return self.cost(self.reference_features(features), leave_one_out)

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
        eigval, eigvec = symmetric_eigh(cov)
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
    mean = flat.mean(2)
    # two passes (mean, then the mean squared deviation): the same values as
    # Tensor.std up to rounding, 6x faster on CPU (0.58 -> 0.09 ms for 128
    # 28x28 images, one thread; std was 4% of a default score_samples)
    std = (flat - mean.unsqueeze(2)).square().mean(2).sqrt()
    return torch.cat([mean, std], dim=1)


def features_statistics(features):
    """:func:`image_statistics` of ``features["z"]``, computed once per pass
    (kept in ``features``: the "stats" and "density" terms both read them)."""
    if "stats" not in features:
        features["stats"] = image_statistics(features["z"])
    return features["stats"]


@register_term("stats")
class ImageStatistics(KNNTerm):
    """The kNN distance of the image's per-channel mean and standard
    deviation (standardised): brightness, colour and contrast, which a
    reconstruction can match while being wrong."""

    def __init__(self, config):
        super().__init__(config, 2 * int(config.n_channels))

    def reference_features(self, features):
        return features_statistics(features)

    @staticmethod
    def _affine(stats):
        """Per-column mean and 1 / scale (:func:`~skcae._data.scale_of`, in
        the standardised units the statistics are computed in)."""
        stats = np.asarray(stats, np.float64)
        center = stats.mean(0)
        scale = scale_of(stats.std(0), center, unit=1.0)
        return center, np.diag(1.0 / scale)


def _pooled_map(m):
    """Maps ``m`` average-pooled to at most DENSITY_MAX_SIDE pixels a side
    (:func:`~skcae._terms.pool_to_side`), flattened: ``(n, width)``."""
    return pool_to_side(m, DENSITY_MAX_SIDE).flatten(1)


def _scaled_pca(values, n_components):
    """Mean and projection of ``values`` on their ``n_components`` principal
    components, scaled so the projected values have a total variance of one.

    The components are the top eigenvectors of the covariance matrix (a
    randomised PCA for more than ``_EXACT_PCA_WIDTH`` columns). Values at
    most ``n_components`` wide keep all of their eigenvectors, those
    beyond the rank of a few samples too: the projection is then a
    rotation (and a scale), so distances between projected values are
    those between the values. (Cut at the rank, the projection dropped
    every direction the references do not span: with 10 training images
    of 8x8 pixels, 9 of 64, and the density score of images far from
    them came out below that of new normal ones, AUROC 0.15, a probe.)
    Wider values keep at most the rank's components (zero columns beyond).
    """
    n, width = values.shape
    center = values.mean(0)
    k = min(n_components, width)
    if width > n_components:
        k = min(k, max(n - 1, 1))
    if width <= _EXACT_PCA_WIDTH:
        centered = values - center
        cov = gram(centered) / max(n - 1, 1)
        eigval, eigvec = symmetric_eigh(cov)
        components, variance = eigvec[:, ::-1][:, :k], eigval[::-1][:k]
    else:
        components, variance = top_components(values - center, k)
    projection = np.zeros((width, n_components))
    projection[:, :k] = components
    return center, projection / _total_spread(np.clip(variance, 0, None).sum())


def _total_spread(total_variance):
    total = float(total_variance)
    return math.sqrt(total) if total > 1e-24 else 1.0


@register_term("density")
class FeatureDensity(KNNTerm):
    """Local density in the network's own features: how far a sample lies
    from its nearest training samples, relative to how far those lie from
    theirs.

    The features are the first encoder block's maps, average-pooled to at
    most 8x8 pixels and projected on their 64 principal components, next to
    the image's per-channel mean and standard deviation (each group scaled
    to a total variance of one). An image of at most 8x8 pixels gives its
    standardised pixels alone (the statistics are functions of them). The
    cost is the mean distance to the 20 nearest references over the mean,
    across those references, of their own mean distance to their 50
    nearest (a local outlier factor): a sample between two kinds of normal
    images, or in a sparse corner of one, stands out where a plain distance
    would not. A detector with a float ``contamination`` asks for more than
    20 neighbours (``config.density_neighbors``, :func:`density_neighbors`),
    of which the term takes at most a twentieth of its references
    (:meth:`neighbors`).
    """

    reference_buffers = ("reference", "density")

    def __init__(self, config):
        features = _meta_features(config)
        n_map = int(_pooled_map(_density_map(features)).shape[1])
        # whether it reads the pixels themselves (images of at most
        # DENSITY_MAX_SIDE pixels a side), not the first block's maps
        self.reads_pixels = _reads_pixels(features["z"])
        # the statistics are functions of the pixels: read with them, they
        # would only weigh brightness and contrast twice
        self.n_stats = 0 if self.reads_pixels else 2 * int(config.n_channels)
        n_stats = self.n_stats
        n_components = min(DENSITY_COMPONENTS, n_map)
        super().__init__(config, n_map + n_stats, n_components + n_stats)
        self.n_map, self.n_components = n_map, n_components
        self.n_neighbors = int(config.density_neighbors)
        self.register_buffer("density", torch.zeros(0, dtype=torch.float64))
        self.register_buffer("eps", scalar())

    def reference_features(self, features):
        maps = _pooled_map(_density_map(features)).to(torch.float64)
        if not self.n_stats:
            return maps
        return torch.cat([maps, features_statistics(features)], dim=1)

    def _affine(self, values):
        values = np.asarray(values, np.float64)
        maps, stats = values[:, : self.n_map], values[:, self.n_map :]
        map_center, projection = _scaled_pca(maps, self.n_components)
        if not self.n_stats:
            return map_center, projection
        stats_center = stats.mean(0)
        scale = scale_of(stats.std(0), stats_center, unit=1.0)
        scaled = (stats - stats_center) / scale
        scale = scale * _total_spread(scaled.var(0).sum())
        transform = np.zeros((values.shape[1], self.transform.shape[1]))
        transform[: self.n_map, : self.n_components] = projection
        transform[self.n_map :, self.n_components :] = np.diag(1.0 / scale)
        return np.concatenate([map_center, stats_center]), transform

    def fit(self, values):
        copy_of = self._fit_references(values)
        m = len(self.reference)
        if m < 2:  # no neighbour to measure a density with
            self.density = torch.ones(m, dtype=torch.float64)
            self.eps = torch.tensor(1e-12, dtype=torch.float64)
            # the cost of a sample at the reference (of every copy of it)
            at_reference = float(self.eps / (1.0 + self.eps))
            return np.full(len(copy_of), at_reference if m else 0.0)
        distance, index = knn_neighbours(
            self.reference,
            self.reference,
            max(DENSITY_REFERENCE_NEIGHBORS, self.neighbors()),
            exclude_self=True,
            chunk=FIT_CHUNK,
        )
        density = distance[:, :DENSITY_REFERENCE_NEIGHBORS].mean(1)
        self.density = density
        self.eps = torch.tensor(
            max(1e-6 * float(density.median()), 1e-12), dtype=torch.float64
        )
        k = min(self.neighbors(), distance.shape[1])
        # every reference's own neighbours give its density, so the
        # leave-one-out costs of all of them come with those (fit_rows: all
        # of them, then those rows)
        return self._ratio(distance[:, :k], index[:, :k]).numpy()[copy_of]

    def neighbors(self):
        """The neighbours of a query (:func:`capped_neighbors` of
        ``config.density_neighbors`` among the references)."""
        return capped_neighbors(self.n_neighbors, self.reference.shape[0])

    def _ratio(self, distance, index):
        return (distance.mean(1) + self.eps) / (self.density[index].mean(1) + self.eps)

    def _cost_of(self, mapped, leave_one_out=False):
        if leave_one_out and self.reference.shape[0] < 2:
            return mapped.new_zeros(mapped.shape[0])
        distance, index = knn_neighbours(
            mapped,
            self.reference,
            self.neighbors(),
            exclude_self=leave_one_out,
            chunk=FIT_CHUNK if leave_one_out else self.query_chunk,
        )
        return self._ratio(distance, index)

    def check(self):
        super().check()
        if not (torch.isfinite(self.density).all() and (self.density >= 0).all()):
            raise ValueError("the 'density' term's reference densities are invalid")
        if not 1e-12 <= float(self.eps) <= MAX_EPS:
            raise ValueError(
                f"the 'density' term's eps {float(self.eps):.3g} is invalid"
            )


def density_neighbors(contamination):
    """The density term's number of neighbours for a detector's
    ``contamination``: ``DENSITY_QUERY_NEIGHBORS`` for "auto", widened by
    ``DENSITY_CONTAMINATION_SCALE`` times a float rate (20 -> 30 at 0.05,
    40 at 0.1, 120 at 0.5).

    >>> density_neighbors("auto"), density_neighbors(0.05), density_neighbors(0.1)
    (20, 30, 40)
    """
    if isinstance(contamination, str):
        return DENSITY_QUERY_NEIGHBORS
    scale = _tuning.DENSITY_CONTAMINATION_SCALE
    return int(round(DENSITY_QUERY_NEIGHBORS * (1.0 + scale * float(contamination))))


def capped_neighbors(k, n_references):
    """The density term's neighbours of a query: ``k``, at most
    1 / ``DENSITY_WIDEST_SHARE`` of ``n_references`` (at least
    ``DENSITY_QUERY_NEIGHBORS``).

    >>> capped_neighbors(40, 325), capped_neighbors(40, 1000), capped_neighbors(20, 5)
    (20, 40, 20)
    """
    widest = n_references // DENSITY_WIDEST_SHARE
    return min(k, max(DENSITY_QUERY_NEIGHBORS, widest))


def widening(contamination, n_references):
    """How far the density term's neighbourhood of a float ``contamination``
    can widen among ``n_references``: 0 where :func:`capped_neighbors`
    allows no more than ``DENSITY_QUERY_NEIGHBORS`` (fewer than 21 *
    ``DENSITY_WIDEST_SHARE`` references), 1 where the whole widening of
    :func:`density_neighbors` fits (before its rounding, so that a tiny
    rate is not widened in full at any size). The trimming of a float
    contamination adds its margin in this proportion (see ``TRIM_FACTOR``).

    >>> widening(0.1, 300), widening(0.1, 500), widening(0.1, 1000)
    (0.0, 0.25, 1.0)
    >>> widening(0.001, 419), widening(0.001, 420)
    (0.0, 1.0)
    """
    room = n_references // DENSITY_WIDEST_SHARE - DENSITY_QUERY_NEIGHBORS
    wanted = DENSITY_QUERY_NEIGHBORS * _tuning.DENSITY_CONTAMINATION_SCALE
    return min(1.0, max(0, room) / (wanted * float(contamination)))


def _reads_pixels(z):
    """Whether the density term reads the image ``z`` itself: at most
    DENSITY_MAX_SIDE pixels a side (the first block's maps of an 8x8 image
    are 4x4)."""
    return max(z.shape[-2:]) <= DENSITY_MAX_SIDE


def _density_map(features):
    """The map the density term measures: the standardised image where
    :func:`_reads_pixels`, else the first encoder block's maps."""
    z = features["z"]
    return z if _reads_pixels(z) else features["maps"][0]


def _meta_features(config):
    """The standardised input and encoder maps of one sample for the network
    of ``config``, from a pass of an empty (meta-device) network."""
    kwargs = dict(config.module_kwargs)
    with torch.device("meta"):
        z = torch.empty(1, *kwargs["input_shape"], dtype=torch.float32)
        _, maps = config.module_class(**kwargs).encode(z, return_maps=True)
    return {"z": z, "maps": maps}


def density_features_changed(config):
    """Whether the density term of ``config`` reads other features than
    before file format 6, which pooled every map at least 2x and never read
    the pixels: images of at most DENSITY_MAX_SIDE pixels a side, and first
    block maps with a side of 2 to DENSITY_MAX_SIDE pixels."""
    features = _meta_features(config)
    if _reads_pixels(features["z"]):
        return True
    return any(1 < s <= DENSITY_MAX_SIDE for s in features["maps"][0].shape[-2:])
