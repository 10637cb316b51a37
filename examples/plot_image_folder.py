"""
=================================
From a folder of PNG files
=================================

Images are usually kept as files in folders, not as NumPy arrays: a folder
of good parts, another of defective ones. :mod:`skcae.images` reads them:
:class:`~skcae.images.ImageFiles` is a lazy array over the files, which
the detector streams block by block (a million files never sit in memory),
and :func:`~skcae.images.load_image_folder` labels the images of a
normal/abnormal layout for evaluation.

Here we write scikit-learn's bundled 8x8 digits to a temporary folder as
PNG files, zeros as the normal images and the other digits as the abnormal
ones, train on the files of one folder and evaluate on another, then do
the same from the command line. Kept small so the example runs quickly.
"""

# %%
# A folder layout of PNG files
# ----------------------------
# ``train/good`` holds 120 zeros to learn from; ``test/good`` the 58 other
# zeros, and ``test/bad`` 60 other digits in subfolders, as a dataset of
# defects of several kinds would be laid out.
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from skcae import ConvAutoencoderOutlierDetector
from skcae.images import ImageFiles, load_image_folder

X, y = load_digits(return_X_y=True)
pixels = (X.reshape(-1, 8, 8) * 15).astype(np.uint8)  # 0-240, as 8-bit files

root = Path(tempfile.mkdtemp())
folders = {
    "train/good": pixels[y == 0][:120],
    "test/good": pixels[y == 0][120:],
    "test/bad/digit_3": pixels[y == 3][:30],
    "test/bad/digit_8": pixels[y == 8][:30],
}
for name, images in folders.items():
    (root / name).mkdir(parents=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(root / name / f"{i:03d}.png")
print(sorted(p.relative_to(root).as_posix() for p in root.glob("*/*")))

# %%
# Training on the files
# ---------------------
# ``ImageFiles`` lists the folder and reads the first file's header: the
# images are gray 8x8, so the array has shape ``(n, 8, 8)``. Nothing else
# is decoded until the detector reads its rows. ``size=(H, W)`` would
# resize every image and ``mode="L"`` or ``"RGB"`` convert it; without
# them, a file of another size or colour mode is an error naming the file.
train = ImageFiles(root / "train" / "good")
print(train, train.dtype)

det = ConvAutoencoderOutlierDetector(max_epochs=20, random_state=0)
det.fit(train)

# %%
# Evaluating on a normal/abnormal layout
# --------------------------------------
# ``load_image_folder`` labels the normal images +1 and the abnormal ones
# -1, the convention of :meth:`~skcae.ConvAutoencoderOutlierDetector.predict`;
# ``paths`` says which file each row is. IsolationForest, on the same
# files flattened, is the baseline.
test = load_image_folder(root / "test" / "good", root / "test" / "bad")
scores = det.score_samples(test.images)
labels = det.predict(test.images)

forest = IsolationForest(random_state=0).fit(np.asarray(train).reshape(len(train), -1))
forest_scores = forest.score_samples(
    np.asarray(test.images).reshape(len(test.images), -1)
)
print(
    f"AUROC skcae {roc_auc_score(test.target, scores):.3f}, "
    f"IsolationForest {roc_auc_score(test.target, forest_scores):.3f}"
)
print(
    f"flagged: {np.mean(labels[test.target == 1] == -1):.0%} of the good images, "
    f"{np.mean(labels[test.target == -1] == -1):.0%} of the bad ones"
)

# %%
# The most abnormal files
# -----------------------
# The six lowest scores, with the file each image came from and its
# anomaly map (where the reconstruction missed).
worst = np.argsort(scores)[:6]
maps = det.anomaly_map(test.images[worst])
fig, axes = plt.subplots(2, 6, figsize=(9, 3.4))
for column, (row, error_map) in enumerate(zip(worst, maps)):
    path = Path(test.paths[row]).relative_to(root / "test")
    axes[0, column].imshow(test.images[row], cmap="gray")
    axes[0, column].set_title(f"{path.parent.name}/\n{path.name}", fontsize=8)
    axes[1, column].imshow(error_map, cmap="magma")
    axes[1, column].set_title(f"score {scores[row]:.1f}", fontsize=8)
for ax in axes.ravel():
    ax.set_axis_off()
fig.suptitle("The six most abnormal test files: image (top), anomaly map")
plt.show()

# %%
# The same from the command line
# ------------------------------
# ``python -m skcae fit`` trains on the folder and saves the model (with a
# small ``model.skcae.json`` beside it that records the image size and
# mode); ``python -m skcae score`` writes one CSV row per file. Options
# mirror the estimator's parameters (``--epochs``, ``--size``, ``--mode``,
# ``--seed``...); ``python -m skcae fit --help`` lists them.
commands = [
    ["fit", "train/good", "-o", "model.skcae", "--seed", "0", "-q"],
    ["score", "model.skcae", "test", "--out", "scores.csv"],
]
for command in commands:
    done = subprocess.run(
        [sys.executable, "-m", "skcae", *command],
        capture_output=True,
        text=True,
        cwd=root,
    )
    print("$ python -m skcae", " ".join(command), f"(exit status {done.returncode})")
    print(done.stderr.strip())
rows = (root / "scores.csv").read_text().splitlines()
print("\n".join(rows[:3]), f"... ({len(rows) - 1} rows)", sep="\n")

# %%
# The folder was written for this example only: it goes.
shutil.rmtree(root)
