"""Patch data for the photo benchmark: deterministic, offline.

The images are scikit-learn's two sample photos (china, flower) and photos
bundled inside the scikit-image wheel; nothing is downloaded.

Recipe for an ordered pair (A = normal photo, B = outlier photo), patch side P:

1. Both photos -> float32 in [0, 1], shape (C, H, W) (RGB: C=3; grey: C=1).
2. A is cut into non-overlapping ``block x block`` blocks (default
   ``block = 2 * P``: 64 for 32x32 patches, 128 for 64x64); the remainder at
   the right/bottom edge is dropped.
3. The blocks are shuffled with ``np.random.default_rng(seed)`` and 20 %
   (at least one) become test blocks, the others train blocks.
4. Every ``P x P`` crop lying entirely inside one block, on a grid of step
   ``stride`` (default 8), is a candidate: crops inside train blocks form the
   training set, crops inside test blocks the normal test set. A train crop
   and a test crop therefore never share a pixel.
5. Outlier test crops: every ``P x P`` crop of B on a grid of step ``stride``
   (anywhere in B), drawn with ``np.random.default_rng(seed + 7919)``.
6. Each set is subsampled without replacement to its cap (defaults: 3000
   train, 500 normal test, 500 outlier test), then sorted back into raster
   order.

The train / normal-test split depends only on (A, P, block, stride, seed,
caps), never on B, so a detector trained on A serves every B.
"""

import functools

import numpy as np

SKLEARN_PHOTOS = ("china", "flower")
"""The two photos of :func:`sklearn.datasets.load_sample_image`."""

RGB_PHOTOS = (*SKLEARN_PHOTOS, "astronaut", "chelsea", "coffee", "rocket", "motorcycle")
"""Natural RGB photos: scikit-learn's two, then scikit-image's."""

TEXTURES = ("brick", "grass", "gravel")
"""Greyscale texture images of scikit-image."""


@functools.cache
def load_image(name):
    """Image ``name`` as float32 in [0, 1] of shape (C, H, W), read-only.

    china and flower come from scikit-learn; astronaut, chelsea, coffee,
    rocket, motorcycle (the left view of ``skimage.data.stereo_motorcycle``)
    and the grey textures brick, grass and gravel (C=1) from scikit-image.
    """
    if name in SKLEARN_PHOTOS:
        from sklearn.datasets import load_sample_image

        img = load_sample_image(f"{name}.jpg")
    else:
        import skimage.data

        if name == "motorcycle":
            img = skimage.data.stereo_motorcycle()[0]
        else:
            img = getattr(skimage.data, name)()
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[:, :, None]
    img = img[:, :, :3]
    out = np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32) / 255.0
    out.setflags(write=False)
    return out


def loadable(names):
    """(names that load, {name: reason} for those that do not)."""
    ok, missing = [], {}
    for name in names:
        try:
            load_image(name)
        except Exception as exc:  # ImportError, missing data file, ...
            missing[name] = f"{type(exc).__name__}: {exc}"
        else:
            ok.append(name)
    return ok, missing


def _grid(h0, h1, w0, w1, patch, stride):
    """Top-left corners of crops of side ``patch`` inside [h0,h1) x [w0,w1)."""
    ys = np.arange(h0, h1 - patch + 1, stride)
    xs = np.arange(w0, w1 - patch + 1, stride)
    return [(y, x) for y in ys for x in xs]


def _crops(img, corners, patch):
    if not corners:
        return np.zeros((0, img.shape[0], patch, patch), np.float32)
    return np.stack([img[:, y : y + patch, x : x + patch] for y, x in corners])


def _subsample(corners, cap, rng):
    if cap is None or len(corners) <= cap:
        return corners
    idx = np.sort(rng.choice(len(corners), size=cap, replace=False))
    return [corners[i] for i in idx]


def split_normal(
    img,
    patch=32,
    block=None,
    stride=8,
    test_fraction=0.2,
    seed=0,
    max_train=3000,
    max_test=500,
):
    """Train and normal-test crops of one image, from disjoint blocks.

    Returns
    -------
    train, test : ndarray of float32, shapes (n, C, patch, patch)
    """
    block = 2 * patch if block is None else block
    _, height, width = img.shape
    blocks = [
        (by, bx)
        for by in range(0, height - block + 1, block)
        for bx in range(0, width - block + 1, block)
    ]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(blocks))
    n_test = max(1, int(round(test_fraction * len(blocks))))
    test_ids = set(order[:n_test].tolist())
    train, test = [], []
    for i, (by, bx) in enumerate(blocks):
        corners = _grid(by, by + block, bx, bx + block, patch, stride)
        (test if i in test_ids else train).extend(corners)
    train = _subsample(train, max_train, rng)
    test = _subsample(test, max_test, rng)
    return _crops(img, train, patch), _crops(img, test, patch)


def outlier_crops(img, patch=32, stride=8, seed=0, max_n=500):
    """Crops of side ``patch`` from anywhere in ``img`` (grid step ``stride``)."""
    _, height, width = img.shape
    corners = _grid(0, height, 0, width, patch, stride)
    rng = np.random.default_rng(seed + 7919)  # independent of the normal split
    return _crops(img, _subsample(corners, max_n, rng), patch)


def ordered_pairs(names):
    """All ordered pairs (A, B), A != B."""
    return [(a, b) for a in names for b in names if a != b]
