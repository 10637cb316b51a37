"""
=====================================================
Reconstruction cost of inliers and outliers per epoch
=====================================================

How does a detector learn to tell outliers apart? A
:class:`~skcae.callbacks.ReconstructionMonitor` measures, after every
epoch, the mean reconstruction cost (mean squared error, i.e.
``-score_samples``) of a labelled set of inliers and one of outliers that
take no part in training. :class:`skcae.plotting.TrainingCurveDisplay`
draws both curves with the final threshold.

We train on the digit 7 of scikit-learn's bundled 8x8 digits; the data are
kept small so the example runs quickly.
"""

# %%
# Monitor sets and training
# -------------------------
# The callback goes in the detector's ``callbacks``. The detector copies it
# when it fits, so the recorded costs are read from the fitted network's
# history, ``det.net_.history``, not from the callback object.
import matplotlib.pyplot as plt
from sklearn.model_selection import train_test_split

from skcae import ConvAutoencoderOutlierDetector
from skcae.callbacks import ReconstructionMonitor
from skcae.datasets import load_digits_images
from skcae.plotting import TrainingCurveDisplay

images, target = load_digits_images(return_X_y=True)
X_train, X_inliers = train_test_split(images[target == 7], test_size=30, random_state=0)
X_outliers = images[target != 7][:60]

det = ConvAutoencoderOutlierDetector(
    channels=(8, 16),
    max_epochs=30,  # kept small so the example runs quickly
    contamination=0.05,
    device="cpu",
    random_state=0,
    callbacks=[ReconstructionMonitor(X_inliers, X_outliers)],
)
det.fit(X_train)
costs = det.net_.history[-1, ("inlier_cost", "outlier_cost")]
print("last epoch: inliers cost {:.4f}, outliers {:.4f}".format(*costs))

# %%
# The curves
# ----------
# Both costs fall at first, while the network learns what every digit has in
# common (dark background, strokes near the middle); then the cost of the
# 7s keeps falling and the gap to the outliers grows. The dashed line is the
# final threshold on the cost, ``-offset_``: images that cost more are
# flagged. The training loss (gray) follows the inlier curve, since the
# held-out 7s are like the training ones.
disp = TrainingCurveDisplay.from_estimator(det, log_scale=True)
disp.ax_.set_title("Training on 7s")
disp.figure_.tight_layout()
plt.show()
