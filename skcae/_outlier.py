"""The outlier-detector contract shared by skcae's detectors.

:class:`BaseOutlierDetector` has the shape of
:class:`~sklearn.ensemble.IsolationForest`: :meth:`fit` validates X, trains
the network and sets ``offset_``; :meth:`score_samples` validates X and
calls ``_score_samples``; :meth:`decision_function` and :meth:`predict` are
one-liners on top. What a score is lives in :mod:`skcae._scoring`.
"""

import warnings
from dataclasses import replace
from numbers import Integral, Real

import numpy as np
import torch
from scipy.stats import t as student_t
from sklearn.base import OutlierMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._base import BaseAutoencoder
from ._data import take_rows
from ._score_model import MAX_REFERENCES, SCORE_TERMS, ScoreModel
from ._scoring import batched_inference
from ._sklearn_compat import Interval, StrOptions, fit_context, validate_params
from ._threads import torch_threads

# contamination="auto" flags this fraction of new normal data.
AUTO_CONTAMINATION = 0.01
# Calibration data: from this many training samples on, a held-out split of
# HOLDOUT_FRACTION; below, CROSS_FIT_FOLDS out-of-fold networks.
HOLDOUT_MIN_SAMPLES = 1000
HOLDOUT_FRACTION = 0.1
CROSS_FIT_FOLDS = 3


def auto_offset(scores, rate=AUTO_CONTAMINATION):
    """The threshold below which ``rate`` of new normal samples score.

    ``scores`` are calibration scores (of samples no network trained on).
    Their empirical ``rate`` quantile needs about ten samples beyond it to
    be trusted; with fewer (under 1,000 scores at 1%) it lies near their
    minimum, which flags about ``1 / (n + 1)`` of new data (9% at n=10),
    not ``rate``. There the threshold is also kept below the normal
    prediction bound ``mean - t(1 - rate, n - 1) * std * sqrt(1 + 1/n)``,
    which extrapolates beyond the sample (measured on sklearn's digits, 10
    to 100 training images: 1.8-2.3% of new normal data flagged before,
    0.3-1.6% after).
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    offset = float(np.percentile(scores, 100.0 * rate))
    if 2 < n < 10 / rate:
        spread = scores.std(ddof=1) * np.sqrt(1.0 + 1.0 / n)
        offset = min(
            offset, float(scores.mean() - student_t.ppf(1 - rate, n - 1) * spread)
        )
    return offset


class BaseOutlierDetector(OutlierMixin, BaseAutoencoder):
    """Outlier contract on top of the network and a :class:`ScoreModel`.

    Not public. Subclasses set ``_score_terms`` (the terms of each
    ``score_type``) besides the network hooks of :class:`BaseAutoencoder`.
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "contamination": [
            StrOptions({"auto"}),
            Interval(Real, 0, 0.5, closed="right"),
        ],
        "threshold": [Interval(Real, 0, None, closed="left"), None],
        "score_type": [StrOptions(set(SCORE_TERMS))],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
    }

    _score_terms = SCORE_TERMS

    # -- fit -------------------------------------------------------------------
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the autoencoder on X, fit the score and set the threshold.

        The score's calibration and ``contamination="auto"``'s threshold
        are taken from samples the network did not train on, so that they
        hold for new data: the ``validation_fraction`` rows when it is set;
        else, from 1,000 samples on, a random 10% of X held out of training;
        else (small X, where a held-out split would be too small to measure
        and too costly to lose) the out-of-fold scores of three extra
        networks, each trained on two thirds of X (cross-fitting), while
        the network kept is trained on all of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Training data, assumed to be (mostly) normal.
        y : Ignored
            Not used, present so that labelled data can flow through
            :class:`~sklearn.model_selection.GridSearchCV`.

        Returns
        -------
        self : object
            The fitted detector.
        """
        self._check_params()
        try:
            data = self._validate(X, reset=True)
            seed = int(
                check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            )
            holdout = self.validation_fraction
            if holdout is None and len(data) >= HOLDOUT_MIN_SAMPLES:
                holdout = HOLDOUT_FRACTION
            with torch_threads(self.n_jobs):  # the score model's torch work too
                spec = self._train(data, seed=seed, validation_fraction=holdout)
                self._fit_scores(data, spec)
        except BaseException:
            self._clear_fitted()
            raise
        return self

    def _score_model(self):
        unit = 1.0
        if hasattr(self, "scale_"):
            # the terms use relative channel weights; score_type="reconstruction"
            # reports the error in the squared units of X: times max(scale_)**2
            with np.errstate(over="ignore", under="ignore"):
                unit = float(np.square(np.max(self.scale_)))
            if self.score_type == "reconstruction" and not 0 < unit < np.inf:
                raise ValueError(
                    f"X's values have a standard deviation of "
                    f"{float(np.max(self.scale_)):.3g}, whose square is not a "
                    "float64 number, so score_type='reconstruction' cannot report "
                    "errors in the squared units of X; rescale X or use "
                    "score_type='hybrid' (which is scale-free)."
                )
        return ScoreModel(
            self.score_type,
            self._score_terms[self.score_type],
            n_neighbors=self.n_neighbors,
            smoothing=getattr(self, "score_smoothing", 1),
            top_fraction=getattr(self, "score_top_fraction", 1.0),
            unit=unit,
        )

    def _outputs(self, model, module, rows):
        """The score model's network outputs for ``rows`` through ``module``."""
        net = self.net_
        weights = self._weights_for(rows)
        with torch_threads(self.n_jobs):
            return batched_inference(
                module,
                rows,
                self._standardizer(),
                net.device,
                model.network_outputs(weights),
                mixed_precision=net.mixed_precision,
            )

    def _fitted_model(self, module, rows, positions, seed):
        """A score model fitted on ``positions`` of ``rows`` through ``module``.

        Its kNN references are those rows (at most MAX_REFERENCES of them,
        drawn with ``seed``), and each term is calibrated on them, each row
        left out of its own neighbours.
        """
        if len(positions) > MAX_REFERENCES:
            rng = np.random.RandomState(seed)
            positions = np.sort(rng.choice(positions, MAX_REFERENCES, replace=False))
        model = self._score_model()
        references = rows if len(positions) == len(rows) else take_rows(rows, positions)
        outputs = self._outputs(model, module, references)
        model.fit_references(outputs)
        model.calibrate(model.raw_terms(outputs, leave_one_out=True))
        return model

    def _fit_scores(self, data, spec):
        """Fit the score model and set ``offset_``.

        ``contamination`` as a float keeps scikit-learn's meaning: that
        fraction of X, as :meth:`score_samples` scores it, is flagged.
        ``"auto"`` flags 1% of the calibration samples, scored by a model
        that did not see them (see :meth:`fit`): about 1% of new normal data.
        """
        rows, n = data.rows, len(data)
        module = self.net_.module_
        split = self.net_.train_split
        if split is not None:
            train, held_out = split.indices(n)
            model = self._fitted_model(module, rows, train, spec.seed)
            outputs = self._outputs(model, module, take_rows(rows, held_out))
            calibration_scores = model.scores(outputs)
        else:
            model = self._fitted_model(module, rows, np.arange(n), spec.seed)
            calibration_scores = self._out_of_fold_scores(data, spec)
        self._check_finite(calibration_scores, "the calibration data")
        self.score_model_ = model
        self.validation_scores_ = calibration_scores
        if self.threshold is not None:
            self.offset_ = -float(self.threshold)
        elif self.contamination == "auto":
            self.offset_ = auto_offset(calibration_scores)
        else:
            train_scores = self._score_samples(rows)
            self.offset_ = float(
                np.percentile(train_scores, 100.0 * self.contamination)
            )

    def _out_of_fold_scores(self, data, spec):
        """The score of every sample by a detector built without it.

        ``CROSS_FIT_FOLDS`` networks, trained with the final network's spec
        (other seeds) on all folds but one, each with its own score model
        fitted on its training folds, score the fold they left out.
        """
        rows, n = data.rows, len(data)
        folds = np.array_split(
            np.random.RandomState(spec.seed).permutation(n), min(CROSS_FIT_FOLDS, n)
        )
        scores = np.empty(n)
        for k, held_out in enumerate(folds):
            held_out = np.sort(held_out)
            train = np.setdiff1d(np.arange(n), held_out)
            fold_spec = replace(spec, seed=spec.seed + 1 + k, callbacks=())
            module = self._train_network(fold_spec, rows, train, verbose=0).module_
            model = self._fitted_model(module, rows, train, fold_spec.seed)
            outputs = self._outputs(model, module, take_rows(rows, held_out))
            scores[held_out] = model.scores(outputs)
        return scores

    def _weights_for(self, rows):
        """The channels' relative weights of the score's error terms."""
        weights = self._standardizer().squared_scale(len(rows.shape), relative=True)
        return torch.as_tensor(weights, dtype=torch.float64, device=self.net_.device)

    # -- scores ----------------------------------------------------------------
    def _score_samples(self, rows, *, check_range=False):
        model = self.score_model_
        result = self._infer(
            rows,
            model.network_outputs(self._weights_for(rows)),
            check_range=check_range,
        )
        outputs, mismatch = result if check_range else (result, None)
        if mismatch is not None:
            warnings.warn(mismatch, UserWarning, stacklevel=3)
        scores = model.scores(outputs)
        self._check_finite(scores, "X")
        return scores

    def _check_finite(self, scores, what):
        bad = np.flatnonzero(~np.isfinite(scores))
        if bad.size:
            shown = bad[:10].tolist()
            raise FloatingPointError(
                f"The scores of {bad.size} sample(s) of {what} are not finite "
                f"(positions {shown}{' ...' if bad.size > 10 else ''}): the "
                "network's output is NaN or infinite for them. Expected finite "
                "scores; the network may have diverged (refit with a lower lr) "
                "or been loaded from a corrupted file."
            )

    def score_samples(self, X):
        """Outlier score of each sample: higher is more normal.

        As for :class:`~sklearn.ensemble.IsolationForest`, the score is the
        opposite of an outlier cost. With ``score_type="reconstruction"`` it is
        minus the mean squared reconstruction error; with the default
        ``score_type="hybrid"`` it is minus the combined cost of the
        reconstruction, latent and image-statistics terms (see the
        ``score_type`` parameter), 0 for a sample typical in every respect.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Samples in the form the detector was fitted on.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Finite float64 scores; a sample the network cannot score raises
            FloatingPointError instead.
        """
        data = self._validate(X, reset=False)
        with torch_threads(self.n_jobs):
            return self._score_samples(data.rows, check_range=True)

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Samples in the form the detector was fitted on.

        Returns
        -------
        decision : ndarray of shape (n_samples,)
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """+1 for inliers and -1 for outliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Samples in the form the detector was fitted on.

        Returns
        -------
        labels : ndarray of shape (n_samples,), dtype int
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    def fit_predict(self, X, y=None, **kwargs):
        """Fit on X and return its labels: +1 inlier, -1 outlier.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Training data.
        y : Ignored
            Not used, present for API consistency.
        **kwargs : dict
            Passed on to :meth:`fit` (which takes none, so any raises
            TypeError: ``sample_weight`` is not supported).

        Returns
        -------
        labels : ndarray of shape (n_samples,), dtype int
        """
        return self.fit(X, y, **kwargs).predict(X)

    @validate_params(
        {
            "X_normal": ["array-like", None],
            "false_positive_rate": [Interval(Real, 0, 1, closed="neither")],
        },
        prefer_skip_nested_validation=True,
    )
    def set_threshold_from(self, X_normal=None, *, false_positive_rate=0.01):
        """Set ``offset_`` for a target false-positive rate, without retraining.

        ``offset_`` becomes the largest cutoff that flags at most
        ``false_positive_rate`` of the held-out normal samples: their scores
        sorted, it is the ``k``-th lowest with
        ``k = floor(false_positive_rate * n_samples)`` (at most
        ``n_samples - 1``), so :meth:`predict` flags the ``k`` normal
        samples that score below it. The network is untouched; a later
        :meth:`fit` sets ``offset_`` again from ``contamination`` or
        ``threshold``.

        The rate can only be resolved to ``1 / n_samples``; take at least
        ``1 / false_positive_rate`` samples (e.g. 100 or more for 1%).

        Parameters
        ----------
        X_normal : array-like of shape (n_samples, ...), default=None
            Held-out normal samples, in a form :meth:`score_samples`
            accepts. None uses ``validation_scores_``: the scores of the
            calibration samples, each scored by a network that did not
            train on it (see ``contamination``).
        false_positive_rate : float in (0, 1), default=0.01
            Fraction of normal samples that may be flagged as outliers.

        Returns
        -------
        self : object
            The detector, with ``offset_`` set.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skcae import ConvAutoencoderOutlierDetector
        >>> X, y = load_digits(return_X_y=True)
        >>> normal = X[y == 0]
        >>> det = ConvAutoencoderOutlierDetector(
        ...     image_shape=(8, 8), channels=(4,), latent_dim=2, max_epochs=1,
        ...     device="cpu", random_state=0).fit(normal[:100])
        >>> det = det.set_threshold_from(normal[100:], false_positive_rate=0.05)
        >>> int((det.predict(normal[100:]) == -1).sum())  # floor(0.05 * 78)
        3
        """
        check_is_fitted(self)
        if X_normal is None:
            if not hasattr(self, "validation_scores_"):
                raise ValueError(
                    "Got X_normal=None, but this detector has no validation "
                    "scores: expected held-out normal samples as X_normal, or "
                    "a detector fitted with validation_fraction set (e.g. 0.2)."
                )
            scores = self.validation_scores_
        else:
            scores = self.score_samples(X_normal)
        k = min(
            int(np.floor(false_positive_rate * len(scores) + 1e-9)), len(scores) - 1
        )
        self.offset_ = float(np.partition(scores, k)[k])
        return self


def score_model_for(estimator):
    """An unfitted :class:`ScoreModel` configured from a detector's parameters.

    The model that :meth:`BaseOutlierDetector.fit` builds and fits
    (:mod:`skcae._persistence` checks a saved score model against it).
    """
    return estimator._score_model()
