"""The detectors the benchmarks compare, behind one small interface.

Every method has ``fit(X)`` (X: images ``(n, H, W)`` or ``(n, C, H, W)``,
normal samples only) and ``score_samples(X)`` (higher = more normal, as in
scikit-learn), and an ``info`` dict of extra columns for the results.

* ``skcae``: :class:`~skcae.ConvAutoencoderOutlierDetector` with its
  defaults (``score_type="hybrid"``); only ``random_state`` is set, plus
  ``n_jobs`` (the ``--threads`` of the script, else the adaptive default)
  and ``memory`` (a temporary :class:`joblib.Memory`, so that ``skcae-mse``
  reuses the network; caching changes no result).
* ``skcae-mse``: the *same* network scored with
  ``score_type="reconstruction"`` (the mean squared reconstruction error):
  the detector is refitted with that score type and the same ``memory``,
  which loads the trained network from the cache and only fits the score
  model. Its fit time is that scoring-only refit.
* ``iforest``, ``lof`` (``novelty=True``), ``ocsvm`` (RBF, ``nu=0.1``, on a
  random subsample of at most 2,000 training samples) and ``pca`` (mean
  squared reconstruction error with 32 components): scikit-learn on flat
  pixels.
* ``pyod-ae``: PyOD's ``AutoEncoder`` with its default parameters (only
  ``random_state`` and ``verbose=0`` set) on flat pixels; skipped when PyOD
  does not import.

:class:`SkcaeDefault` is the detector with *all* its defaults (the
``score_type`` too: whatever the installed version defaults to), only
``random_state`` and ``n_jobs`` set and no cache, for the scripts that fit
one skcae per training set and time it. :class:`Skcae` with
``score_type=None`` and ``params`` (e.g. ``{"contamination": 0.05}``) is a
default detector that shares a cached network with the other skcae
variants fitted on the same training set.
"""

import shutil
import tempfile
from pathlib import Path

import numpy as np

SKCAE_METHODS = {"skcae": "hybrid", "skcae-mse": "reconstruction"}
BASELINES = ("iforest", "lof", "ocsvm", "pca", "pyod-ae")
SKCAE_NOTE = (
    "skcae = ConvAutoencoderOutlierDetector defaults (score_type='hybrid'), "
    "random_state=seed (n_jobs = --threads); skcae-mse = the same network with "
    "score_type='reconstruction', refitted from a joblib.Memory cache (score "
    "model only); its fit time is that refit."
)

SKCAE_DEFAULT_NOTE = (
    "skcae = ConvAutoencoderOutlierDetector with all its defaults; only "
    "random_state=seed and n_jobs (= --threads) set."
)


def method_notes(methods, skcae_note=SKCAE_NOTE):
    """Header lines on the methods: what skcae is, whether PyOD runs.

    Removes ``pyod-ae`` from the list ``methods`` when PyOD does not import.
    """
    notes = [skcae_note] if set(methods) & set(SKCAE_METHODS) else []
    if "pyod-ae" in methods:
        ok, note = pyod_status()
        notes.append(note)
        if not ok:
            methods.remove("pyod-ae")
    return notes


def flat(X):
    return np.asarray(X).reshape(len(X), -1)


def pyod_status():
    """(available, note): whether PyOD's AutoEncoder imports, and why not."""
    try:
        import pyod
        from pyod.models.auto_encoder import AutoEncoder  # noqa: F401
    except Exception as exc:  # ImportError, or a broken torch/pyod pairing
        return False, f"pyod-ae skipped: PyOD does not import ({exc!r})."
    return True, f"pyod-ae: PyOD {pyod.__version__} AutoEncoder, default parameters."


class PCAReconstruction:
    """Minus the mean squared PCA reconstruction error (higher = more normal)."""

    def __init__(self, n_components=32, random_state=None):
        self.n_components = n_components
        self.random_state = random_state
        self.info = {}

    def fit(self, X):
        from sklearn.decomposition import PCA

        X = flat(X)
        n = min(self.n_components, X.shape[0] - 1, X.shape[1])
        self.pca_ = PCA(n, random_state=self.random_state).fit(X)
        return self

    def score_samples(self, X):
        X = flat(X)
        recon = self.pca_.inverse_transform(self.pca_.transform(X))
        return -np.mean((X - recon) ** 2, axis=1)


class Flat:
    """A scikit-learn detector on flat pixel rows (optionally subsampled)."""

    def __init__(self, estimator, max_train=None, random_state=None):
        self.estimator = estimator
        self.max_train = max_train
        self.random_state = random_state
        self.info = {}

    def fit(self, X):
        if self.max_train is not None and len(X) > self.max_train:
            rng = np.random.RandomState(self.random_state)
            X = X[np.sort(rng.choice(len(X), self.max_train, replace=False))]
        self.estimator.fit(flat(X))
        return self

    def score_samples(self, X):
        return self.estimator.score_samples(flat(X))


class PyodAutoEncoder:
    """PyOD's AutoEncoder; its outlier score negated (higher = more normal)."""

    def __init__(self, random_state):
        self.random_state = random_state
        self.info = {}

    def fit(self, X):
        from pyod.models.auto_encoder import AutoEncoder

        self.model_ = AutoEncoder(random_state=self.random_state, verbose=0)
        self.model_.fit(flat(X).astype(np.float32))
        return self

    def score_samples(self, X):
        return -self.model_.decision_function(flat(X).astype(np.float32))


class SkcaeCache:
    """One temporary :class:`joblib.Memory` for a benchmark run.

    :meth:`task` starts a new training set: the detectors fitted on it are
    forgotten and the cache folder emptied (it only ever holds the networks
    of one training set).
    """

    def __init__(self, make):
        import joblib

        self.make = make  # make(score_type, seed, memory) -> unfitted detector
        self.folder = tempfile.mkdtemp(prefix="skcae-bench-")
        self.memory = joblib.Memory(self.folder, verbose=0)
        self.fitted = {}

    def task(self):
        self.fitted = {}
        self.memory.clear(warn=False)

    def entries(self):
        return sum(1 for _ in Path(self.folder).rglob("output.pkl"))

    def close(self):
        shutil.rmtree(self.folder, ignore_errors=True)


def _fit_info(det):
    """Epochs trained and torch thread counts of a fitted skcae detector."""
    threads = det.net_.history[:, "torch_threads"]
    return {
        "n_iter": det.n_iter_,
        "torch_threads": f"{min(threads)}-{max(threads)}"
        if min(threads) != max(threads)
        else str(threads[0]),
    }


class SkcaeDefault:
    """The default detector: only ``random_state``, ``n_jobs`` and ``params``
    (e.g. ``max_epochs`` for trial runs) set; no cache, so its fit time is
    the plain ``fit``."""

    def __init__(self, seed, n_jobs=None, params=None):
        self.seed = seed
        self.n_jobs = n_jobs
        self.params = dict(params or {})
        self.info = {}

    def make(self):
        from skcae import ConvAutoencoderOutlierDetector

        return ConvAutoencoderOutlierDetector(
            random_state=self.seed, n_jobs=self.n_jobs, **self.params
        )

    def fit(self, X):
        self.detector_ = self.make().fit(X)
        self.info = _fit_info(self.detector_)
        return self

    def score_samples(self, X):
        return self.detector_.score_samples(X)


class Skcae:
    """``skcae`` / ``skcae-mse``: the first one fitted on a training set
    trains the network; the other is refitted from the cache (score only).

    ``score_type=None`` keeps the detector's default score type; ``params``
    are set on top of the cache's maker (e.g. ``{"contamination": 0.05}``).
    The cache is shared per seed, so variants that differ only in score
    type or ``params`` reuse one trained network.
    """

    def __init__(self, score_type, seed, cache, params=None):
        self.score_type = score_type
        self.seed = seed
        self.cache = cache
        self.params = dict(params or {})
        self.info = {}

    def fit(self, X):
        cache = self.cache
        trained = cache.fitted.get(self.seed) is not None
        before = cache.entries()
        det = cache.make(self.score_type, self.seed, cache.memory)
        det = det.set_params(**self.params).fit(X)
        if not trained:
            kind = "train"
        else:
            kind = "rescore" if cache.entries() == before else "retrained (cache miss)"
        cache.fitted[self.seed] = det
        self.detector_ = det
        self.info = {"fit_kind": kind, **_fit_info(det)}
        return self

    def score_samples(self, X):
        return self.detector_.score_samples(X)


def skcae_maker(n_jobs, quick=False, params=None):
    """``make(score_type, seed, memory)`` for :class:`SkcaeCache`."""
    from skcae import ConvAutoencoderOutlierDetector

    extra = {"max_epochs": 2} if quick else {}
    extra.update(params or {})

    def make(score_type, seed, memory):
        kind = {} if score_type is None else {"score_type": score_type}
        return ConvAutoencoderOutlierDetector(
            **kind, random_state=seed, memory=memory, n_jobs=n_jobs, **extra
        )

    return make


def make_method(name, seed, cache, ocsvm_max_train=2000):
    """A fresh, unfitted method ``name`` for seed ``seed``."""
    from sklearn.ensemble import IsolationForest
    from sklearn.neighbors import LocalOutlierFactor
    from sklearn.svm import OneClassSVM

    if name in SKCAE_METHODS:
        return Skcae(SKCAE_METHODS[name], seed, cache)
    if name == "iforest":
        return Flat(IsolationForest(random_state=seed))
    if name == "lof":
        return Flat(LocalOutlierFactor(novelty=True))
    if name == "ocsvm":
        return Flat(
            OneClassSVM(gamma="scale", nu=0.1),
            max_train=ocsvm_max_train,
            random_state=seed,
        )
    if name == "pca":
        return PCAReconstruction(32, random_state=seed)
    if name == "pyod-ae":
        return PyodAutoEncoder(random_state=seed)
    raise ValueError(f"unknown method {name!r}")


def warm_up(methods, cache, X_fit, X_score):
    """Fit and score each method once on a few samples, untimed, so that the
    first timed run does not pay for imports and first-call setup (skcae
    trains for one epoch only)."""

    def make(score_type, seed, memory):
        return cache.make(score_type, seed, memory).set_params(max_epochs=1)

    warm = SkcaeCache(make)
    try:
        for name in methods:
            make_method(name, 0, warm).fit(X_fit).score_samples(X_score)
    finally:
        warm.close()


def warm_up_methods(methods, make, X):
    """Fit and score ``make(name)`` once on ``X`` for every method, untimed,
    so that the first timed run does not pay for imports and first-call
    setup; a :class:`SkcaeDefault` trains for one epoch only."""
    for name in methods:
        method = make(name)
        if isinstance(method, SkcaeDefault):
            method.params["max_epochs"] = 1
        method.fit(X).score_samples(X)
