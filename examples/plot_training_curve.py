"""
=====================================================
Reconstruction cost of inliers and outliers per epoch
=====================================================

How does a detector learn to tell outliers apart? A
:class:`~skcae.callbacks.ReconstructionMonitor` measures, after every
epoch, the mean reconstruction cost (the mean squared error per image, in
the squared units of the data) of a labelled set of inliers and one of
outliers that take no part in training.
:class:`skcae.plotting.TrainingCurveDisplay` draws them next to the
training loss.

We train on the digit 7 of scikit-learn's bundled 8x8 digits. The detector
uses ``score_type="reconstruction"``, so that its score is that same cost
(``-score_samples``) and its threshold is a cut on the monitored curves.
The data are kept small so the example runs quickly.
"""

# %%
# Monitor sets and training
# -------------------------
# The callback goes in the detector's ``callbacks``. The detector copies it
# when it fits, so the recorded costs are read from the fitted network's
# history, ``det.net_.history``, not from the callback object.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from skcae import ConvAutoencoderOutlierDetector
from skcae.callbacks import ReconstructionMonitor
from skcae.datasets import load_digits_images
from skcae.plotting import TrainingCurveDisplay

images, target = load_digits_images(return_X_y=True)
X_train, X_inliers = train_test_split(images[target == 7], test_size=30, random_state=0)
X_outliers = images[target != 7][:60]

det = ConvAutoencoderOutlierDetector(
    score_type="reconstruction",
    max_epochs=30,  # the default trains 16 on 149 images; 30 show the curves settle
    device="cpu",
    random_state=0,
    callbacks=[ReconstructionMonitor(X_inliers, X_outliers)],
)
det.fit(X_train)
inlier_cost, outlier_cost = det.net_.history[-1, ("inlier_cost", "outlier_cost")]
print(f"last epoch: inliers cost {inlier_cost:.4f}, outliers {outlier_cost:.4f}")
print(f"threshold on the cost (-offset_): {-det.offset_:.4f}")
print(
    f"flagged: {np.mean(det.predict(X_inliers) == -1):.0%} of the held-out 7s, "
    f"{np.mean(det.predict(X_outliers) == -1):.0%} of the other digits"
)

# %%
# The curves
# ----------
# Two axes, two units. On the left, the training loss: the mean squared
# error the network minimises, in **standardised units** (the pixels are
# standardised with the training data's mean and standard deviation,
# ``center_`` and ``scale_``, before the network sees them). On the right,
# the monitor's costs in the squared units of the pixels, the units of
# ``-score_samples``.
#
# Both costs fall at first, while the network learns what every digit has in
# common (dark background, strokes near the middle); then the cost of the
# 7s keeps falling and the gap to the outliers grows. The dotted line is the
# detector's threshold on the cost, ``-offset_``: images that cost more are
# flagged. (It is drawn for ``score_type="reconstruction"`` only: the
# default hybrid score is not a reconstruction cost.)
disp = TrainingCurveDisplay.from_estimator(det, log_scale=True)
disp.ax_.set_title("Training on 7s")
plt.show()
