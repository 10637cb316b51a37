"""Speed benchmark: skcae's fit and scoring time beside PyOD's AutoEncoder and LOF.

Default mode: one-class MNIST for each digit of ``--digits`` (default 2 6
8). Every method is fitted on *all* training images of the digit and scores
the 10,000 test images; reported: fit seconds, score seconds, AUROC (the
digit as the normal class) and the ratios skcae / PyOD of the fit and of the
score seconds. Methods: ``skcae`` (the default
:class:`~skcae.ConvAutoencoderOutlierDetector`, only ``random_state`` and
``n_jobs`` = ``--threads`` set, no cache), ``pyod-ae`` (PyOD's AutoEncoder,
default parameters; left out, with a note, when PyOD does not import) and
``lof`` (``novelty=True``). ``--threads`` (default 2) sets
``torch.set_num_threads`` (PyOD's torch) and skcae's ``n_jobs``. All
methods run in this one process, in alternating order from digit to digit
(skcae first, then last, ...), after an untimed warm-up (a tiny fit and
score of each method) so that import and first-call costs are not counted.
``uptime`` is recorded before and after, and the commit measured.

``--scaling`` mode: skcae's fit seconds and scoring seconds, and the cost
per image, against the number of training images n (``--n``, default 100
1,000 10,000 60,000) for four image kinds:

* ``8x8 gray``: MNIST reduced to 8x8 (the 2-pixel border cut, then 3x3 block
  means), so every n up to 60,000 exists (scikit-learn's 8x8 digits have
  only 1,797 images);
* ``28x28 gray``: MNIST (60,000 = the full training set; n images drawn at
  random, seeded);
* ``32x32 RGB`` and ``64x64 RGB``: random crops of the RGB photos of
  ``benchmarks/_patches.py`` (scikit-learn's china and flower, plus
  scikit-image's photos when it imports), any position, so crops overlap;
  these are speed data only.

Scoring always scores ``--n-score`` images (default 10,000; MNIST's test set
for the gray kinds, other random crops for RGB). Cells whose training set
would hold more than ``--max-values`` pixel values (default 2.5e8, 1 GB as
float32: 64x64 RGB at 60,000) are skipped, with a note.

Writes ``<out>/speed.md`` and ``speed.csv``, or ``<out>/scaling.md`` and
``scaling.csv`` with ``--scaling``.

Command lines (from the repository root)::

    python benchmarks/speed.py                              # digits 2 6 8, 2 threads
    python benchmarks/speed.py --digits 0 1 2 3 --threads 1
    python benchmarks/speed.py --scaling
    python benchmarks/speed.py --quick --max-epochs 1 --out /tmp/b
    python benchmarks/speed.py --scaling --quick --max-epochs 1 --out /tmp/b
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _common import (
    RESULTS,
    add_mnist_argument,
    environment_lines,
    load_mnist_split,
    md_table,
    set_threads,
    uptime,
    write_csv,
)
from _methods import (
    SKCAE_DEFAULT_NOTE,
    SkcaeDefault,
    make_method,
    method_notes,
    warm_up_methods,
)

METHODS = ("skcae", "pyod-ae", "lof")
KINDS = ("8x8 gray", "28x28 gray", "32x32 RGB", "64x64 RGB")
QUICK_TRAIN = 300  # --quick: training images per digit
QUICK_TEST = 1000  # --quick: test images scored
QUICK_N = (100, 300)  # --quick --scaling: training sizes
QUICK_N_SCORE = 200  # --quick --scaling: images scored
SPEED_FIELDS = [
    "digit", "method", "position", "n_train", "n_test", "fit_s", "score_s",
    "auroc", "n_iter", "torch_threads",
]  # fmt: skip
SCALING_FIELDS = [
    "kind", "n", "n_score", "fit_s", "score_s", "fit_ms_per_image",
    "score_ms_per_image", "n_iter", "torch_threads",
]  # fmt: skip


def make(name, seed, args):
    if name == "skcae":
        return SkcaeDefault(seed, args.threads, dict(args.skcae_params))
    return make_method(name, seed, cache=None)


# -- default mode: skcae, PyOD and LOF side by side ------------------------------
def run_speed(args, methods):
    from sklearn.metrics import roc_auc_score

    X_train, y_train = load_mnist_split(args.mnist_path, "train")
    X_test, y_test = load_mnist_split(args.mnist_path, "test")
    if args.quick:
        X_test, y_test = X_test[:QUICK_TEST], y_test[:QUICK_TEST]
    warm_up_methods(methods, lambda name: make(name, 0, args), X_train[:64])
    rows = []
    for i, digit in enumerate(args.digits):
        X_fit = X_train[y_train == digit]
        if args.quick:
            X_fit = X_fit[:QUICK_TRAIN]
        if args.n_train is not None:
            X_fit = X_fit[: args.n_train]
        is_normal = (y_test == digit).astype(int)
        order = methods if i % 2 == 0 else methods[::-1]
        for position, name in enumerate(order, 1):
            method = make(name, args.seed, args)
            t0 = time.perf_counter()
            method.fit(X_fit)
            fit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            scores = method.score_samples(X_test)
            score_s = time.perf_counter() - t0
            rows.append(
                {
                    "digit": digit,
                    "method": name,
                    "position": position,
                    "n_train": len(X_fit),
                    "n_test": len(X_test),
                    "fit_s": fit_s,
                    "score_s": score_s,
                    "auroc": roc_auc_score(is_normal, scores),
                    **method.info,
                }
            )
            print(
                f"digit {digit} {name:<8s} (#{position}) n={len(X_fit)} "
                f"fit {fit_s:7.2f}s  score {score_s:6.2f}s  "
                f"AUROC {rows[-1]['auroc']:.4f}",
                flush=True,
            )
    return rows


def speed_markdown(rows, methods, digits, header, n_train=None):
    def get(method, digit, key):
        return next(
            r[key] for r in rows if r["method"] == method and r["digit"] == digit
        )

    ratio = "skcae" in methods and "pyod-ae" in methods
    head = ["digit", "n_train", "order"]
    for key in ("fit s", "score s", "AUROC"):
        head += [f"{m} {key}" for m in methods]
    if ratio:
        head += ["fit skcae/PyOD", "score skcae/PyOD"]
    body = []
    for d in digits:
        order = sorted(methods, key=lambda m: get(m, d, "position"))
        cells = [d, get(methods[0], d, "n_train"), " → ".join(order)]
        cells += [f"{get(m, d, 'fit_s'):.2f}" for m in methods]
        cells += [f"{get(m, d, 'score_s'):.2f}" for m in methods]
        cells += [f"{get(m, d, 'auroc'):.4f}" for m in methods]
        if ratio:
            for key in ("fit_s", "score_s"):
                cells.append(f"{get('skcae', d, key) / get('pyod-ae', d, key):.2f}")
        body.append(cells)

    def total(method, key):
        return sum(get(method, d, key) for d in digits)

    cells = ["**total / mean**", sum(get(methods[0], d, "n_train") for d in digits), ""]
    cells += [f"{total(m, 'fit_s'):.2f}" for m in methods]
    cells += [f"{total(m, 'score_s'):.2f}" for m in methods]
    cells += [f"{total(m, 'auroc') / len(digits):.4f}" for m in methods]
    if ratio:
        for key in ("fit_s", "score_s"):
            cells.append(f"**{total('skcae', key) / total('pyod-ae', key):.2f}**")
    body.append(cells)
    lines = ["# Speed: skcae, PyOD AutoEncoder and LOF on one-class MNIST", ""]
    lines += [*header, ""]
    lines += [
        f"Fit on {'all' if n_train is None else f'the first {n_train}'} "
        "training images of the digit, score the test set (one "
        "`score_samples` call); seconds of wall time. The last row sums the "
        "seconds (ratios: of the sums) and averages the AUROC.",
        "",
        *md_table(head, body),
    ]
    skcae = [r for r in rows if r["method"] == "skcae"]
    if skcae:
        epochs = ", ".join(f"{r['digit']}: {r['n_iter']}" for r in skcae)
        threads = sorted({str(r["torch_threads"]) for r in skcae})
        lines += [
            f"skcae epochs trained per digit: {epochs}; torch threads during "
            f"its fits: {', '.join(threads)}.",
            "",
        ]
    return "\n".join(lines)


# -- --scaling: skcae's cost against n and image size -----------------------------
def mnist_8x8(X):
    """MNIST (n, 28, 28) -> (n, 8, 8): cut the 2-pixel border, 3x3 block means."""
    X = np.asarray(X)[:, 2:26, 2:26]
    return X.reshape(len(X), 8, 3, 8, 3).mean(axis=(2, 4)).astype(np.float32)


def photo_crops(n, patch, seed):
    """``n`` random ``patch`` x ``patch`` RGB crops (n, 3, P, P) of the
    photos of ``_patches.py`` that load (photo and position uniform)."""
    from _patches import RGB_PHOTOS, load_image, loadable

    names, _ = loadable(RGB_PHOTOS)
    images = [load_image(name) for name in names]
    rng = np.random.default_rng(seed)
    which = rng.integers(len(images), size=n)
    out = np.empty((n, 3, patch, patch), np.float32)
    for i, k in enumerate(which):
        img = images[k]
        y = rng.integers(img.shape[1] - patch + 1)
        x = rng.integers(img.shape[2] - patch + 1)
        out[i] = img[:, y : y + patch, x : x + patch]
    return out


def scaling_data(kind, n, n_score, seed, mnist):
    """(training images, images to score) of ``kind``."""
    if kind in ("8x8 gray", "28x28 gray"):
        X_train, X_test = mnist
        idx = np.random.default_rng(seed).permutation(len(X_train))[:n]
        X_fit, X_score = X_train[np.sort(idx)], X_test[:n_score]
        if kind == "8x8 gray":
            X_fit, X_score = mnist_8x8(X_fit), mnist_8x8(X_score)
        return X_fit, X_score
    patch = int(kind.split("x")[0])
    return photo_crops(n, patch, seed), photo_crops(n_score, patch, seed + 1)


def run_scaling(args):
    X_train, _ = load_mnist_split(args.mnist_path, "train")
    X_test, _ = load_mnist_split(args.mnist_path, "test")
    mnist = (X_train, X_test)
    rows, skipped = [], []
    for kind in args.kinds:
        X_warm, _ = scaling_data(kind, 64, 8, args.seed, mnist)
        warm_up_methods(["skcae"], lambda name: make(name, args.seed, args), X_warm)
        for n in args.n:
            values = n * int(np.prod(X_warm.shape[1:]))
            if values > args.max_values:
                skipped.append(f"{kind} at n={n} ({values:.2e} values)")
                print(f"{kind} n={n}: skipped ({values:.2e} values)", flush=True)
                continue
            if kind.endswith("gray") and n > len(X_train):
                skipped.append(f"{kind} at n={n} (MNIST has {len(X_train)})")
                print(f"{kind} n={n}: skipped (MNIST has {len(X_train)})", flush=True)
                continue
            X_fit, X_score = scaling_data(kind, n, args.n_score, args.seed, mnist)
            method = make("skcae", args.seed, args)
            t0 = time.perf_counter()
            method.fit(X_fit)
            fit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            method.score_samples(X_score)
            score_s = time.perf_counter() - t0
            rows.append(
                {
                    "kind": kind,
                    "n": n,
                    "n_score": len(X_score),
                    "fit_s": fit_s,
                    "score_s": score_s,
                    "fit_ms_per_image": 1000 * fit_s / n,
                    "score_ms_per_image": 1000 * score_s / len(X_score),
                    **method.info,
                }
            )
            print(
                f"{kind} n={n}: fit {fit_s:7.2f}s ({rows[-1]['n_iter']} epochs)  "
                f"score {len(X_score)} {score_s:6.2f}s",
                flush=True,
            )
    return rows, skipped


def scaling_markdown(rows, skipped, header):
    head = [
        "image kind", "n", "fit s", "epochs", "fit ms / image",
        "fit ms / image / epoch", "scored", "score s", "score ms / image",
    ]  # fmt: skip
    body = [
        [
            r["kind"],
            f"{r['n']:,}",
            f"{r['fit_s']:.2f}",
            r["n_iter"],
            f"{r['fit_ms_per_image']:.3f}",
            f"{r['fit_ms_per_image'] / max(r['n_iter'], 1):.3f}",
            f"{r['n_score']:,}",
            f"{r['score_s']:.2f}",
            f"{r['score_ms_per_image']:.3f}",
        ]
        for r in rows
    ]
    lines = ["# Scaling: skcae's fit and scoring cost against n and image size", ""]
    lines += [*header, ""]
    lines += [
        "Default detector; n training images; scoring: one `score_samples` call "
        "on the scored images. 8x8 gray = MNIST reduced to 8x8 (border cut, "
        "3x3 block means); 28x28 gray = MNIST; RGB = random crops of the "
        "_patches.py photos (overlapping; speed data only).",
        "",
        *md_table(head, body),
    ]
    if skipped:
        lines += ["Skipped: " + "; ".join(skipped) + ".", ""]
    return "\n".join(lines)


# -- main ---------------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Fit and score seconds of skcae beside PyOD's AutoEncoder "
        "and LOF (one-class MNIST); --scaling: skcae against n and image size."
    )
    add_mnist_argument(p)
    p.add_argument(
        "--digits",
        type=int,
        nargs="+",
        default=[2, 6, 8],
        help="normal digits (default: %(default)s)",
    )
    p.add_argument(
        "--methods",
        nargs="+",
        choices=METHODS,
        default=list(METHODS),
        help="methods, in the order of the first digit (default: all)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=2,
        help="torch.set_num_threads (PyOD) and skcae's n_jobs (default: 2)",
    )
    p.add_argument("--seed", type=int, default=0, help="random_state (default 0)")
    p.add_argument(
        "--n-train",
        type=int,
        default=None,
        help="fit on the first N training images of each digit (default: all)",
    )
    p.add_argument(
        "--scaling",
        action="store_true",
        help="skcae's cost against n and image size instead",
    )
    p.add_argument(
        "--n",
        type=int,
        nargs="+",
        default=None,
        help="--scaling: training sizes (default: 100 1000 10000 60000)",
    )
    p.add_argument(
        "--kinds",
        nargs="+",
        choices=KINDS,
        default=list(KINDS),
        help="--scaling: image kinds (default: all four)",
    )
    p.add_argument(
        "--n-score",
        type=int,
        default=10_000,
        help="--scaling: images scored per cell (default: %(default)s)",
    )
    p.add_argument(
        "--max-values",
        type=float,
        default=2.5e8,
        help="--scaling: skip cells with more training pixel values "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--skcae-params",
        type=json.loads,
        default={},
        help="JSON dict of extra ConvAutoencoderOutlierDetector parameters "
        "(default: none)",
    )
    p.add_argument(
        "--max-epochs",
        type=int,
        default=None,
        help="skcae's max_epochs, for trial runs only (default: the detector's)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke test: {QUICK_TRAIN} training and {QUICK_TEST} test "
        f"images per digit; with --scaling n in {QUICK_N}, {QUICK_N_SCORE} scored",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=RESULTS,
        help="output folder (default: benchmarks/results)",
    )
    args = p.parse_args(argv)
    if args.n is None:
        args.n = list(QUICK_N if args.quick else (100, 1000, 10_000, 60_000))
    if args.quick:
        args.n_score = min(args.n_score, QUICK_N_SCORE)
    if args.max_epochs is not None:
        args.skcae_params["max_epochs"] = args.max_epochs
    return args


def main(argv=None):
    args = parse_args(argv)
    set_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    methods = ["skcae"] if args.scaling else list(dict.fromkeys(args.methods))
    notes = method_notes(methods, SKCAE_DEFAULT_NOTE)  # drops pyod-ae if missing
    header = environment_lines(args.threads, args.threads)
    header[-1] = f"`uptime` before: `{uptime()}`."  # was "at the start"
    if args.quick:
        header.append("**--quick**.")
    if args.skcae_params:
        header.append(f"Extra skcae parameters: {args.skcae_params}.")
    header += notes
    if "lof" in methods:
        header.append("lof: novelty=True, n_neighbors=20, on flat pixels.")
    print("\n".join(header), flush=True)

    if args.scaling:
        rows, skipped = run_scaling(args)
        header.append(f"`uptime` after: `{uptime()}`.")
        text = scaling_markdown(rows, skipped, header)
        stem, fields = args.out / "scaling", SCALING_FIELDS
    else:
        rows = run_speed(args, methods)
        header.append(f"`uptime` after: `{uptime()}`.")
        text = speed_markdown(rows, methods, args.digits, header, args.n_train)
        name = "speed" if args.n_train is None else f"speed_n{args.n_train}"
        stem, fields = args.out / name, SPEED_FIELDS
    write_csv(rows, stem.with_suffix(".csv"), fields)
    stem.with_suffix(".md").write_text(text + "\n")
    print()
    print(text)
    print(f"\nwrote {stem}.md and {stem.name}.csv")


if __name__ == "__main__":
    main()
