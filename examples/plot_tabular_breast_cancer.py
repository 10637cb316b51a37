"""
===================================================
Tabular outliers: a dense autoencoder vs the forest
===================================================

:class:`~skcae.AutoencoderOutlierDetector` is the fully connected ("standard")
autoencoder with the outlier-detector contract of
:class:`~sklearn.ensemble.IsolationForest`: it takes 2-D tabular X,
standardises each feature (``center_``, ``scale_``) before the network, and
scores each row by its default ``score_type="hybrid"``: the row's
reconstruction error and the distance of its code to the training codes,
each made scale-free on the training data. This is the detector for tables
whose column order means nothing; the convolutional detector would read
such a table as a 1-D signal and relate neighbouring columns.

On scikit-learn's breast cancer data (569 tumours, 30 features) we treat
benign tumours as the normal class: both detectors are trained on benign
tumours only, then asked to rank held-out benign tumours above the malignant
ones. The network is kept small so the example runs quickly.
"""

# %%
# Benign tumours are the inliers
# ------------------------------
# In ``load_breast_cancer``, ``y == 1`` is benign. 250 benign tumours train
# the detectors; the other 107 and all 212 malignant ones are the test set.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import IsolationForest
from sklearn.metrics import RocCurveDisplay, roc_auc_score

from skcae import AutoencoderOutlierDetector

X, y = load_breast_cancer(return_X_y=True)
benign = np.random.RandomState(0).permutation(np.flatnonzero(y == 1))
train = benign[:250]
test = np.concatenate([benign[250:], np.flatnonzero(y == 0)])
X_train, X_test, is_benign = X[train], X[test], y[test] == 1

# %%
# Two detectors, one contract
# ---------------------------
# Both follow scikit-learn's outlier API, so the same code scores them.
# ``contamination=0.05`` sets each one's ``predict`` threshold at the 5%
# least normal training rows.
detectors = {
    "AutoencoderOutlierDetector": AutoencoderOutlierDetector(
        hidden_layer_sizes=(64, 32),
        latent_dim=8,
        max_epochs=50,
        contamination=0.05,
        device="cpu",
        random_state=0,
    ),
    "IsolationForest": IsolationForest(contamination=0.05, random_state=0),
}
scores = {}
for name, det in detectors.items():
    det.fit(X_train)
    scores[name] = det.score_samples(X_test)
    flagged = det.predict(X_test) == -1
    print(
        f"{name:>27}: AUROC {roc_auc_score(is_benign, scores[name]):.3f}, "
        f"flags {flagged[~is_benign].mean():.0%} of malignant and "
        f"{flagged[is_benign].mean():.0%} of held-out benign tumours"
    )

# %%
# Both use ``contamination=0.05`` in scikit-learn's sense: 5 % of the
# *training* rows are flagged. On held-out benign rows the autoencoder
# flags more than that, because a network fits the rows it trained on
# better than new ones; the default ``contamination="auto"`` (or
# :meth:`~skcae.AutoencoderOutlierDetector.set_threshold_from`) takes its
# cutoff from rows the network did not train on instead (see
# :ref:`sphx_glr_auto_examples_plot_choosing_a_threshold.py`).

# %%
# ROC curves
# ----------
# The positive class is "benign" (normal), ranked by ``score_samples``.
fig, ax = plt.subplots(figsize=(5.5, 5), layout="constrained")
for name, s in scores.items():
    RocCurveDisplay.from_predictions(is_benign, s, name=name, ax=ax)
ax.plot([0, 1], [0, 1], color="0.7", linestyle=":")
ax.set_title("Benign (normal) vs malignant")

# %%
# Which features are badly reconstructed?
# ---------------------------------------
# :meth:`~skcae.AutoencoderOutlierDetector.anomaly_map` gives the squared
# reconstruction error of every feature (its row means are the hybrid
# score's reconstruction term, and ``-score_samples`` itself with
# ``score_type="reconstruction"``). Averaged
# over the malignant tumours (divided by each feature's training variance so
# that features are comparable), it shows what makes them outliers.
ae = detectors["AutoencoderOutlierDetector"]
maps = ae.anomaly_map(X_test[~is_benign]) / X_train.var(axis=0)
feature_names = load_breast_cancer().feature_names
order = np.argsort(maps.mean(axis=0))[::-1][:10]
fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
ax.barh(feature_names[order][::-1], maps.mean(axis=0)[order][::-1])
ax.set_xlabel("mean squared error / training variance")
ax.set_title("Worst-reconstructed features of malignant tumours")
plt.show()
