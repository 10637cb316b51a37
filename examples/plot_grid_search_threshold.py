"""
=========================================================
Tuning the threshold with GridSearchCV, and caching nets
=========================================================

An outlier detector has two kinds of parameters: those of the network
(``latent_dim``, ``max_epochs``, ...) and those of the score and its
threshold (``threshold``, ``score_type``, ``n_neighbors``). Changing the
threshold does not change the trained network, so retraining for each
value is wasted time. With ``memory`` (a folder, as for
:class:`~sklearn.pipeline.Pipeline`), the detector caches its trained
network keyed by the training data and the network parameters only: a
:class:`~sklearn.model_selection.GridSearchCV` over ``latent_dim`` x
``threshold`` trains once per ``latent_dim`` and split. (A fit on fewer
than 300 samples trains two extra, cross-fitted networks to calibrate its
score; they are cached too.)

A float ``contamination`` is more than a threshold: the detector leaves
that share of X out of its score's references, so a grid over it refits the
score for each value (and where X holds 250 outliers at that rate, it also
trains the network again without them); ``threshold`` is the parameter to
tune when only the cutoff should move. It is an absolute cutoff on the outlier cost
``-score_samples``: about 0.7 for a typical sample, 4.6 where every term of
the score sits at its 1 % tail, whatever the data.

The training data are digit-0 images with a few other digits mixed in;
labels are +1 (a 0) and -1 (an outlier) and the search maximises the F1
score of the outliers. Kept small so the example runs quickly.
"""

# %%
# Data with a few outliers
# ------------------------
import tempfile
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import f1_score, make_scorer
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skcae import ConvAutoencoderOutlierDetector

X, y = load_digits(return_X_y=True)
rng = np.random.RandomState(0)
zeros = X[y == 0]
others = X[y != 0][rng.choice(np.sum(y != 0), size=18, replace=False)]
X_fit = np.concatenate([zeros, others])
labels = np.r_[np.ones(len(zeros), dtype=int), -np.ones(len(others), dtype=int)]
print(f"{len(X_fit)} images, {np.mean(labels == -1):.0%} outliers")

# %%
# The search
# ----------
# ``f1_score`` with ``pos_label=-1`` scores how well the predicted outliers
# match the true ones. The detector is kept small so the example runs
# quickly.
detector = ConvAutoencoderOutlierDetector(
    image_shape=(8, 8),
    channels=(8,),
    max_epochs=8,
    batch_size=32,
    lr=5e-3,
    device="cpu",
    random_state=0,
)
param_grid = {"latent_dim": [2, 4, 8], "threshold": [2.0, 3.0, 4.0, 6.0, 8.0]}
search_kwargs = dict(
    param_grid=param_grid,
    scoring=make_scorer(f1_score, pos_label=-1),
    cv=StratifiedKFold(2, shuffle=True, random_state=0),
)


def timed_search(memory):
    start = time.perf_counter()
    search = GridSearchCV(detector.set_params(memory=memory), **search_kwargs)
    search.fit(X_fit, labels)
    return search, time.perf_counter() - start


plain, plain_seconds = timed_search(memory=None)
with tempfile.TemporaryDirectory() as cache:
    cached, cached_seconds = timed_search(memory=cache)
n_fits = len(plain.cv_results_["params"]) * 2 + 1  # 2 splits, then the refit
n_trained = len(param_grid["latent_dim"]) * 2 + 1
print(f"without memory: {plain_seconds:5.1f} s ({n_fits} fits, each one training)")
print(f"with memory:    {cached_seconds:5.1f} s (training in {n_trained} of them)")
print(f"best parameters: {cached.best_params_}, F1 {cached.best_score_:.3f}")
assert np.array_equal(  # the cache changes the time, not the results
    plain.cv_results_["mean_test_score"], cached.cv_results_["mean_test_score"]
)

# %%
# F1 of the outliers across the grid
# ----------------------------------
# Too high a threshold misses outliers, too low a one flags normal zeros.
f1 = cached.cv_results_["mean_test_score"].reshape(
    len(param_grid["latent_dim"]), len(param_grid["threshold"])
)
fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
for j, latent_dim in enumerate(param_grid["latent_dim"]):
    ax.plot(
        param_grid["threshold"],
        f1[j],
        marker="o",
        label=f"latent_dim={latent_dim}",
    )
ax.set_xlabel("threshold (outlier cost)")
ax.set_ylabel("cross-validated F1 (outliers)")
ax.legend()
plt.show()
