"""
=====================================================
Learning what a "1" looks like: a one-class detector
=====================================================

A :class:`~skcae.ConvAutoencoderOutlierDetector` is trained on images of the
digit 1 only. It learns to reconstruct 1s well; any other digit is
reconstructed badly, so its reconstruction cost (the mean squared error
per image, i.e. ``-score_samples``) is high and it is flagged as an outlier.

We watch that happen during training with a small skorch callback that, at
the end of each epoch, measures the mean reconstruction cost of held-out 1s
(positives) and of other digits (negatives), and we compare inputs with their
reconstructions at the end.

The example uses scikit-learn's bundled 8x8 digits, kept small so the example
runs quickly. To use MNIST (28x28) instead, point the ``SKCAE_MNIST``
environment variable, or the first command-line argument, at a folder with
the four MNIST IDX files (nothing is downloaded).
"""

# %%
# Data: the 1s are normal, every other digit is an outlier
# ---------------------------------------------------------
# We hold out 20% of the 1s and a sample of the other digits as monitor sets:
# the detector never trains on them.
import os
import sys

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from skorch.callbacks import Callback

from skcae import ConvAutoencoderOutlierDetector
from skcae.datasets import load_digits_images, load_mnist

mnist_path = os.environ.get("SKCAE_MNIST") or (
    sys.argv[1] if len(sys.argv) > 1 and os.path.isdir(sys.argv[1]) else None
)
if mnist_path:
    images, target = load_mnist(mnist_path, subset="train", return_X_y=True)
    n_epochs = 10
else:
    images, target = load_digits_images(return_X_y=True)
    n_epochs = 40  # 8x8 images: many cheap epochs

rng = np.random.RandomState(0)
ones = images[target == 1]
others = images[target != 1]
X_train, X_pos = train_test_split(ones, test_size=0.2, random_state=0)
X_neg = others[
    rng.choice(len(others), size=min(len(others), 4 * len(X_pos)), replace=False)
]
print(
    f"{len(X_train)} training 1s of size {X_train.shape[1:]}; monitor sets: "
    f"{len(X_pos)} held-out 1s, {len(X_neg)} other digits"
)


# %%
# A callback that monitors the reconstruction cost
# ------------------------------------------------
# skorch calls ``on_epoch_end`` after every epoch. We switch the module to
# evaluation mode, compute the mean per-image squared error of both monitor
# sets without tracking gradients, store the two numbers in the network's
# history, and put the module back in training mode.
class ReconstructionMonitor(Callback):
    """Record the mean reconstruction cost of two image sets every epoch."""

    def __init__(self, positives, negatives):
        self.positives = positives
        self.negatives = negatives

    def on_epoch_end(self, net, **kwargs):
        module = net.module_
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                for name, X in (
                    ("pos_cost", self.positives),
                    ("neg_cost", self.negatives),
                ):
                    x = torch.as_tensor(X, dtype=torch.float32, device=net.device)[
                        :, None
                    ]
                    cost = (module(x) - x).square().flatten(1).mean(1)
                    net.history.record(name, cost.mean().item())
        finally:
            module.train(was_training)


# %%
# Training
# --------
# The detector copies its callbacks when it fits, so the recorded costs are
# read back from ``det.net_.history``.
det = ConvAutoencoderOutlierDetector(
    max_epochs=n_epochs,
    contamination=0.05,
    random_state=0,
    callbacks=[ReconstructionMonitor(X_pos, X_neg)],
)
det.fit(X_train)

history = det.net_.history
pos_cost = history[:, "pos_cost"]
neg_cost = history[:, "neg_cost"]
threshold = -det.offset_  # a cost above it is an outlier

scores = det.score_samples(np.concatenate([X_pos, X_neg]))
is_one = np.r_[np.ones(len(X_pos)), np.zeros(len(X_neg))]
print(f"AUROC on the monitor sets: {roc_auc_score(is_one, scores):.3f}")
print(
    f"flagged as outliers: {np.mean(det.predict(X_pos) == -1):.0%} of the "
    f"held-out 1s, {np.mean(det.predict(X_neg) == -1):.0%} of the other digits"
)

# %%
# Reconstruction cost over the epochs
# -----------------------------------
# Both costs fall at first, as the network learns generic strokes, but the
# cost of the 1s falls much further: the gap between the curves is what
# separates normal images from outliers. The dashed line is the threshold
# fitted at the end (``-offset_``, here the 95th percentile of the training
# costs since ``contamination=0.05``).
epochs = np.arange(1, len(pos_cost) + 1)
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(epochs, history[:, "train_loss"], color="0.6", label="training loss (1s)")
ax.plot(epochs, pos_cost, marker="o", label="held-out 1s (positives)")
ax.plot(epochs, neg_cost, marker="o", label="other digits (negatives)")
ax.axhline(threshold, color="k", linestyle="--", label="final threshold")
ax.set_yscale("log")
ax.set_xlabel("epoch")
ax.set_ylabel("mean reconstruction cost (MSE)")
ax.set_title("Reconstruction cost while training on 1s")
ax.legend()
fig.tight_layout()

# %%
# Inputs and their reconstructions
# --------------------------------
# Top: inputs, bottom: reconstructions, with each image's cost. The network
# turns every input into something 1-like, which is exactly why the other
# digits cost so much.
n_show = 6
shown = np.concatenate([X_pos[:n_show], X_neg[:n_show]])
module = det.net_.module_
module.eval()
with torch.no_grad():
    x = torch.as_tensor(shown, dtype=torch.float32, device=det.device_)[:, None]
    recon = module(x)[:, 0].cpu().numpy()
costs = -det.score_samples(shown)

fig, axes = plt.subplots(2, 2 * n_show, figsize=(12, 2.6))
for i in range(2 * n_show):
    axes[0, i].imshow(shown[i], cmap="gray_r")
    axes[1, i].imshow(recon[i], cmap="gray_r")
    color = "tab:red" if costs[i] > threshold else "tab:green"
    axes[1, i].set_xlabel(f"{costs[i]:.3f}", color=color)
    for ax in axes[:, i]:
        ax.set_xticks([])
        ax.set_yticks([])
axes[0, 0].set_ylabel("input")
axes[1, 0].set_ylabel("output")
fig.suptitle("Held-out 1s (left) and other digits (right); red: flagged")
fig.tight_layout()
plt.show()
