"""
====================================================
Where is the anomaly? Reconstructions and error maps
====================================================

An autoencoder trained on normal images reconstructs them well and anything
else badly. Besides a score per image, the difference between an image and
its reconstruction tells *where* the image departs from what the network
learned: the anomaly map, the squared reconstruction error of every pixel.
Its mean is the reconstruction term of the detector's default
``score_type="hybrid"`` score (and the whole score with
``score_type="reconstruction"``).

We train a :class:`~skcae.ConvAutoencoderOutlierDetector` on images of the
digit 0 from scikit-learn's bundled 8x8 digits, then look at inputs,
reconstructions and anomaly maps side by side with
:class:`skcae.plotting.ReconstructionDisplay`. The data are kept small so
the example runs quickly.
"""

# %%
# Data: zeros are normal
# ----------------------
# We hold out some zeros for testing, and make a few of them defective by
# painting a bright 2x2 blob into the hole in their middle.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skcae import ConvAutoencoderOutlierDetector
from skcae.plotting import ReconstructionDisplay

X, y = load_digits(return_X_y=True)
images = X.reshape(-1, 8, 8) / 16.0  # pixel values in [0, 1]
X_train, X_zeros = train_test_split(images[y == 0], test_size=20, random_state=0)

defective = X_zeros[:4].copy()
defective[:, 3:5, 3:5] = 1.0
X_other = images[y != 0][:4]

# %%
# Training
# --------
# 158 images and 30 epochs on the CPU (the default would train 16 epochs on
# so few images; 30 give the reconstructions time to settle; with fewer
# than 300 images the fit trains three small networks, one to score and two
# to calibrate, a few seconds: 5 % of 158 images names too few outliers to
# train again without them). ``contamination=0.05`` puts the threshold
# where it flags 5 % of the training zeros: it flags more than the default
# ``"auto"`` (about 1 % of new normal images), to catch small defects.
det = ConvAutoencoderOutlierDetector(
    max_epochs=30, contamination=0.05, device="cpu", random_state=0
)
det.fit(X_train)

# %%
# Inputs, reconstructions and anomaly maps
# ----------------------------------------
# Four columns of each kind: normal held-out zeros, defective zeros and other
# digits. Each column is titled with its score (``score_samples``, higher is
# more normal), in red when the detector flags the image as an outlier. The
# reconstructions all look like zeros, so the anomaly map lights up where
# the input is not a zero: on the blob of a defective zero, and along the
# strokes of the other digits.
shown = np.concatenate([X_zeros[4:8], defective, X_other])
disp = ReconstructionDisplay.from_estimator(det, shown, n_images=len(shown))
disp.figure_.suptitle("normal zeros | defective zeros | other digits")

# %%
# Locating the defect
# -------------------
# ``anomaly_map`` gives the maps as an array, so the worst pixel of each
# defective zero can be read off directly: it falls on the painted blob.
maps = det.anomaly_map(defective)
worst = [np.unravel_index(m.argmax(), m.shape) for m in maps]
print(
    "worst pixel (row, column) of each defective zero:",
    [(int(r), int(c)) for r, c in worst],
)
print(
    "flagged as outliers:",
    (det.predict(shown) == -1).reshape(3, 4).sum(axis=1),
    "of 4 normal zeros, defective zeros and other digits",
)
plt.show()
