"""Draw docs/_static/idea.png, the figure of the landing page and user guide.

The figure is committed so that the docs build does not train a network; run
this script again (from the repository root, with skcae installed) after a
change that affects what the detector learns or how it scores::

    python docs/_scripts/make_idea_figure.py

It trains the default detector (``score_type="hybrid"``,
``contamination="auto"``) on the 1s of scikit-learn's bundled 8x8 digits
(nothing is downloaded) and shows, for held-out images, the input, the
reconstruction and the outlier cost ``-score_samples``, next to the
distribution of the costs of held-out 1s and of the other digits with the
threshold.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from skcae import ConvAutoencoderOutlierDetector  # noqa: E402
from skcae.datasets import load_digits_images, make_one_class_split  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "_static" / "idea.png"

torch.set_num_threads(1)  # bit-identical figure whatever the machine
images, target = load_digits_images(return_X_y=True)
split = make_one_class_split(images, target, normal_class=1, random_state=0)
det = ConvAutoencoderOutlierDetector(random_state=0).fit(split.X_train)

costs = -det.score_samples(split.X_test)  # hybrid outlier cost, 0 = typical
threshold = -det.offset_
normal = split.y_test == 1

# Four held-out 1s and four other digits, with their reconstructions.
rng = np.random.RandomState(1)
shown = np.r_[
    rng.choice(np.flatnonzero(normal), 4, replace=False),
    rng.choice(np.flatnonzero(~normal), 4, replace=False),
]
recon = det.reconstruct(split.X_test[shown])

plt.rcParams.update({"font.size": 11})
fig = plt.figure(figsize=(11, 2.8), layout="constrained")
left, right = fig.subfigures(1, 2, width_ratios=[1.35, 1])
axes = left.subplots(2, 8)
for j, i in enumerate(shown):
    axes[0, j].imshow(split.X_test[i], cmap="gray_r", vmin=0, vmax=1)
    axes[1, j].imshow(recon[j], cmap="gray_r", vmin=0, vmax=1)
    flagged = costs[i] > threshold
    axes[1, j].set_xlabel(f"{costs[i]:.1f}", color="tab:red" if flagged else "k")
    for ax in axes[:, j]:
        ax.set_xticks([])
        ax.set_yticks([])
axes[0, 0].set_ylabel("input")
axes[1, 0].set_ylabel("output")
left.suptitle(
    "held-out 1s and other digits; cost below (red: flagged)", fontsize="medium"
)

ax = right.subplots()
bins = np.linspace(0, np.quantile(costs, 0.99), 40)
ax.hist(
    costs[~normal],
    bins=bins,
    density=True,
    alpha=0.5,
    color="tab:orange",
    label="other digits",
)
ax.hist(
    costs[normal],
    bins=bins,
    density=True,
    alpha=0.5,
    color="tab:blue",
    label="1s (normal)",
)
ax.axvline(threshold, color="k", linestyle="--", label="threshold (-offset_)")
ax.set_xlabel("outlier cost (-score_samples)")
ax.set_ylabel("density (test images)")
ax.legend(fontsize="small")

OUT.parent.mkdir(exist_ok=True)
fig.savefig(OUT, dpi=120)
print(f"wrote {OUT}")
