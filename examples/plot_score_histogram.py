"""
=================================================
Scores of inliers and outliers, and the threshold
=================================================

An outlier detector gives every sample a score, ``score_samples``, higher for
more normal samples, and flags the samples whose score falls below the
threshold ``offset_`` (``decision_function = score_samples - offset_`` is
negative for them). Plotting the scores of known inliers and outliers shows
how well the two groups separate and what the threshold trades off.

We train a :class:`~skcae.ConvAutoencoderOutlierDetector` on the digit 1 of
scikit-learn's bundled 8x8 digits and draw
:class:`skcae.plotting.ScoreHistogramDisplay` for held-out 1s and all other
digits. The data are kept small so the example runs quickly.
"""

# %%
# Data and training
# -----------------
# Training uses only 1s; the test set holds every digit, labelled +1 (a 1)
# or -1 (any other digit), scikit-learn's convention for outliers. Kept
# small so the example runs quickly: a small network and 30 epochs.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_auc_score

from skcae import ConvAutoencoderOutlierDetector
from skcae.datasets import load_digits_images, make_one_class_split
from skcae.plotting import ScoreHistogramDisplay

images, target = load_digits_images(return_X_y=True)
split = make_one_class_split(
    images, target, normal_class=1, test_size=0.3, random_state=0
)
det = ConvAutoencoderOutlierDetector(
    channels=(8, 16), max_epochs=30, contamination=0.05, device="cpu", random_state=0
)
det.fit(split.X_train)
scores = det.score_samples(split.X_test)
print(
    f"{len(split.X_train)} training 1s; AUROC on the test set: "
    f"{roc_auc_score(split.y_test, scores):.3f}"
)

# %%
# The histogram
# -------------
# The dashed line is ``offset_``: with ``contamination=0.05`` it sits at the
# 5th percentile of the training scores, so about 5% of normal images fall
# to its left and are flagged (false positives). Outliers to its right are
# missed. There are many more outliers than inliers here, so each histogram
# is scaled to unit area (``density=True``).
disp = ScoreHistogramDisplay.from_estimator(
    det, split.X_test, split.y_test, inlier_label=1, bins=40, density=True
)
disp.ax_.set_title("Held-out 1s against the other digits")
disp.figure_.tight_layout()

# %%
# Another threshold, without refitting
# ------------------------------------
# The threshold is only a cut on the scores. A display can be built from
# scores directly, here with the cut that flags 20% of the training images:
# fewer outliers are missed, more normal images are flagged. Refitting with
# ``contamination=0.2`` (or with ``threshold=``, a cut on the reconstruction
# error, i.e. ``-offset_``) would give the same cut.
offset = np.percentile(det.score_samples(split.X_train), 20)
fig, ax = plt.subplots(figsize=(6, 4))
ScoreHistogramDisplay(scores, is_inlier=split.y_test == 1, offset=offset).plot(
    ax=ax, bins=40, density=True
)
ax.set_title("The same scores, a threshold flagging 20% of training 1s")
fig.tight_layout()
for name, cut in [("offset_", det.offset_), ("20th percentile", offset)]:
    flagged = scores < cut
    print(
        f"threshold {name}: flags {flagged[split.y_test == 1].mean():.0%} of "
        f"the 1s and {flagged[split.y_test == -1].mean():.0%} of the others"
    )
plt.show()
