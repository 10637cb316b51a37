"""GridSearchCV over a Dask cluster through joblib's dask backend."""

import numpy as np
import pytest
from joblib import parallel_backend
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from skcae import ConvAutoencoderOutlierDetector

distributed = pytest.importorskip("dask.distributed")


def _grid():
    return GridSearchCV(
        ConvAutoencoderOutlierDetector(
            image_shape=(8, 8), channels=(4,), max_epochs=2, batch_size=32,
            device="cpu", random_state=0,
        ),
        {"latent_dim": [2, 4], "contamination": [0.05, 0.1]},
        scoring="roc_auc",
        cv=2,
    )


def test_grid_search_on_a_local_dask_cluster_matches_the_local_run():
    X, y = load_digits(return_X_y=True)
    mask = np.isin(y, [0, 1])
    X, labels = X[mask][:200], np.where(y[mask][:200] == 0, 1, -1)

    local = _grid().fit(X, labels)
    # Worker processes (not threads) on loopback, as on a real cluster.
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None,
    ) as cluster, distributed.Client(cluster) as client:
        with parallel_backend("dask"):
            remote = _grid().fit(X, labels)
        ran_on = client.run(lambda: True)  # both workers answered

    assert len(ran_on) == 2
    np.testing.assert_array_equal(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(
        remote.best_estimator_.score_samples(X), local.best_estimator_.score_samples(X)
    )
