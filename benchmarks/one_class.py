"""One-class benchmark: train on one digit, detect every other digit.

The protocol of issue 3: for each digit, the detector is fitted on that
digit's *training* images only and scores the whole *test* set; the AUROC
and average precision treat the digit as the inlier (positive) class.
MNIST (28x28) is read from a local folder of IDX files; ``--dataset digits``
uses scikit-learn's bundled 8x8 digits (split 70/30, stratified, seed 0),
so the script also runs without MNIST.

Methods:

* ``skcae``: :class:`~skcae.ConvAutoencoderOutlierDetector` with its default
  parameters (only ``random_state`` is set; ``--skcae-params`` overrides
  others, e.g. ``--skcae-params '{"channels": [8, 16]}'``).
* ``skcae-blur``: the ``skcae`` model (the same fit, reused when ``skcae``
  runs too) scored by a blurred top-k error instead of the mean squared
  error: the per-pixel squared errors are smoothed by a 3x3 box filter and
  the mean of the largest 10% is the outlier cost (skcae's
  ``score_smoothing=3, score_top_fraction=0.1`` where the installed skcae has
  them, else computed here from ``det.net_.module_``).
* ``skcae-tuned``: the same, its ``latent_dim`` and score aggregation
  (``score_smoothing``, ``score_top_fraction``; see ``TUNED_GRID``) chosen by
  :class:`~sklearn.model_selection.GridSearchCV` (``scoring="roc_auc"``) on a
  validation split drawn from the *training* set alone: 20% of the training
  images of every digit are held out; the grid's training fold is the
  normal digit's remaining training images (so the detector never sees an
  outlier) and its validation fold is the held-out images of all digits,
  labelled +1 (the digit) / -1 (others), through a
  :class:`~sklearn.model_selection.PredefinedSplit`. The best parameters are
  then refitted on all of the digit's training images. The test set is used
  for nothing but the final score.
* ``iforest``: :class:`~sklearn.ensemble.IsolationForest` on raw pixels.
* ``lof``: :class:`~sklearn.neighbors.LocalOutlierFactor` with
  ``novelty=True``.
* ``ocsvm``: :class:`~sklearn.svm.OneClassSVM` (RBF, ``gamma="scale"``,
  ``nu=0.1``), fitted on at most ``--ocsvm-max-train`` training images
  (default 2000, a random subsample) to keep it affordable on MNIST.
* ``pca``: reconstruction error of :class:`~sklearn.decomposition.PCA`
  with 32 components.

Results go to ``<out>/<dataset>.md`` (Markdown tables), ``<out>/<dataset>.csv``
(one row per digit, method and seed) and ``<out>/<dataset>.png`` (bar chart).

Examples (from the repository root)::

    python benchmarks/one_class.py --dataset digits --quick
    python benchmarks/one_class.py --methods skcae pca iforest --threads 2
"""

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

METHODS = ("skcae", "skcae-blur", "skcae-tuned", "iforest", "lof", "ocsvm", "pca")
# latent size x score aggregation; with memory= the aggregation grid reuses
# each trained network, so this trains 2 networks per digit, not 8
TUNED_GRID = {
    "latent_dim": [8, 16],
    "score_smoothing": [1, 3],
    "score_top_fraction": [1.0, 0.1],
}
QUICK_GRID = {"latent_dim": [8, 16], "max_epochs": [2]}
VALIDATION_SIZE = 0.2
DATA_SEED = 0


# -- data ---------------------------------------------------------------------
def find_mnist(path):
    """The MNIST folder: ``path`` if given, else $SKCAE_MNIST, else the
    ``shared/data/mnist`` folder beside or inside the repository."""
    if path is not None:
        return Path(path).expanduser()
    candidates = []
    if os.environ.get("SKCAE_MNIST"):
        candidates.append(Path(os.environ["SKCAE_MNIST"]).expanduser())
    candidates += [
        ROOT.parent / "shared" / "data" / "mnist",
        ROOT / "shared" / "data" / "mnist",
        Path.cwd().parent / "shared" / "data" / "mnist",
    ]
    for folder in candidates:
        if (folder / "t10k-labels-idx1-ubyte.gz").is_file() or (
            folder / "t10k-labels-idx1-ubyte"
        ).is_file():
            return folder
    raise SystemExit(
        "No MNIST folder found; looked in "
        + ", ".join(str(c) for c in candidates)
        + ". Pass --mnist-path or set SKCAE_MNIST, or use --dataset digits."
    )


def load(dataset, mnist_path):
    """(X_train, y_train, X_test, y_test), images as float32 in [0, 1]."""
    from skcae.datasets import load_digits_images, load_mnist

    if dataset == "mnist":
        folder = find_mnist(mnist_path)
        X_train, y_train = load_mnist(folder, subset="train", return_X_y=True)
        X_test, y_test = load_mnist(folder, subset="test", return_X_y=True)
        return X_train, y_train, X_test, y_test
    from sklearn.model_selection import train_test_split

    X, y = load_digits_images(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=DATA_SEED
    )
    return X_train, y_train, X_test, y_test


# -- methods ------------------------------------------------------------------
def flat(X):
    return X.reshape(len(X), -1)


class PCAReconstruction:
    """Minus the mean squared PCA reconstruction error (higher = more normal)."""

    def __init__(self, n_components=32, random_state=None):
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X):
        from sklearn.decomposition import PCA

        X = flat(X)
        n = min(self.n_components, X.shape[0] - 1, X.shape[1])
        self.pca_ = PCA(n, random_state=self.random_state).fit(X)
        return self

    def score_samples(self, X):
        X = flat(X)
        recon = self.pca_.inverse_transform(self.pca_.transform(X))
        return -np.mean((X - recon) ** 2, axis=1)


class Flat:
    """Give a scikit-learn detector flat pixel rows."""

    def __init__(self, estimator, max_train=None, random_state=None):
        self.estimator = estimator
        self.max_train = max_train
        self.random_state = random_state

    def fit(self, X):
        if self.max_train is not None and len(X) > self.max_train:
            rng = np.random.RandomState(self.random_state)
            X = X[np.sort(rng.choice(len(X), self.max_train, replace=False))]
        self.estimator.fit(flat(X))
        return self

    def score_samples(self, X):
        return self.estimator.score_samples(flat(X))


def blurred_topk_errors(det, X, kernel=3, top=0.1):
    """Mean of the top ``top`` share of 3x3-box-blurred squared pixel errors."""
    import torch
    from torch.nn import functional as F

    module = det.net_.module_
    module.eval()
    images = np.asarray(X, dtype=np.float32)
    images = images[:, None] if images.ndim == 3 else images
    weight = torch.full((1, 1, kernel, kernel), 1.0 / kernel**2)
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), 1024):
            x = torch.from_numpy(images[start : start + 1024]).to(det.device_)
            err = (module(x) - x).square().mean(1, keepdim=True)
            err = F.conv2d(err, weight.to(err.device), padding=kernel // 2).flatten(1)
            k = max(1, int(round(top * err.shape[1])))
            out.append(err.topk(k, dim=1).values.mean(1).cpu())
    return torch.cat(out).numpy()


class BlurredSkcae:
    """A fitted (or cached) skcae detector scored by :func:`blurred_topk_errors`."""

    def __init__(self, make, cache, key):
        self.make, self.cache, self.key = make, cache, key

    def fit(self, X):
        if self.key not in self.cache:
            self.cache[self.key] = self.make().fit(X)
        self.detector_ = self.cache[self.key]
        return self

    def score_samples(self, X):
        det = self.detector_
        if "score_smoothing" in det.get_params():  # skcae's own pooled score
            saved = det.get_params()
            det.set_params(score_smoothing=3, score_top_fraction=0.1)
            try:
                return det.score_samples(X)
            finally:
                det.set_params(
                    score_smoothing=saved["score_smoothing"],
                    score_top_fraction=saved["score_top_fraction"],
                )
        return -blurred_topk_errors(det, X)


class CachedFit:
    """Fit ``estimator`` and keep it in ``cache`` for skcae-blur to reuse."""

    def __init__(self, estimator, cache, key):
        self.estimator, self.cache, self.key = estimator, cache, key

    def fit(self, X):
        self.cache[self.key] = self.estimator.fit(X)
        return self

    def score_samples(self, X):
        return self.estimator.score_samples(X)


class TunedSkcae:
    """skcae with a tiny grid searched on a split of the training set only."""

    def __init__(self, grid, X_train, y_train, digit, seed, quick):
        self.grid = grid
        self.X_train, self.y_train = X_train, y_train
        self.digit, self.seed, self.quick = digit, seed, quick

    def fit(self, X):
        from sklearn.model_selection import (
            GridSearchCV,
            PredefinedSplit,
            train_test_split,
        )

        from skcae import ConvAutoencoderOutlierDetector

        idx_fit, idx_val = train_test_split(
            np.arange(len(self.y_train)),
            test_size=VALIDATION_SIZE,
            stratify=self.y_train,
            random_state=DATA_SEED,
        )
        normal = idx_fit[self.y_train[idx_fit] == self.digit]
        X_cv = np.concatenate([self.X_train[normal], self.X_train[idx_val]])
        y_cv = np.concatenate(
            [
                np.ones(len(normal), dtype=int),
                np.where(self.y_train[idx_val] == self.digit, 1, -1),
            ]
        )
        # -1: always in the training fold (normal images only); 0: the
        # validation fold (held-out images of every digit)
        fold = np.r_[np.full(len(normal), -1), np.zeros(len(idx_val), dtype=int)]
        import tempfile

        cache = tempfile.mkdtemp(prefix="skcae-tuned-")
        search = GridSearchCV(
            ConvAutoencoderOutlierDetector(random_state=self.seed, memory=cache),
            self.grid,
            scoring="roc_auc",
            cv=PredefinedSplit(fold),
            refit=False,  # a refit on X_cv would train on the outliers
        )
        search.fit(X_cv, y_cv)
        self.best_params_ = search.best_params_
        self.best_score_ = search.best_score_
        self.detector_ = ConvAutoencoderOutlierDetector(
            random_state=self.seed, **self.best_params_
        ).fit(X)
        return self

    def score_samples(self, X):
        return self.detector_.score_samples(X)


def make_method(name, args, seed, data, digit, cache):
    from sklearn.ensemble import IsolationForest
    from sklearn.neighbors import LocalOutlierFactor
    from sklearn.svm import OneClassSVM

    from skcae import ConvAutoencoderOutlierDetector

    def make_skcae():
        params = {"max_epochs": 2} if args.quick else {}
        params.update(args.skcae_params)
        return ConvAutoencoderOutlierDetector(random_state=seed, **params)

    if name == "skcae":
        return CachedFit(make_skcae(), cache, (digit, seed))
    if name == "skcae-blur":
        return BlurredSkcae(make_skcae, cache, (digit, seed))
    if name == "skcae-tuned":
        grid = QUICK_GRID if args.quick else TUNED_GRID
        return TunedSkcae(grid, data[0], data[1], digit, seed, args.quick)
    if name == "iforest":
        return Flat(IsolationForest(random_state=seed))
    if name == "lof":
        return Flat(LocalOutlierFactor(novelty=True))
    if name == "ocsvm":
        return Flat(
            OneClassSVM(gamma="scale", nu=0.1),
            max_train=args.ocsvm_max_train,
            random_state=seed,
        )
    if name == "pca":
        return PCAReconstruction(32, random_state=seed)
    raise ValueError(f"unknown method {name!r}; expected one of {METHODS}")


# -- reporting ----------------------------------------------------------------
def _cell(values, fmt):
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(values.mean(), fmt)} ± {format(values.std(ddof=1), fmt)}"


def write_auroc_table(rows, methods, path):
    """Digit x method AUROC (mean over seeds) as a wide CSV, for the docs."""
    methods = [m for m in methods if any(r["method"] == m for r in rows)]
    digits = sorted({r["digit"] for r in rows})

    def auroc(method, digit):
        vals = [r["auroc"] for r in rows if r["method"] == method
                and (digit is None or r["digit"] == digit)]
        return f"{np.mean(vals):.3f}"

    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["digit", *methods])
        for digit in digits:
            writer.writerow([digit, *(auroc(m, digit) for m in methods)])
        writer.writerow(["mean", *(auroc(m, None) for m in methods)])


def markdown(rows, dataset, methods, digits, args, header_lines):
    def get(method, digit, key):
        return [r[key] for r in rows if r["method"] == method and r["digit"] == digit]

    def mean_over_digits(method, key):
        # mean over digits for each seed, then mean ± std over seeds
        seeds = sorted({r["seed"] for r in rows if r["method"] == method})
        return [
            np.mean([r[key] for r in rows if r["method"] == method and r["seed"] == s])
            for s in seeds
        ]

    lines = [f"# One-class benchmark: {dataset}", ""] + header_lines + [""]
    for key, title, fmt in (
        ("auroc", "AUROC (digit = inlier class)", ".3f"),
        ("ap", "Average precision (digit = positive class)", ".3f"),
        ("fit_s", "Fit time (s)", ".1f"),
        ("score_s", "Score time for the whole test set (s)", ".2f"),
    ):
        lines += [
            f"## {title}",
            "",
            "| digit | " + " | ".join(methods) + " |",
            "|---|" + "---|" * len(methods),
        ]
        for d in digits:
            lines.append(
                f"| {d} | "
                + " | ".join(_cell(get(m, d, key), fmt) for m in methods)
                + " |"
            )
        lines.append(
            "| **mean** | "
            + " | ".join(f"**{_cell(mean_over_digits(m, key), fmt)}**" for m in methods)
            + " |"
        )
        lines.append("")
    tuned = [r for r in rows if r.get("best_params")]
    if tuned:
        lines += [
            "## skcae-tuned: parameters chosen on the training-set split",
            "",
            "| digit | seed | best params | validation AUROC |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r['digit']} | {r['seed']} | {r['best_params']} | "
            f"{r['val_auroc']:.3f} |"
            for r in tuned
        ]
        lines.append("")
    return "\n".join(lines)


def bar_chart(rows, dataset, methods, digits, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [str(d) for d in digits] + ["mean"]
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(labels)), 4))
    for i, m in enumerate(methods):
        per = [
            np.mean([r["auroc"] for r in rows if r["method"] == m and r["digit"] == d])
            for d in digits
        ]
        per.append(np.mean(per))
        ax.bar(
            np.arange(len(labels)) + (i - (len(methods) - 1) / 2) * width,
            per,
            width,
            label=m,
        )
    low = min(r["auroc"] for r in rows)
    ax.set_ylim(max(0.0, low - 0.05), 1.0)
    ax.set_xticks(np.arange(len(labels)), labels)
    ax.set_xlabel("inlier digit")
    ax.set_ylabel("AUROC")
    ax.set_title(f"One-class detection on {dataset}")
    ax.legend(ncol=len(methods), fontsize="small", loc="upper center",
              bbox_to_anchor=(0.5, -0.12), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- main ---------------------------------------------------------------------
def main(argv=None):
    p = argparse.ArgumentParser(
        description="One-class digit benchmark: train on one digit's training "
        "images, score the whole test set (AUROC, average precision)."
    )
    p.add_argument(
        "--dataset",
        choices=("mnist", "digits"),
        default="mnist",
        help="mnist (local IDX files) or digits (sklearn's bundled "
        "8x8 digits); default: %(default)s",
    )
    p.add_argument(
        "--mnist-path",
        default=None,
        help="folder with the MNIST IDX files (default: $SKCAE_MNIST "
        "or ../shared/data/mnist relative to the repository root)",
    )
    p.add_argument(
        "--digits",
        type=int,
        nargs="+",
        default=list(range(10)),
        help="inlier digits to run (default: all ten)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="number of seeds 0..N-1; mean ± std when > 1",
    )
    p.add_argument(
        "--methods",
        nargs="+",
        choices=METHODS,
        default=list(METHODS),
        help="methods to run (default: all)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=ROOT / "benchmarks" / "results",
        help="output folder (default: benchmarks/results)",
    )
    p.add_argument(
        "--skcae-params",
        type=json.loads,
        default={},
        help="JSON dict of ConvAutoencoderOutlierDetector parameters "
        "for skcae and skcae-blur, e.g. '{\"channels\": [8, 16]}'",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads (default: torch's own choice)",
    )
    p.add_argument(
        "--ocsvm-max-train",
        type=int,
        default=2000,
        help="OneClassSVM fits on at most this many training "
        "images (default: %(default)s)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a smoke test: 2 epochs for skcae, 500 training images per digit at most",
    )
    args = p.parse_args(argv)

    import torch
    from sklearn.metrics import average_precision_score, roc_auc_score

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    X_train, y_train, X_test, y_test = load(args.dataset, args.mnist_path)
    data = (X_train, y_train)
    args.out.mkdir(parents=True, exist_ok=True)
    header = [
        f"Train on one digit's training images ({args.dataset}: "
        f"{len(X_train)} train / {len(X_test)} test images of "
        f"{X_train.shape[1]}x{X_train.shape[2]}), score the whole test set.",
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
        f"seeds 0..{args.seeds - 1}" + ("; --quick" if args.quick else "") + ".",
    ]
    if args.skcae_params:
        header.append(f"skcae parameters: {args.skcae_params}.")
    if "skcae-blur" in args.methods and "skcae" in args.methods:
        header.append("skcae-blur reuses skcae's fit (its fit time is ~0).")
    if "ocsvm" in args.methods:
        header.append(
            f"ocsvm is fitted on at most {args.ocsvm_max_train} "
            "training images (random subsample)."
        )
    if "skcae-tuned" in args.methods:
        grid = QUICK_GRID if args.quick else TUNED_GRID
        header.append(
            f"skcae-tuned grid: {grid}, chosen on a 20% hold-out of "
            "the training set (never the test set)."
        )
    print("\n".join(header), flush=True)

    rows, cache = [], {}
    for seed in range(args.seeds):
        for digit in args.digits:
            X_fit = X_train[y_train == digit]
            if args.quick:
                X_fit = X_fit[:500]
            is_inlier = (y_test == digit).astype(int)
            for name in args.methods:
                method = make_method(name, args, seed, data, digit, cache)
                t0 = time.perf_counter()
                method.fit(X_fit)
                fit_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                scores = method.score_samples(X_test)
                score_s = time.perf_counter() - t0
                row = {
                    "dataset": args.dataset,
                    "method": name,
                    "digit": digit,
                    "seed": seed,
                    "n_train": len(X_fit),
                    "auroc": roc_auc_score(is_inlier, scores),
                    "ap": average_precision_score(is_inlier, scores),
                    "fit_s": fit_s,
                    "score_s": score_s,
                }
                if hasattr(method, "best_params_"):
                    row["best_params"] = method.best_params_
                    row["val_auroc"] = method.best_score_
                rows.append(row)
                print(
                    f"[seed {seed}] digit {digit} {name:<11s} "
                    f"AUROC {row['auroc']:.4f}  AP {row['ap']:.4f}  "
                    f"fit {fit_s:6.1f}s  score {score_s:5.2f}s"
                    + (
                        f"  best {method.best_params_}"
                        if hasattr(method, "best_params_")
                        else ""
                    ),
                    flush=True,
                )
            cache.clear()

    stem = args.out / args.dataset
    fields = [
        "dataset",
        "method",
        "digit",
        "seed",
        "n_train",
        "auroc",
        "ap",
        "fit_s",
        "score_s",
        "best_params",
        "val_auroc",
    ]
    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    write_auroc_table(rows, args.methods, stem.parent / f"{args.dataset}_auroc.csv")
    text = markdown(rows, args.dataset, args.methods, args.digits, args, header)
    stem.with_suffix(".md").write_text(text + "\n")
    bar_chart(rows, args.dataset, args.methods, args.digits, stem.with_suffix(".png"))
    print()
    print(text)
    print(f"\nwrote {stem}.md, {stem}.csv and {stem}.png")


if __name__ == "__main__":
    main()
