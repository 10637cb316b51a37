"""The detectors' scores: the terms, their calibration and combination.

:class:`ScoreModel` turns the network's outputs (from
:func:`~skcae._scoring.batched_inference`) into an outlier cost for each
``score_type``; :class:`Calibration` makes a positive cost scale-free.
"""

import numpy as np
import torch
from sklearn.covariance import ledoit_wolf

from ._scoring import (
    KNN_CHUNK,
    knn_distance,
    pooled_error,
    squared_errors,
)


class Calibration:
    """A scale-free version of a positive cost, fitted on normal samples.

    ``t(c) = (log(c + eps) - median) / spread`` where the median and the
    spread (the interquartile range / 1.349, i.e. a robust standard
    deviation; the standard deviation if that is 0; else 1) are those of
    ``log(c + eps)`` over the calibration samples and ``eps`` is a
    millionth of their median cost (a floor for costs of exactly zero).
    For normal samples ``t`` is about a standard normal, whatever the units
    of ``c``, so terms in different units can be combined.
    """

    def __init__(self, center=0.0, spread=1.0, eps=1e-300):
        self.center = float(center)
        self.spread = float(spread)
        self.eps = float(eps)

    @classmethod
    def fit(cls, costs):
        costs = np.asarray(costs, dtype=np.float64)
        median_cost = float(np.median(costs)) if len(costs) else 0.0
        eps = max(1e-6 * median_cost, 1e-300)
        logs = np.log(costs + eps)
        center = float(np.median(logs))
        q75, q25 = np.percentile(logs, [75, 25])
        spread = float((q75 - q25) / 1.349)
        if not spread > MIN_SPREAD:
            spread = float(np.std(logs))
        # costs that (nearly) all agree, e.g. the leave-one-out distances of a
        # handful of codes, which whitening places on a regular simplex: a
        # spread of 1e-15 would turn any other cost into a t of 1e15
        return cls(center, max(spread, MIN_SPREAD), eps)

    def transform(self, costs):
        """``t`` of costs (a float64 tensor)."""
        return (torch.log(costs + self.eps) - self.center) / self.spread

    def state(self):
        return np.array([self.center, self.spread, self.eps])


#: The terms of each ``score_type``; "hybrid" combines all of them.
SCORE_TERMS = {
    "reconstruction": ("mse",),
    "latent": ("latent",),
    "hybrid": ("mse", "pooled", "latent", "stats"),
}
# The pooled reconstruction term: 3x3 box blur, mean of the top 10% pixels.
POOLED_SMOOTHING = 3
POOLED_TOP_FRACTION = 0.1
# The smallest robust spread of a calibration (log-cost units): 5%.
MIN_SPREAD = 0.05
# The largest eps a saved calibration may hold (see ScoreModel.from_config).
_MAX_EPS = 1e3
# At most this many training samples serve as kNN references.
MAX_REFERENCES = 10_000


def image_statistics(z):
    """Per-channel mean and standard deviation of each image (float64).

    Parameters
    ----------
    z : torch.Tensor of shape (n, C, H, W)
        Standardised images; the statistics of the data in its own units
        are an affine map of these per channel, which the standardisation
        of the statistics (:class:`ScoreModel`) removes.

    Returns
    -------
    stats : torch.Tensor of shape (n, 2 * C)
    """
    flat = z.to(torch.float64).flatten(2)
    return torch.cat([flat.mean(2), flat.std(2, correction=0)], dim=1)


def _standardize_columns(values):
    """Per-column mean and scale (1 where a column is constant)."""
    center = values.mean(0)
    scale = values.std(0)
    scale[~(scale > 1e-12 * np.maximum(1.0, np.abs(center)))] = 1.0
    return center, scale


def _whitening(codes):
    """Mean and PCA-whitening matrix of ``codes`` (eigenvalues floored).

    The covariance is Ledoit-Wolf shrunk towards a multiple of the identity,
    by an amount that vanishes for many codes and grows when there are few
    (fewer codes than dimensions would leave directions of no variance).
    """
    center = codes.mean(0)
    if len(codes) > 1:
        cov = np.atleast_2d(ledoit_wolf(codes - center, assume_centered=True)[0])
    else:
        cov = np.zeros((codes.shape[1], codes.shape[1]))
    eigval, eigvec = np.linalg.eigh(cov)
    # directions of (almost) no spread are not blown up: a floor relative to
    # the largest variance, and an absolute one for codes that barely vary
    floor = max(1e-6 * float(eigval.max()), 1e-12)
    return center, eigvec / np.sqrt(np.maximum(eigval, floor))


class ScoreModel:
    """How a fitted detector turns its network's outputs into scores.

    Each term is a positive cost, higher for more abnormal samples:

    ``mse``
        Mean squared reconstruction error, in the squared units of the data
        (the score of ``score_type="reconstruction"``, with the detector's
        ``score_smoothing`` and ``score_top_fraction``).
    ``pooled``
        The squared error box-blurred 3x3, averaged over its 10% largest
        pixels: a localised defect (a stroke too many) stands out.
    ``latent``
        Mean distance of the sample's code to its ``n_neighbors`` nearest
        training codes, after PCA-whitening the codes: how rare the content
        is, where the decoder may still reconstruct it well.
    ``stats``
        The same kNN distance for the per-channel mean and standard
        deviation of the image (standardised): brightness, colour and
        contrast, which a reconstruction can match while being wrong.

    ``score_type="hybrid"`` maps every term to ``t = (log c - median) / spread``
    with the median and the robust spread of ``log c`` over the training
    samples (:class:`Calibration`; the kNN terms leave each sample out of
    its own neighbours), so that each term is about a standard normal on
    normal data whatever its units, and combines them into the cost
    ``sqrt(mean(max(t, 0) ** 2))``: zero for a sample that is typical in
    every respect, and large when any term is, without letting weak terms
    dilute a strong one.
    """

    def __init__(
        self,
        score_type,
        terms,
        *,
        n_neighbors=5,
        smoothing=1,
        top_fraction=1.0,
        unit=1.0,
    ):
        self.score_type = score_type
        self.unit = float(unit)
        self.terms = tuple(terms)
        self.n_neighbors = int(n_neighbors)
        self.smoothing = int(smoothing)
        self.top_fraction = float(top_fraction)
        self.arrays = {}  # fitted arrays, by name (see fit)
        self.calibrations = {}

    # -- the raw terms ------------------------------------------------------------
    def _needs(self, term):
        return term in self.terms

    def network_outputs(self, weights):
        """``fn(module, z)`` for :func:`batched_inference`: the per-sample
        outputs the terms need, as a tuple (mse, pooled, code, stats)."""
        smoothing, top = self.smoothing, self.top_fraction
        need_pooled = self._needs("pooled")
        need_code = self._needs("latent")
        need_stats = self._needs("stats")

        def outputs(module, z):
            code = module.encode(z)
            errors = squared_errors(z, module.decode(code), weights)
            n = z.shape[0]
            empty = z.new_zeros(n, 0, dtype=torch.float64)
            return (
                pooled_error(errors, smoothing, top),
                pooled_error(errors, POOLED_SMOOTHING, POOLED_TOP_FRACTION)
                if need_pooled
                else empty,
                code.float() if need_code else z.new_zeros(n, 0),
                image_statistics(z) if need_stats else empty,
            )

        return outputs

    def terms_of(self, outputs, *, leave_one_out=False, chunk=KNN_CHUNK, arrays=None):
        """The positive cost of each term (float64 tensors) from the outputs
        of :meth:`network_outputs` (tensors).

        ``arrays`` maps the fitted arrays' names to tensors (the ONNX graph's
        buffers); None reads :attr:`arrays`.
        """
        if arrays is None:
            arrays = {k: torch.from_numpy(v) for k, v in self.arrays.items()}
        mse, pooled, codes, stats = outputs
        costs = {"mse": mse, "pooled": pooled}
        k = self.n_neighbors
        if self._needs("latent"):
            features = (codes.to(torch.float64) - arrays["code_center"]) @ arrays[
                "code_whitening"
            ]
            costs["latent"] = knn_distance(
                features,
                arrays["latent_reference"],
                k,
                exclude_self=leave_one_out,
                chunk=chunk,
            )
        if self._needs("stats"):
            features = (stats - arrays["stats_center"]) / arrays["stats_scale"]
            costs["stats"] = knn_distance(
                features,
                arrays["stats_reference"],
                k,
                exclude_self=leave_one_out,
                chunk=chunk,
            )
        return {term: costs[term] for term in self.terms}

    def combine(self, terms):
        """The outlier cost of each sample (a float64 tensor) from its terms."""
        if self.score_type == "reconstruction":
            return terms["mse"] * self.unit  # relative weights -> data units
        if self.score_type != "hybrid":
            return terms[self.terms[0]]
        t = torch.stack(
            [self.calibrations[name].transform(terms[name]) for name in self.terms]
        )
        return t.clamp_min(0).square().mean(0).sqrt()

    # -- fitting ------------------------------------------------------------------
    def fit_references(self, outputs):
        """Fit the kNN references on the training samples' outputs."""
        _, _, codes, stats = outputs
        if self._needs("latent"):
            codes = np.asarray(codes, np.float64)
            center, whitening = _whitening(codes)
            self.arrays["code_center"] = center
            self.arrays["code_whitening"] = whitening
            self.arrays["latent_reference"] = (codes - center) @ whitening
        if self._needs("stats"):
            stats = np.asarray(stats, np.float64)
            center, scale = _standardize_columns(stats)
            self.arrays["stats_center"] = center
            self.arrays["stats_scale"] = scale
            self.arrays["stats_reference"] = (stats - center) / scale
        return self

    def raw_terms(self, outputs, *, leave_one_out=False):
        """The raw terms (ndarrays) from :func:`batched_inference` outputs."""
        tensors = tuple(torch.from_numpy(np.ascontiguousarray(o)) for o in outputs)
        terms = self.terms_of(tensors, leave_one_out=leave_one_out)
        return {name: cost.numpy() for name, cost in terms.items()}

    def calibrate(self, terms):
        """Fit the calibration of each term on the raw terms of normal samples
        the model has not seen (``score_type="hybrid"`` only); return their
        outlier costs."""
        if self.score_type == "hybrid":
            self.calibrations = {
                name: Calibration.fit(cost) for name, cost in terms.items()
            }
        return self.costs_of(terms)

    def costs_of(self, terms):
        """Outlier costs (ndarray) from raw terms (ndarrays)."""
        tensors = {name: torch.from_numpy(np.asarray(c)) for name, c in terms.items()}
        return self.combine(tensors).numpy()

    def costs(self, outputs):
        """Outlier costs (ndarray) from :func:`batched_inference` outputs."""
        return self.costs_of(self.raw_terms(outputs))

    def scores(self, outputs):
        """``score_samples``: minus the costs (0.0, never -0.0, at cost 0)."""
        return 0.0 - self.costs(outputs)

    # -- persistence ----------------------------------------------------------------
    def config(self):
        """The model's settings and calibrations, as JSON-ready values."""
        return {
            "score_type": self.score_type,
            "terms": list(self.terms),
            "n_neighbors": self.n_neighbors,
            "smoothing": self.smoothing,
            "top_fraction": self.top_fraction,
            "unit": self.unit,
            "calibrations": {
                name: cal.state().tolist() for name, cal in self.calibrations.items()
            },
        }

    @staticmethod
    def array_shapes(terms, *, latent_dim, n_channels):
        """The shape of each fitted array that the ``terms`` need, by name.

        A tuple is the exact shape; an int ``d`` stands for ``(n, d)`` with
        any number ``n >= 1`` of rows (the kNN references). ``n_channels``
        is the number of image channels (two statistics each).
        """
        d, s = int(latent_dim), 2 * int(n_channels)
        shapes = {}
        if "latent" in terms:
            shapes.update(code_center=(d,), code_whitening=(d, d), latent_reference=d)
        if "stats" in terms:
            shapes.update(stats_center=(s,), stats_scale=(s,), stats_reference=s)
        return shapes

    @classmethod
    def from_config(cls, config, arrays, *, latent_dim, n_channels):
        """Rebuild a fitted model, checking everything against what it needs.

        Raises ValueError for anything inconsistent: unknown score types or
        terms, missing or extra arrays, wrong shapes, non-finite values.
        """
        score_type = config.get("score_type")
        if score_type not in SCORE_TERMS:
            raise ValueError(f"unknown score_type {score_type!r}")
        terms = tuple(config.get("terms") or ())
        known = set(SCORE_TERMS["hybrid"])
        if not terms or not set(terms) <= known or len(set(terms)) != len(terms):
            raise ValueError(f"invalid score terms {terms!r}")
        model = cls(
            score_type,
            terms,
            n_neighbors=int(config["n_neighbors"]),
            smoothing=int(config["smoothing"]),
            top_fraction=float(config["top_fraction"]),
            unit=float(config.get("unit", 1.0)),
        )
        if not (np.isfinite(model.unit) and model.unit > 0):
            raise ValueError(f"invalid unit {model.unit!r}")
        if model.n_neighbors < 1 or model.smoothing < 1 or model.smoothing % 2 == 0:
            raise ValueError("invalid n_neighbors or smoothing")
        if not 0 < model.top_fraction <= 1:
            raise ValueError("invalid top_fraction")
        expected = cls.array_shapes(terms, latent_dim=latent_dim, n_channels=n_channels)
        if set(arrays) != set(expected):
            raise ValueError(
                f"score arrays {sorted(arrays)} do not match the terms "
                f"{list(terms)} (expected {sorted(expected)})"
            )
        for name, shape in expected.items():
            array = np.asarray(arrays[name], dtype=np.float64)
            ok = (
                array.ndim == 2 and array.shape[1] == shape and len(array) >= 1
                if isinstance(shape, int)
                else array.shape == shape
            )
            if not ok or not np.isfinite(array).all():
                raise ValueError(
                    f"score array {name!r} has shape {array.shape} or non-finite "
                    f"values; expected shape {shape} (an int: (n, {shape}))"
                )
            model.arrays[name] = array
        calibrations = config.get("calibrations") or {}
        if score_type == "hybrid":
            if set(calibrations) != set(terms):
                raise ValueError("calibrations do not match the score terms")
            for name, values in calibrations.items():
                values = np.asarray(values, dtype=np.float64)
                if values.shape != (3,) or not np.isfinite(values).all():
                    raise ValueError(f"invalid calibration for {name!r}")
                center, spread, eps = values
                # what Calibration.fit can give: spread >= MIN_SPREAD, and eps
                # a millionth of a median cost, costs being of standardised
                # data (far below 1e9), or 1e-300
                if not (spread >= MIN_SPREAD and 1e-300 <= eps <= _MAX_EPS):
                    raise ValueError(
                        f"invalid calibration for {name!r}: spread {spread:.3g} "
                        f"and eps {eps:.3g}; expected spread >= {MIN_SPREAD} and "
                        f"eps in [1e-300, {_MAX_EPS:g}]"
                    )
                model.calibrations[name] = Calibration(*values)
        return model
