"""Tasks of the image-kinds benchmark (``image_kinds.py``): data, families.

A *family* (:class:`Family`) is a named task builder with its default number
of seeds; ``builder(seed, ctx, ...)`` yields :class:`Task` objects (normal
training images, held-out normal images and named outlier sets), and raises
:class:`Skip` when its data do not load. :class:`Context` holds what the
builders share (``--quick``, MNIST loaded once, notes on left-out images).
Here: the 8x8 digits, LFW faces, texture / photo patches (cut with
``benchmarks/_patches.py``), synthetic defects on held-out patches, MNIST,
and ``FAMILIES`` / ``GROUPS``, the families and group names of
``--families``. Images are floats in [0, 1]: grey (n, H, W), RGB
(n, 3, H, W).
"""

import functools
from dataclasses import dataclass

import numpy as np
from _common import find_mnist, load_mnist_split
from _patches import TEXTURES, load_image, loadable, outlier_crops, split_normal

PATCH, BLOCK, STRIDE = 32, 64, 4
N_TEST = 300  # held-out normal patches, and patches per outlier set
QUICK_TRAIN = 200  # --quick: at most this many training images per task
QUICK_ALL = 400  # --quick: the training images of an "all images" task
QUICK_TEST = 60  # --quick: held-out normal / outlier patches per set
QUICK_MNIST_TEST = 2000  # --quick: the first test images of MNIST only

RGB = (
    "coffee", "immunohistochemistry", "china", "chelsea",
    "flower", "astronaut", "rocket", "hubble_deep_field",
)  # fmt: skip
RGB_NORMAL = RGB[:4]
GRAY = ("camera", "moon", "coins", "page", "text", "clock", "cell")
GRAY_NORMAL = GRAY[:2]
DEFECT_NORMAL = ("coffee", "china", "brick", "camera")
MNIST_DIGITS = (2, 8, 4)


class Skip(Exception):
    """A family that cannot run here (its data do not load)."""


@dataclass
class Task:
    """Normal training images, held-out normal images, named outlier sets."""

    normal: str
    X_train: np.ndarray
    X_normal: np.ndarray
    outliers: dict


class Context:
    """What the task builders share: --quick, MNIST (loaded once), notes."""

    def __init__(self, quick, mnist_path):
        self.quick = quick
        self.mnist_path = mnist_path
        self.notes = []  # of the running family
        self._mnist = None

    def n_train(self, n):
        """The training size of a task: ``n`` (None: all), capped by --quick."""
        if self.quick:
            return QUICK_ALL if n is None else min(n, QUICK_TRAIN)
        return n

    @property
    def n_test(self):
        return QUICK_TEST if self.quick else N_TEST

    def mnist(self):
        """(X_train, y_train, X_test, y_test); raises Skip without MNIST."""
        if self._mnist is None:
            folder = find_mnist(self.mnist_path, required=False)
            if folder is None:
                raise Skip(
                    "no MNIST folder found (pass --mnist-path or set SKCAE_MNIST)"
                )
            X_train, y_train = load_mnist_split(folder, "train")
            X_test, y_test = load_mnist_split(folder, "test")
            if self.quick:
                X_test, y_test = X_test[:QUICK_MNIST_TEST], y_test[:QUICK_MNIST_TEST]
            self._mnist = X_train, y_train, X_test, y_test
        return self._mnist


def _subset(pool, n, seed):
    """``n`` of the indices ``pool`` (sorted; all of them when n is None)."""
    if n is None or n >= len(pool):
        return pool
    return np.sort(np.random.default_rng(seed).choice(pool, n, replace=False))


# -- task builders: builder(seed, ctx, ...) yields Tasks -----------------------
def digits_tasks(seed, ctx, n_train):
    from skcae.datasets import load_digits_images

    X, y = load_digits_images(return_X_y=True)
    for digit in (0, 3, 8):
        rng = np.random.default_rng(seed)
        idx = rng.permutation(np.flatnonzero(y == digit))
        others = rng.choice(np.flatnonzero(y != digit), 300, replace=False)
        n = ctx.n_train(n_train)
        yield Task(
            f"digit {digit}", X[idx[:n]], X[idx[n:]], {"other digits": X[others]}
        )


def lfw_tasks(seed, ctx, n_train):
    try:
        import skimage.data

        faces = np.asarray(skimage.data.lfw_subset(), dtype=np.float32)
    except Exception as exc:  # ImportError, missing data file, ...
        raise Skip(f"skimage.data.lfw_subset does not load ({exc!r})") from exc
    rng = np.random.default_rng(seed)
    n = ctx.n_train(n_train)
    order = rng.permutation(100)
    yield Task("faces", faces[order[:n]], faces[order[n:]], {"non-faces": faces[100:]})
    order = 100 + rng.permutation(100)
    yield Task("non-faces", faces[order[:n]], faces[order[n:]], {"faces": faces[:100]})


def _images(ctx, names, normals):
    """The images of ``names`` that load; notes on the others."""
    ok, missing = loadable(names)
    if missing:
        ctx.notes.append(
            "Left out, as they do not load here: "
            + "; ".join(f"{name} ({why})" for name, why in missing.items())
            + "."
        )
    normals = [a for a in normals if a in ok]
    if not normals or len(ok) < 2:
        raise Skip(f"needs a normal image and another image; only {ok} load")
    return ok, normals


def _grey(X):
    """(n, 1, H, W) -> (n, H, W); RGB stays (n, 3, H, W)."""
    return X[:, 0] if X.shape[1] == 1 else X


def patch_tasks(seed, ctx, names, normals, n_train):
    names, normals = _images(ctx, names, normals)
    outliers = {
        b: _grey(
            outlier_crops(load_image(b), PATCH, STRIDE, seed=seed, max_n=ctx.n_test)
        )
        for b in names
    }
    for a in normals:
        X_train, X_normal = split_normal(
            load_image(a),
            PATCH,
            block=BLOCK,
            stride=STRIDE,
            seed=seed,
            max_train=ctx.n_train(n_train),
            max_test=ctx.n_test,
        )
        others = {b: outliers[b] for b in names if b != a}
        yield Task(a, _grey(X_train), _grey(X_normal), others)


def _line(r0, c0, r1, c1):
    """Rows and columns of a 1-pixel line from (r0, c0) to (r1, c1)."""
    n = int(max(abs(r1 - r0), abs(c1 - c0))) + 1
    t = np.linspace(0.0, 1.0, n)
    rows = np.rint(r0 + t * (r1 - r0)).astype(int)
    cols = np.rint(c0 + t * (c1 - c0)).astype(int)
    return rows, cols


def defects(X, seed):
    """Each synthetic defect applied to a copy of X, (n, C, P, P) in [0, 1]."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed + 123)
    n, channels, p, _ = X.shape
    out = {}
    for name, value in (("4x4 bright square", 1.0), ("4x4 dark square", 0.0)):
        D = X.copy()
        for k in range(n):
            i, j = rng.integers(4, p - 8, size=2)
            D[k, :, i : i + 4, j : j + 4] = value
        out[name] = D
    D = X.copy()
    for k in range(n):
        angle = rng.uniform(0, np.pi)
        ci, cj = rng.integers(10, p - 10, size=2)
        di, dj = 10 * np.sin(angle), 10 * np.cos(angle)
        rows, cols = _line(int(ci - di), int(cj - dj), int(ci + di), int(cj + dj))
        inside = (rows >= 0) & (rows < p) & (cols >= 0) & (cols < p)
        D[k][:, rows[inside], cols[inside]] = 1.0
    out["scratch (1 px, ~20 px long)"] = D
    out["Gaussian blur sigma 1.5"] = gaussian_filter(X, sigma=(0, 0, 1.5, 1.5))
    D = X.copy()
    D[:, 0] = np.clip(D[:, 0] + 0.1, 0, 1)
    out["red +0.1" if channels == 3 else "brightness +0.1"] = D
    noise = rng.normal(0, 0.05, X.shape)
    out["noise sigma 0.05"] = np.clip(X + noise, 0, 1).astype(X.dtype)
    return out


def defect_tasks(seed, ctx, normals, n_train):
    _, normals = _images(ctx, normals, normals)
    for a in normals:
        X_train, X_test = split_normal(
            load_image(a),
            PATCH,
            block=BLOCK,
            stride=STRIDE,
            seed=seed,
            max_train=ctx.n_train(n_train),
            max_test=2 * ctx.n_test,
        )
        # half the held-out patches stay normal, the other half get defects
        order = np.random.default_rng(seed).permutation(len(X_test))
        half = len(X_test) // 2
        X_normal, X_base = X_test[order[:half]], X_test[order[half:]]
        outliers = {k: _grey(v) for k, v in defects(X_base, seed).items()}
        yield Task(a, _grey(X_train), _grey(X_normal), outliers)


def mnist_digit_tasks(seed, ctx, n_train):
    X_train, y_train, X_test, y_test = ctx.mnist()
    for digit in MNIST_DIGITS:
        idx = _subset(np.flatnonzero(y_train == digit), ctx.n_train(n_train), seed)
        yield Task(
            f"digit {digit}",
            X_train[idx],
            X_test[y_test == digit],
            {"other digits": X_test[y_test != digit]},
        )


def mnist_half_tasks(seed, ctx):
    X_train, y_train, X_test, y_test = ctx.mnist()
    idx = _subset(np.flatnonzero(y_train < 5), ctx.n_train(None), seed)
    yield Task(
        "digits 0-4",
        X_train[idx],
        X_test[y_test < 5],
        {"digits 5-9": X_test[y_test >= 5]},
    )


@dataclass(frozen=True)
class Family:
    name: str
    seeds: int  # default number of seeds
    tasks: object  # tasks(seed, ctx) -> iterator of Task
    about: str


def _family(name, seeds, builder, about, **kwargs):
    return Family(name, seeds, functools.partial(builder, **kwargs), about)


def _sizes(group, sizes, builder, about, **kwargs):
    """One family per (training size, default seeds) in ``sizes``."""
    return [
        _family(f"{group}-n{n}", seeds, builder, about, n_train=n, **kwargs)
        for n, seeds in sizes
    ]


FAMILIES = {
    family.name: family
    for family in (
        _family("digits8x8-n30", 3, digits_tasks, "sklearn 8x8 digits", n_train=30),
        _family("lfw-faces-n60", 3, lfw_tasks, "LFW faces / non-faces", n_train=60),
        *_sizes(
            "textures",
            ((40, 3), (2000, 1)),
            patch_tasks,
            "grey textures",
            names=TEXTURES,
            normals=TEXTURES,
        ),
        *_sizes(
            "rgbphoto",
            ((50, 3), (2000, 2)),
            patch_tasks,
            "RGB photo patches",
            names=RGB,
            normals=RGB_NORMAL,
        ),
        *_sizes(
            "grayphoto",
            ((50, 3), (2000, 2)),
            patch_tasks,
            "grey photo patches",
            names=GRAY,
            normals=GRAY_NORMAL,
        ),
        *_sizes(
            "defects",
            ((50, 3), (2000, 2)),
            defect_tasks,
            "synthetic defects",
            normals=DEFECT_NORMAL,
        ),
        _family("mnist-n1000", 2, mnist_digit_tasks, "MNIST one digit", n_train=1000),
        _family("mnist-nall", 1, mnist_digit_tasks, "MNIST one digit", n_train=None),
        _family("mnist-0to4-nall", 1, mnist_half_tasks, "MNIST 0-4 vs 5-9"),
    )
}
GROUPS = {
    "digits8x8": ["digits8x8-n30"],
    "lfw": ["lfw-faces-n60"],
    **{
        group: [f"{group}-n{n}" for n in sizes]
        for group, sizes in (
            ("textures", (40, 2000)),
            ("rgbphoto", (50, 2000)),
            ("grayphoto", (50, 2000)),
            ("defects", (50, 2000)),
        )
    },
    "photos": [f"{k}photo-n{n}" for k in ("rgb", "gray") for n in (50, 2000)],
    "mnist": ["mnist-n1000", "mnist-nall", "mnist-0to4-nall"],
}


def expand(names):
    """Family names, groups expanded, in the order of FAMILIES."""
    chosen = {f for name in names for f in GROUPS.get(name, [name])}
    return [family for name, family in FAMILIES.items() if name in chosen]
