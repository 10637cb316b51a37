"""The outlier-detector contract shared by skcae's detectors.

:class:`BaseOutlierDetector` has the shape of
:class:`~sklearn.ensemble.IsolationForest`: :meth:`fit` validates X, trains
the network, fits the score (``scorer_``, a :class:`~skcae._scorer.Scorer`)
and sets ``offset_``; :meth:`score_samples` validates X and runs ``scorer_``
over it; :meth:`decision_function` and :meth:`predict` are one-liners on
top. Where the calibration data of ``contamination="auto"`` come from is
the ``calibration`` parameter (:meth:`_holdout`); the threshold rule is
:func:`auto_offset`.
"""

import math
from dataclasses import replace
from numbers import Integral, Real

import numpy as np
import torch
from scipy.stats import t as student_t
from sklearn.base import OutlierMixin

from ._base import BaseAutoencoder
from ._checks import finite_rows
from ._data import RangeTracker, take_rows
from ._knn_terms import density_neighbors, widening
from ._scorer import Scorer
from ._sklearn_compat import Interval, StrOptions, fit_context, validate_params
from ._threads import torch_threads
from ._tuning import (
    AUTO_CONTAMINATION,
    AUTO_FENCE,
    AUTO_FENCE_MIN_SPREAD,
    AUTO_TRIM,
    AUTO_TRIM_ROUNDS,
    CROSS_FIT_FOLDS,
    FIT_SUBSET,
    HOLDOUT_FRACTION,
    HOLDOUT_MIN_ROWS,
    HOLDOUT_MIN_SAMPLES,
    MAX_REFERENCES,
    MAX_TRIM,
    RATE_MIN_TRIM,
    RETRAIN_MIN_OUTLIERS,
    TRIM_FACTOR,
    TRIM_ROUNDS,
)
from ._warn import warn_user

#: The terms of each ``score_type`` (the convolutional detector's);
#: "hybrid" combines all of them.
SCORE_TERMS = {
    "reconstruction": ("mse",),
    "latent": ("latent",),
    "density": ("density",),
    "hybrid": ("residual", "pooled", "density", "stats", "latent", "range"),
}
_SCORES = "The scores of {n} sample(s) of "


def _share_of(share, n):
    """``int(share * n)``, the rows a share names, robust to float error
    (``0.29 * 100`` is 28.999999999999996)."""
    return int(np.floor(share * n + 1e-9))


def _at_most(size, n, rng):
    """Sorted indices of ``size`` of ``n`` rows drawn with ``rng``, or None
    (all of them) when ``n`` is at most ``size``."""
    if n <= size:
        return None
    return np.sort(rng.choice(n, size, replace=False))


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
    0.3-1.6% after); and both leave out the scores whose cost's square
    root lies more than ``AUTO_FENCE`` interquartile ranges (of those
    roots; at least ``AUTO_FENCE_MIN_SPREAD`` of their median) above its
    upper quartile, which a corrupt or far outlying
    training sample would otherwise give, dragging the minimum and the
    spread, and so the threshold, below every score (nothing flagged).
    From 1,000 scores on, one such score does not move the quantile.
    """
    scores = np.asarray(scores, dtype=np.float64)
    few = len(scores) < 10 / rate  # fewer than ten beyond the quantile
    if few and len(scores) > 3:
        # costs (-scores) are about t ** 2 / 2 in their tail (the hybrid
        # score's): their roots have a normal's short tail, so that an
        # absurd one stands out
        roots = np.sqrt(np.maximum(-scores, 0.0))
        q1, median, q3 = np.percentile(roots, [25, 50, 75])
        # at least AUTO_FENCE_MIN_SPREAD of the median: where most samples
        # are copies of one image (blank frames), their scores nearly tie,
        # and a fence of that width left out every other normal sample
        spread = max(q3 - q1, AUTO_FENCE_MIN_SPREAD * median)
        if spread > 0:  # (no spread at all: nothing to measure far ones by)
            scores = scores[roots <= q3 + AUTO_FENCE * spread]
    n = len(scores)
    offset = float(np.percentile(scores, 100.0 * rate))
    if few and n > 2:
        spread = scores.std(ddof=1) * np.sqrt(1.0 + 1.0 / n)
        offset = min(
            offset, float(scores.mean() - student_t.ppf(1 - rate, n - 1) * spread)
        )
    return offset


#: contamination="auto" warns when its threshold rests on fewer calibration
#: scores than this (2 training images: every new image was flagged).
_FEW_CALIBRATION_SCORES = 10

_CAUSE = dict(
    cause="the network's output is NaN or infinite for them: it may have "
    "diverged (refit with a lower lr) or been loaded from a corrupted file",
    expected="finite scores",
)


class BaseOutlierDetector(OutlierMixin, BaseAutoencoder):
    """Outlier contract on top of the network and a fitted :class:`Scorer`.

    Not public. Subclasses set ``_score_terms`` (the terms of each
    ``score_type``) besides the network hooks of :class:`BaseAutoencoder`,
    and may override :meth:`_score_options`.
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
        "calibration": [StrOptions({"auto", "holdout", "cross_fit"})],
    }

    _score_terms = SCORE_TERMS
    _model_attribute = "scorer_"

    def _score_options(self):
        """The reconstruction term's ``smoothing`` and ``top_fraction``."""
        return {"smoothing": 1, "top_fraction": 1.0}

    def _check_params(self):
        super()._check_params()
        if self.calibration == "cross_fit" and self.validation_fraction is not None:
            raise ValueError(
                f"Got calibration='cross_fit' and validation_fraction="
                f"{self.validation_fraction}, but the validation rows are the "
                "calibration split; expected validation_fraction=None with "
                "calibration='cross_fit', or calibration='auto' or 'holdout'."
            )

    @classmethod
    def _saved_attributes(cls):
        return super()._saved_attributes() + ["offset_", "validation_scores_"]

    def _model_config(self, fitted, **score):
        return super()._model_config(
            fitted,
            score_type=self.score_type,
            terms=tuple(self._score_terms[self.score_type]),
            n_neighbors=int(self.n_neighbors),
            density_neighbors=density_neighbors(self.contamination),
            **self._score_options(),
        )

    # -- fit -------------------------------------------------------------------
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the autoencoder on X, fit the score and set the threshold.

        The score's calibration and ``contamination="auto"``'s threshold
        are taken from samples the network did not train on, so that they
        hold for new data: which ones is the ``calibration`` parameter's
        choice. A refit builds the new model aside and replaces the fitted
        state in one step. X that fails input validation leaves the detector
        as it was; a refit that fails later leaves it unfitted.

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
        return self._fit(self._fit_state, X)

    def _holdout(self, n):
        """The fraction of the ``n`` training rows held out for calibration,
        or None for cross-fitting (see the ``calibration`` parameter)."""
        if self.validation_fraction is not None:
            return self.validation_fraction
        if self.calibration == "cross_fit" or (
            self.calibration == "auto" and n < HOLDOUT_MIN_SAMPLES
        ):
            return None
        return min(0.5, max(HOLDOUT_FRACTION, HOLDOUT_MIN_ROWS / n))

    def _no_holdout_reason(self, n):
        if self.calibration == "cross_fit":
            return "calibration='cross_fit' holds no rows out"
        return (
            f"X has {n} samples; below {HOLDOUT_MIN_SAMPLES}, calibration='auto' "
            "cross-fits instead of holding rows out"
        )

    def _fit_state(self, validated):
        """The fitted attributes of a fit on the validated X (of
        :meth:`_validate_new`): the network's, ``scorer_``,
        ``validation_scores_`` and ``offset_``.

        With a float ``contamination`` whose rate names at least
        ``RETRAIN_MIN_OUTLIERS`` outliers in X the network is trained twice:
        the second time without the most outlying share of X that
        :meth:`_trimming` names, as ranked by the first network's score, so
        that the outliers in X shape neither the network nor the score
        (one-class MNIST with 10% of other digits mixed in: mean AUROC over
        the digits .893 -> .917; .954 with the density term's wider
        neighbourhood, ``benchmarks/contamination.py``). With fewer, the
        first network is kept (a network learns little from a few
        outliers, and the second one lost the normal samples trimmed from
        its training); its references leave that share out all the same.
        """
        data, inputs = validated
        trained = self._train_on(data, dict(inputs))
        fitted = self._fit_score(*trained)
        rows, n = data.rows, len(data)
        if self.contamination == "auto":
            return fitted

        def scores_of_x(fitted):
            costs = self._costs(fitted["scorer_"], fitted, rows)
            return finite_rows(0.0 - costs, _SCORES + "X are not finite", **_CAUSE)

        share = self._trimming(n)[0]
        n_keep, scores = n - _share_of(share, n), None
        retrain = self._retrains(n)
        if (
            retrain
            and n_keep < n
            and self._can_train_on(n_keep, trained[2].validation_fraction)
        ):
            scores = scores_of_x(fitted)
            kept = np.sort(np.argsort(-scores, kind="stable")[:n_keep])
            subset = replace(data, rows=take_rows(rows, kept))
            if self.verbose:
                print(
                    f"contamination={self.contamination}: training again without "
                    f"the {n - n_keep} most outlying of {n} samples"
                )
            # calibrated as X's size decides (a hold-out from 300 samples on);
            # the first training already warned of X's clipped values
            retrained = self._train_on(subset, dict(inputs), n_of=n, warn=False)
            if self._unit_problem(retrained[1]["scale_"]) is None:
                fitted = self._fit_score(*retrained, n_of=n)
                scores = None  # of the first network: scored again if needed
        elif not retrain and self.verbose:
            trimmed = (
                f", its references without their most outlying {share:.3g} "
                "(rounded down)"
                if n_keep < n
                else ""
            )
            named = _share_of(self.contamination, n)
            print(
                f"contamination={self.contamination} names {named} "
                f"outlier{'' if named == 1 else 's'} in X, fewer than "
                f"{RETRAIN_MIN_OUTLIERS}: the first network is kept{trimmed}"
            )
        elif n_keep < n and self.verbose:
            fraction = trained[2].validation_fraction
            reason = (
                f"{n_keep} samples are too few to train again"
                if n_keep < 2
                else f"validation_fraction={fraction} of the {n_keep} samples "
                "left holds out none or all of them, so they cannot train again"
            )
            print(
                f"contamination={self.contamination}: {reason}; the first "
                "network is kept"
            )
        if self.threshold is None:
            # the share of X itself (all of it) that contamination names
            scores = scores_of_x(fitted) if scores is None else scores
            fitted["offset_"] = float(np.percentile(scores, 100.0 * self.contamination))
        return fitted

    def _retrains(self, n):
        """Whether a float contamination trains the network again (without
        the most outlying samples of X's ``n``): only when X holds at least
        ``RETRAIN_MIN_OUTLIERS`` outliers at that rate."""
        return _share_of(self.contamination, n) >= RETRAIN_MIN_OUTLIERS

    @staticmethod
    def _can_train_on(n_rows, validation_fraction):
        """Whether ``n_rows`` samples can train and calibrate again: at least
        two, and a hold-out that leaves rows on both of its sides (else the
        second training of a float contamination is skipped)."""
        if n_rows < 2:
            return False
        n_valid = int(round(n_rows * (validation_fraction or 0)))
        return not validation_fraction or 1 <= n_valid < n_rows

    def _fit_score(self, data, fitted, spec, standardization, n_of=None):
        """``fitted`` (of :meth:`_train_on`) with ``scorer_`` and
        ``validation_scores_`` fitted on ``data``, and ``offset_`` unless
        it is a float contamination's (see :meth:`_fit_state`). ``n_of``:
        the number of samples of X, where ``data`` is part of it (the
        trimming's share follows X's size)."""
        self._check_unit(fitted["scale_"])
        rows, n, net = data.rows, len(data), fitted["net_"]
        config = self._model_config(fitted)
        trimming = self._trimming(n if n_of is None else n_of)

        def fitted_scorer(network, positions, seed):
            scorer = Scorer(config, network, standardization).eval()
            return self._fit_scorer(scorer, fitted, rows, positions, seed, trimming)

        if spec.validation_fraction:
            train, held_out = net.train_split.indices(n)
            # (the few calibration scores of "auto" warn on their own; a
            # second training, on X's kept part, warned already)
            auto_warns = (
                self.contamination == "auto"
                and self.threshold is None
                and len(held_out) < _FEW_CALIBRATION_SCORES
            )
            if len(train) < _FEW_CALIBRATION_SCORES and not auto_warns and n_of is None:
                given = self.validation_fraction is not None
                warn_user(
                    f"The calibration hold-out took {len(held_out)} of the {n} "
                    + (
                        f"samples (validation_fraction={self.validation_fraction})"
                        if given
                        else "samples"
                    )
                    + f", so the network trained on {len(train)} (fewer than "
                    f"{_FEW_CALIBRATION_SCORES}): it learns little from so few, "
                    "and the scores and threshold rest on it. Expected "
                    + (
                        "a smaller validation_fraction (e.g. 0.1) or None."
                        if given
                        else "more samples, or calibration='cross_fit'."
                    ),
                    UserWarning,
                )
            scorer = fitted_scorer(net.module_, train, spec.seed)
            costs = self._costs(scorer, fitted, take_rows(rows, held_out))
        else:
            scorer = fitted_scorer(net.module_, np.arange(n), spec.seed)
            costs = np.empty(n)
            folds = np.array_split(
                np.random.RandomState(spec.seed).permutation(n),
                min(CROSS_FIT_FOLDS, n),
            )
            if self.verbose:  # else the epoch table's end looked like a hang
                print(
                    f"calibration: training {len(folds)} more networks, each "
                    f"without one of {len(folds)} folds of the {n} samples; "
                    "their scores of the folds they left out set the threshold"
                )
            for k, held_out in enumerate(folds):
                # a network trained without the fold (another seed) scores it
                held_out = np.sort(held_out)
                train = np.setdiff1d(np.arange(n), held_out)
                fold_spec = replace(spec, seed=spec.seed + 1 + k, callbacks=())
                statistics = (
                    fitted["center_"],
                    fitted["scale_"],
                    *fitted["data_range_"],
                )
                network = self._train_network(
                    fold_spec, rows, statistics, train, verbose=0
                ).module_
                fold_scorer = fitted_scorer(network, train, fold_spec.seed)
                costs[held_out] = self._costs(
                    fold_scorer, fitted, take_rows(rows, held_out)
                )
        scores = 0.0 - costs
        finite_rows(scores, _SCORES + "the calibration data are not finite", **_CAUSE)
        fitted.update(scorer_=scorer, validation_scores_=scores)
        if self.threshold is not None:
            fitted["offset_"] = -float(self.threshold)
        elif self.contamination == "auto":
            fitted["offset_"] = auto_offset(scores)
            if not spec.validation_fraction:
                # cross-fitted: the model never flags the median of its own
                # training samples (a step below, so that tied scores stay
                # above it). On blank images (score_type="reconstruction", a
                # probe: 40, or 39 and one other) the fold networks' errors
                # lay a little off the model's own, and every training image
                # and every identical new one was flagged. (The model's own
                # 1% rule would bind on clean digits too: 8 of 22 fits.)
                own = 0.0 - self._costs(scorer, fitted, rows)
                bound = float(np.nextafter(np.median(own), -np.inf))
                if np.isfinite(bound):
                    fitted["offset_"] = min(fitted["offset_"], bound)
            if len(scores) < _FEW_CALIBRATION_SCORES:
                warn_user(
                    f"contamination='auto' set the threshold from {len(scores)} "
                    f"calibration score(s) (fewer than {_FEW_CALIBRATION_SCORES}): "
                    "the share of new data that predict() flags can be far "
                    "from 1%, either way: a fit on 2 samples once flagged "
                    "every new one, and on 2 or 3 samples the threshold can "
                    "lie below any score the model gives, so that nothing is "
                    "flagged (values of 1e30 included). Expected more "
                    "training samples; or set the threshold with "
                    "set_threshold_from(X_normal) on held-out normal samples.",
                    UserWarning,
                )
        return fitted

    def _check_unit(self, scale):
        """score_type="reconstruction" reports errors in the squared units of
        X: refuse data whose squared scale float64 cannot hold."""
        problem = self._unit_problem(scale)
        if problem is not None:
            raise ValueError(problem)

    def _unit_problem(self, scale):
        """:meth:`_check_unit`'s message for ``scale``, or None."""
        with np.errstate(over="ignore", under="ignore"):
            unit = float(np.square(np.max(scale)))
        if self.score_type == "reconstruction" and not 0 < unit < np.inf:
            return (
                f"X's values have a standard deviation of "
                f"{float(np.max(scale)):.3g}, whose square is not a "
                "float64 number, so score_type='reconstruction' cannot report "
                "errors in the squared units of X; rescale X or use "
                "score_type='hybrid' (which is scale-free)."
            )
        return None

    def _fit_scorer(self, scorer, fitted, rows, positions, seed, trimming):
        """Fit ``scorer``'s terms on ``positions`` of ``rows``.

        Its kNN references are those rows (at most MAX_REFERENCES of them,
        drawn with ``seed``), and each term is calibrated on them, each row
        left out of its own neighbours. The most outlying share of them
        (:meth:`_trimming`) is then dropped from the references and the
        calibration, in ``TRIM_ROUNDS`` rounds: outliers in the training
        set should not vouch for outliers to come. Beyond FIT_SUBSET rows,
        a trimming round ranks them all against FIT_SUBSET of them, and the
        terms are calibrated on FIT_SUBSET of their references (drawn with
        ``seed``), so that those steps cost in proportion to the rows (the
        density term's neighbourhoods of its references do not). A term
        that is ``untrimmed`` (the "range" term) is fitted on every row,
        dropped ones included, and calibrated on all of them.
        """
        rng = np.random.RandomState(seed)
        if len(positions) > MAX_REFERENCES:
            positions = np.sort(rng.choice(positions, MAX_REFERENCES, replace=False))
        references = rows if len(positions) == len(rows) else take_rows(rows, positions)
        state = {**fitted, "scorer_": scorer}
        values = self._run(state, references, lambda m, x: m.fit_features(x))
        share, rounds = trimming
        keep = np.arange(len(positions))
        for round_ in range(rounds + 1):
            last = round_ == rounds
            # the rounds before the last fit only the terms that rank
            names = list(values) if last else scorer.trim_terms()
            knn = [name for name in names if scorer.fits_on_references(name)]
            some = _at_most(FIT_SUBSET, len(keep), rng)
            # the last round's references: every row kept; a ranking round's:
            # some of them (the others are ranked against those)
            fitted_rows = keep if last or some is None else keep[some]
            # the last round fits the untrimmed terms on every row, dropped
            # ones included (fit_terms calibrates them on all of theirs)
            whole = {n for n in knn if scorer.fits_untrimmed(n)} if last else set()
            loo = scorer.fit_terms(
                {
                    name: values[name] if name in whole else values[name][fitted_rows]
                    for name in knn
                },
                some if last else None,
            )
            calibrated = keep if some is None else keep[some]
            raw = {
                name: loo[name] if name in loo else values[name][calibrated]
                for name in names
            }
            scorer.calibrate(raw)
            if not last:
                subset = {name: values[name] for name in names}
                keep = self._kept(scorer, subset, knn, fitted_rows, raw, share)
        return scorer

    def _trimming(self, n):
        """The share of training samples dropped from the references, and in
        how many rounds, for X of ``n`` samples (see ``contamination``): a
        float rate ``c`` drops ``c`` plus a margin of ``(TRIM_FACTOR - 1) * c``
        in the proportion that the density term's neighbourhood can widen
        among ``n`` references (:func:`~skcae._knn_terms.widening`; X's
        size stands for the references', which the hold-out and the
        trimming make fewer); all of the margin for a score without that
        term; at least ``RATE_MIN_TRIM`` (auto's share) in all."""
        if self.contamination == "auto":
            return AUTO_TRIM, AUTO_TRIM_ROUNDS
        rate = float(self.contamination)
        # a score without the density term (the dense detector's, or one
        # term): the full margin, as measured before the rule (not since)
        widens = "density" in self._score_terms[self.score_type]
        margin = (TRIM_FACTOR - 1.0) * (widening(rate, n) if widens else 1.0)
        share = min(rate * (1.0 + margin), MAX_TRIM)
        return max(share, RATE_MIN_TRIM), TRIM_ROUNDS

    @staticmethod
    def _kept(scorer, values, knn, keep, raw, share):
        """The references kept after dropping the most outlying ``share`` of
        all candidates, each scored without itself (the references,
        ``keep``) or against the references (the others)."""
        n = len(next(iter(values.values())))
        dropped = np.setdiff1d(np.arange(n), keep)
        new = scorer.term_costs({name: values[name][dropped] for name in knn})
        everyone = {}
        for name in values:
            if name in new:
                cost = np.empty(n)
                cost[keep], cost[dropped] = raw[name], new[name]
            else:
                cost = np.asarray(values[name], dtype=np.float64)
            everyone[name] = torch.from_numpy(cost)
        cost = scorer.trim_cost(everyone).numpy()
        n_keep = max(n - _share_of(share, n), min(n, 2))
        return np.sort(np.argsort(cost, kind="stable")[:n_keep])

    def _costs(self, scorer, fitted, rows, tracker=None):
        """The outlier cost of each row by ``scorer`` (an ndarray)."""
        state = {**fitted, "scorer_": scorer}
        return self._run(state, rows, lambda m, x: m(x), tracker=tracker)

    # -- scores ----------------------------------------------------------------
    def _scores(self, X, state):
        """score_samples of X by the fitted state ``state``."""
        data = self._validate(X)
        tracker = RangeTracker(state["scorer_"].standardization)
        with torch_threads(self.n_jobs, rows=len(data), chunk=self._chunk(state)):
            costs = self._costs(state["scorer_"], state, data.rows, tracker)
        mismatch = tracker.mismatch(state["scorer_"].standardization)
        if mismatch is not None:
            warn_user(mismatch)
        return finite_rows(0.0 - costs, _SCORES + "X are not finite", **_CAUSE)

    def score_samples(self, X):
        """Outlier score of each sample: higher is more normal.

        As for :class:`~sklearn.ensemble.IsolationForest`, the score is the
        opposite of an outlier cost. With ``score_type="reconstruction"`` it is
        minus the mean squared reconstruction error; with the default
        ``score_type="hybrid"`` it is minus the combined cost of the
        reconstruction, latent and image-statistics terms (see the
        ``score_type`` parameter): at most 0, about -0.7 for a sample at the
        training data's median in every respect.

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
        return self._scores(X, self._fitted())

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
        state = self._fitted()
        return self._scores(X, state) - state["offset_"]

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
        self._fitted()
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
        # in floats: 1 / 1e-320 is inf, and no data set holds 1e300 samples
        needed = 1.0 / false_positive_rate - 1e-9
        if len(scores) < needed:
            if needed < 1e15:
                needed = f"{math.ceil(needed)}"
            else:  # beyond any data set (inf below a rate of ~5.6e-309)
                needed = f"{needed:.3g}" if math.isfinite(needed) else "1e308 or more"
            at_least = needed if needed.endswith("more") else f"at least {needed}"
            warn_user(
                f"set_threshold_from got {len(scores)} normal sample(s), fewer "
                f"than the {needed} that resolve false_positive_rate="
                f"{false_positive_rate:g}: offset_ is their lowest score, which "
                "new normal data fall below far more often than that (about "
                f"1 in {len(scores) + 1}). Expected {at_least} held-out "
                "normal samples.",
                UserWarning,
            )
        self.offset_ = float(np.partition(scores, k)[k])
        return self
