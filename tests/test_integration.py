"""scikit-learn integration across processes: GridSearchCV(n_jobs=2), Dask."""

import warnings

import numpy as np
import pytest
from joblib import Parallel, delayed, parallel_backend
from sklearn.model_selection import GridSearchCV, cross_val_score

from skcae import ConvAutoencoderOutlierDetector

pytestmark = pytest.mark.slow


def _data(digits):
    X, y = digits
    mask = np.isin(y, [0, 1])
    return X[mask][:200], np.where(y[mask][:200] == 0, 1, -1)


def _grid(tiny, n_jobs=None):
    return GridSearchCV(
        ConvAutoencoderOutlierDetector(image_shape=(8, 8), **tiny),
        {"latent_dim": [2, 4], "score_type": ["hybrid", "reconstruction"]},
        scoring="roc_auc",
        cv=2,
        n_jobs=n_jobs,
    )


def test_grid_search_in_two_processes_matches_one(digits, tiny):
    X, labels = _data(digits)
    one = _grid(tiny).fit(X, labels)
    two = _grid(tiny, n_jobs=2).fit(X, labels)
    np.testing.assert_array_equal(
        two.cv_results_["mean_test_score"], one.cv_results_["mean_test_score"]
    )
    assert set(two.best_params_) == {"latent_dim", "score_type"}
    scores = cross_val_score(
        ConvAutoencoderOutlierDetector(image_shape=(8, 8), **tiny),
        X,
        labels,
        scoring="roc_auc",
        cv=2,
    )
    assert scores.shape == (2,) and np.all((scores > 0.5) & (scores <= 1))


def test_grid_search_on_a_local_dask_cluster_matches_the_local_run(digits, tiny):
    distributed = pytest.importorskip("dask.distributed")
    X, labels = _data(digits)
    local = _grid(tiny).fit(X, labels)
    # Worker processes (not threads) on loopback, as on a real cluster.
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        with parallel_backend("dask"):
            remote = _grid(tiny).fit(X, labels)
        assert len(client.run(lambda: True)) == 2  # both workers answered
    np.testing.assert_array_equal(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(
        remote.best_estimator_.score_samples(X), local.best_estimator_.score_samples(X)
    )


def _quietly(method, est, X):
    """``est.method(X)`` with every warning an error (in a loky worker)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return getattr(est, method)(X)


def test_loky_workers_fit_and_score_read_only_arrays_without_warnings(digits, tiny):
    """max_nbytes="1K": loky hands the workers read-only memmaps of X and of
    the estimator's arrays; torch must not warn that they are not writable."""
    X = digits[0][:300]
    det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), **tiny).fit(X)
    parallel = Parallel(n_jobs=2, backend="loky", max_nbytes="1K")
    scores = parallel(delayed(_quietly)("score_samples", det, X[i::2]) for i in (0, 1))
    np.testing.assert_allclose(scores[0], det.score_samples(X[0::2]), rtol=1e-12)
    fitted = parallel(delayed(_quietly)("fit", det, X) for _ in range(2))
    np.testing.assert_array_equal(
        fitted[0].score_samples(X[:10]), det.score_samples(X[:10])
    )
