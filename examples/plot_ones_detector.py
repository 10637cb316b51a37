"""
=====================================================
Learning what a "1" looks like: a one-class detector
=====================================================

A :class:`~skcae.ConvAutoencoderOutlierDetector` is trained on images of the
digit 1 only. It learns to reconstruct 1s: any other digit comes out of the
network looking like a 1, so its reconstruction error is large, and its
code lands away from the codes of the training 1s. The default
``score_type="hybrid"`` combines both with the images' brightness and
contrast statistics; ``score_type="reconstruction"`` is the classic
reconstruction error alone.

We compare both with :class:`~sklearn.ensemble.IsolationForest`, then look
at inputs and their reconstructions. The example uses scikit-learn's
bundled 8x8 digits, kept small so it runs quickly. To use MNIST (28x28)
instead, point the ``SKCAE_MNIST`` environment variable, or the first
command-line argument, at a folder with the four MNIST IDX files (nothing
is downloaded).
"""

# %%
# Data: the 1s are normal, every other digit is an outlier
# ---------------------------------------------------------
# 20 % of the 1s and a sample of the other digits are held out for testing:
# the detectors never train on them.
import os
import sys
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from sklearn.base import clone
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from skcae import ConvAutoencoderOutlierDetector
from skcae.datasets import load_digits_images, load_mnist

mnist_path = os.environ.get("SKCAE_MNIST") or (
    sys.argv[1] if len(sys.argv) > 1 and os.path.isdir(sys.argv[1]) else None
)
if mnist_path:
    images, target = load_mnist(mnist_path, subset="train", return_X_y=True)
else:
    images, target = load_digits_images(return_X_y=True)

rng = np.random.RandomState(0)
ones = images[target == 1]
others = images[target != 1]
X_train, X_ones = train_test_split(ones, test_size=0.2, random_state=0)
X_others = others[
    rng.choice(len(others), size=min(len(others), 4 * len(X_ones)), replace=False)
]
X_test = np.concatenate([X_ones, X_others])
is_one = np.r_[np.ones(len(X_ones)), np.zeros(len(X_others))]
print(
    f"{len(X_train)} training 1s of size {X_train.shape[1:]}; test: "
    f"{len(X_ones)} held-out 1s, {len(X_others)} other digits"
)

# %%
# Three detectors, one contract
# -----------------------------
# ``score_type`` changes scoring only, so with ``memory`` the two skcae
# detectors share one trained network (the default schedule). The forest
# sees the same images flattened.
results = {}
with tempfile.TemporaryDirectory() as cache:
    base = ConvAutoencoderOutlierDetector(random_state=0, memory=cache)
    detectors = {
        score_type: clone(base).set_params(score_type=score_type).fit(X_train)
        for score_type in ["hybrid", "reconstruction"]
    }
forest = IsolationForest(random_state=0).fit(X_train.reshape(len(X_train), -1))

flat_test = X_test.reshape(len(X_test), -1)
rows = [(f"skcae ({t})", d, X_test) for t, d in detectors.items()]
rows.append(("IsolationForest", forest, flat_test))
for name, det, X in rows:
    scores, flagged = det.score_samples(X), det.predict(X) == -1
    print(
        f"{name:<22} AUROC {roc_auc_score(is_one, scores):.3f}; flags "
        f"{flagged[is_one == 1].mean():4.0%} of held-out 1s, "
        f"{flagged[is_one == 0].mean():4.0%} of other digits"
    )

# %%
# On 1s, thin strokes that every other digit overflows, the reconstruction
# error alone is already an excellent score, and it may rank a little
# better than the hybrid one on a test set this small. The hybrid score is
# the better default across data sets (every MNIST digit, colour photos:
# see the benchmarks page and
# :ref:`sphx_glr_auto_examples_plot_colour_patches.py`). The flag rates use
# each detector's own threshold: skcae's ``contamination="auto"`` (about
# 1 % of new normal images), and IsolationForest's default rule.

# %%
# Inputs and their reconstructions
# --------------------------------
# Top: inputs, bottom: reconstructions (``reconstruct``), with each image's
# hybrid outlier cost ``-score_samples`` (about 0.7 is typical, 0 the
# least). The network turns every input into something 1-like, which is
# why the other digits cost so much; red marks the images the detector
# flags.
det = detectors["hybrid"]
n_show = 6
shown = np.concatenate([X_ones[:n_show], X_others[:n_show]])
recon = det.reconstruct(shown)
costs = -det.score_samples(shown)
threshold = -det.offset_

fig, axes = plt.subplots(2, 2 * n_show, figsize=(12, 2.9), layout="constrained")
for i in range(2 * n_show):
    axes[0, i].imshow(shown[i], cmap="gray_r", vmin=0, vmax=1)
    axes[1, i].imshow(recon[i], cmap="gray_r", vmin=0, vmax=1)
    color = "tab:red" if costs[i] > threshold else "tab:green"
    axes[1, i].set_xlabel(f"{costs[i]:.1f}", color=color)
    for ax in axes[:, i]:
        ax.set_xticks([])
        ax.set_yticks([])
axes[0, 0].set_ylabel("input")
axes[1, 0].set_ylabel("output")
fig.suptitle("Held-out 1s (left) and other digits (right); red: flagged")
plt.show()
