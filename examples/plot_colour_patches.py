"""
=======================================================
Colour photo patches: hybrid score against the others
=======================================================

Outliers are not always badly reconstructed. An autoencoder trained on
patches of one photo reconstructs smooth, simple patches of *another* photo
well too; what gives them away is their colour and their place among the
training codes. The default ``score_type="hybrid"`` of
:class:`~skcae.ConvAutoencoderOutlierDetector` adds those terms (a kNN
distance of the codes and of per-channel brightness and contrast) to the
reconstruction error; ``score_type="reconstruction"`` is the error alone.

We cut 32x32 RGB patches from scikit-learn's two sample photos (bundled,
nothing is downloaded): patches of the Chinese temple are normal, patches
of the flower are outliers, and we compare the AUROC of each score type
with :class:`~sklearn.ensemble.IsolationForest` on the raw pixels. Kept
small so the example runs quickly: 600 training patches and 10 epochs.
"""

# %%
# Patches, channels last
# ----------------------
# ``load_sample_image`` gives ``(H, W, 3)`` uint8 arrays, so the patches are
# ``(n, 32, 32, 3)``. The detector refuses such arrays unless told that the
# channels come last, rather than misread them: ``data_format="channels_last"``.
# Training patches come from the top three quarters of the temple photo,
# held-out normal patches from the bottom quarter.
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_sample_image
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from skcae import ConvAutoencoderOutlierDetector

SIDE = 32
rng = np.random.RandomState(0)


def patches(photo, n, rows):
    """``n`` random SIDE x SIDE patches of ``photo`` within ``rows``, in [0, 1]."""
    top = rng.randint(rows[0], rows[1] - SIDE, n)
    left = rng.randint(0, photo.shape[1] - SIDE, n)
    crops = [photo[y : y + SIDE, x : x + SIDE] for y, x in zip(top, left)]
    return np.stack(crops).astype(np.float32) / 255.0


china = load_sample_image("china.jpg")  # (427, 640, 3)
flower = load_sample_image("flower.jpg")
split = int(0.75 * china.shape[0])
X_train = patches(china, 600, (0, split))
X_normal = patches(china, 200, (split, china.shape[0]))
X_outliers = patches(flower, 200, (0, flower.shape[0]))
X_test = np.concatenate([X_normal, X_outliers])
is_normal = np.r_[np.ones(len(X_normal)), np.zeros(len(X_outliers))]
print(f"training patches {X_train.shape}, test: 200 normal + 200 outliers")

# %%
# One network, three scores
# -------------------------
# ``score_type`` changes scoring only: with ``memory`` set, the three
# detectors share one trained network. ``validation_fraction=0.2`` holds out
# 120 patches for the threshold (the default ``calibration="auto"`` would
# hold out 100 of these 600 patches itself).
base = ConvAutoencoderOutlierDetector(
    data_format="channels_last", max_epochs=10, validation_fraction=0.2, random_state=0
)
results, detectors = {}, {}
with tempfile.TemporaryDirectory() as cache:
    for score_type in ["hybrid", "reconstruction", "latent"]:
        det = clone(base).set_params(score_type=score_type, memory=cache)
        detectors[score_type] = det.fit(X_train)
        flagged = det.predict(X_test) == -1
        results[f"skcae, {score_type}"] = (
            roc_auc_score(is_normal, det.score_samples(X_test)),
            flagged[is_normal == 1].mean(),
            flagged[is_normal == 0].mean(),
        )

forest = IsolationForest(random_state=0).fit(X_train.reshape(len(X_train), -1))
flat_test = X_test.reshape(len(X_test), -1)
flagged = forest.predict(flat_test) == -1
results["IsolationForest"] = (
    roc_auc_score(is_normal, forest.score_samples(flat_test)),
    flagged[is_normal == 1].mean(),
    flagged[is_normal == 0].mean(),
)
print(f"{'detector':<24}{'AUROC':>7}{'normal flagged':>16}{'outliers flagged':>18}")
for name, (auc, fp, tp) in results.items():
    print(f"{name:<24}{auc:>7.3f}{fp:>16.0%}{tp:>18.0%}")

# %%
# The reconstruction error alone ranks the flower patches barely better
# than chance: many of them are smooth petals and leaves, easy to
# reconstruct. The latent distance alone is worse than chance: those smooth
# patches land among the many smooth temple patches (sky, walls) in code
# space. The hybrid score also compares each patch's brightness, colour and
# contrast with the training patches', and is the only one ahead of the
# forest. The flag rates use each detector's own threshold:
# ``contamination="auto"`` for skcae (it aims at 1 % of new normal data;
# on these 200 held-out normal patches the hybrid score flagged none and the
# reconstruction score 4 %), and
# IsolationForest's default rule, which on these patches flags most of the
# normal ones too.
fig, ax = plt.subplots(figsize=(6.5, 3), layout="constrained")
names = list(results)
aucs = [results[n][0] for n in names]
ax.barh(names[::-1], aucs[::-1], color=["0.6", "tab:blue", "tab:blue", "tab:blue"])
for y, auc in enumerate(aucs[::-1]):
    ax.text(auc + 0.01, y, f"{auc:.3f}", va="center")
ax.axvline(0.5, color="k", linestyle=":", linewidth=1)
ax.set_xlim(0, 1.1)
ax.set_xlabel("AUROC (temple patches normal, flower patches outliers)")

# %%
# What the patches look like
# --------------------------
# Top: held-out temple patches; bottom: flower patches, each with its
# hybrid cost ``-score_samples`` (about 0.7 is typical, 0 the least; red:
# flagged).
det = detectors["hybrid"]
shown = np.r_[X_normal[:6], X_outliers[:6]]
costs = -det.score_samples(shown)
fig, axes = plt.subplots(2, 6, figsize=(9, 3.6), layout="constrained")
for ax, image, cost in zip(axes.ravel(), shown, costs):
    ax.imshow(image)
    ax.set_title(f"{cost:.1f}", color="tab:red" if cost > -det.offset_ else "k")
    ax.set_axis_off()
fig.suptitle("temple patches (top), flower patches (bottom): hybrid cost")
plt.show()
