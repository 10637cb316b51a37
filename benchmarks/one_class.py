"""One-class benchmark: train on one digit, detect every other digit.

For each digit, every detector is fitted on that digit's *training* images
only and scores the whole *test* set; the AUROC and average precision treat
the digit as the inlier (positive) class, so higher ``score_samples`` must
mean "this digit". The test set is only ever scored: nothing is tuned on
it. MNIST (28x28) is read from a local folder of IDX files; ``--dataset
digits`` uses scikit-learn's bundled 8x8 digits (split 70/30, stratified,
seed 0), so the script also runs without MNIST.

Methods (see ``benchmarks/_methods.py``): ``skcae`` (the default
:class:`~skcae.ConvAutoencoderOutlierDetector`, ``score_type="hybrid"``),
``skcae-mse`` (the same network, ``score_type="reconstruction"``: refitted
from a :class:`joblib.Memory` cache, so only the score model is fitted
again), ``iforest``, ``lof``, ``ocsvm``, ``pca`` and ``pyod-ae`` (when PyOD
imports). ``--seeds N`` repeats everything with seeds 0..N-1 (the
detectors' ``random_state``; the data split is fixed).

Writes ``<out>/<dataset>.md`` (tables of the mean over seeds, wins against
LOF and PCA, skcae's fit seconds and scoring images/s), ``<out>/<dataset>.csv``
(one row per digit, method and seed), ``<out>/<dataset>_auroc.csv`` (digit x
method AUROC) and ``<out>/<dataset>.png`` (bar chart).

Examples (from the repository root)::

    python benchmarks/one_class.py --dataset digits --quick --threads 1 --out /tmp/b
    python benchmarks/one_class.py --dataset mnist --threads 2     # ~10 min
"""

import argparse
import csv
import time

import numpy as np
from _common import (
    add_common_arguments,
    add_mnist_argument,
    environment_lines,
    grouped_bars,
    load_mnist_split,
    md_table,
    mean_std,
    set_threads,
    signed,
    uptime,
    write_csv,
)
from _methods import (
    BASELINES,
    SKCAE_METHODS,
    SkcaeCache,
    make_method,
    method_notes,
    skcae_maker,
    warm_up,
)

METHODS = (*SKCAE_METHODS, *BASELINES)
DATA_SEED = 0
QUICK_TRAIN = 500  # --quick: at most this many training images per digit
FIELDS = [
    "dataset", "method", "digit", "seed", "n_train", "n_test", "auroc", "ap",
    "fit_s", "score_s", "score_per_s", "fit_kind", "n_iter", "torch_threads",
]  # fmt: skip


def load(dataset, mnist_path):
    """(X_train, y_train, X_test, y_test), images as float32 in [0, 1]."""
    if dataset == "mnist":
        X_train, y_train = load_mnist_split(mnist_path, "train")
        X_test, y_test = load_mnist_split(mnist_path, "test")
        return X_train, y_train, X_test, y_test
    from sklearn.model_selection import train_test_split

    from skcae.datasets import load_digits_images

    X, y = load_digits_images(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=DATA_SEED
    )
    return X_train, y_train, X_test, y_test


def run(args, X_train, y_train, X_test, y_test, methods):
    """Fit and score every (seed, digit, method); one result row each."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    cache = SkcaeCache(skcae_maker(args.n_jobs, args.quick, args.skcae_params))
    rows = []
    try:
        sample = X_train[y_train == args.digits[0]][:64]
        warm_up(methods, cache, sample, sample)  # training images only
        for seed in range(args.seeds):
            for digit in args.digits:
                cache.task()
                X_fit = X_train[y_train == digit]
                if args.quick:
                    X_fit = X_fit[:QUICK_TRAIN]
                is_inlier = (y_test == digit).astype(int)
                for name in methods:
                    method = make_method(name, seed, cache, args.ocsvm_max_train)
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
                        "n_test": len(X_test),
                        "auroc": roc_auc_score(is_inlier, scores),
                        "ap": average_precision_score(is_inlier, scores),
                        "fit_s": fit_s,
                        "score_s": score_s,
                        "score_per_s": len(X_test) / max(score_s, 1e-9),
                        **method.info,
                    }
                    rows.append(row)
                    extra = (
                        f"  [{row['fit_kind']}, {row['n_iter']} epochs, "
                        f"{row['torch_threads']} thread(s)]"
                        if "fit_kind" in row
                        else ""
                    )
                    print(
                        f"[seed {seed}] digit {digit} {name:<9s} "
                        f"AUROC {row['auroc']:.4f}  AP {row['ap']:.4f}  "
                        f"fit {fit_s:6.1f}s  score {score_s:5.2f}s{extra}",
                        flush=True,
                    )
    finally:
        cache.close()
    return rows


# -- reporting ----------------------------------------------------------------
def _values(rows, method, key, digit=None, seed=None):
    return [
        r[key]
        for r in rows
        if r["method"] == method
        and (digit is None or r["digit"] == digit)
        and (seed is None or r["seed"] == seed)
    ]


def _mean(rows, method, key, digit=None):
    values = _values(rows, method, key, digit)
    return float(np.mean(values)) if values else float("nan")


def _over_seeds(rows, method, key):
    """The mean over digits of each seed (for mean ± std over seeds)."""
    seeds = sorted({r["seed"] for r in rows if r["method"] == method})
    return [np.mean(_values(rows, method, key, seed=s)) for s in seeds]


def metric_table(rows, methods, digits, key, fmt):
    body = [
        [d, *(format(_mean(rows, m, key, d), fmt) for m in methods)] for d in digits
    ]
    body.append(
        [
            "**mean**",
            *(f"**{mean_std(_over_seeds(rows, m, key), fmt)}**" for m in methods),
        ]
    )
    return md_table(["digit", *methods], body)


def std_table(rows, methods, digits):
    """Standard deviation over seeds of each digit's AUROC."""
    body = [
        [d, *(f"{np.std(_values(rows, m, 'auroc', d), ddof=1):.3f}" for m in methods)]
        for d in digits
    ]
    return md_table(["digit", *methods], body)


def wins_table(rows, methods, digits):
    """AUROC (and AP) of each skcae method minus LOF's / PCA's, per digit."""
    pairs = [
        (m, ref)
        for m in methods
        if m in SKCAE_METHODS
        for ref in ("lof", "pca")
        if ref in methods
    ]
    if not pairs:
        return []
    body = []
    for d in digits:
        cells = []
        for m, ref in pairs:
            diff = _mean(rows, m, "auroc", d) - _mean(rows, ref, "auroc", d)
            cells.append(("✓ " if diff > 0 else "") + signed(diff))
        body.append([d, *cells])
    for key, label in (("auroc", "AUROC wins"), ("ap", "AP wins")):
        counts = []
        for m, ref in pairs:
            wins = sum(
                _mean(rows, m, key, d) > _mean(rows, ref, key, d) for d in digits
            )
            counts.append(f"**{wins}/{len(digits)}**")
        body.append([f"**{label}**", *counts])
    header = ["digit", *(f"{m} vs {ref}" for m, ref in pairs)]
    return md_table(header, body)


def skcae_table(rows, methods, digits):
    """skcae's fit seconds, scoring-only refit and scoring images/s."""
    present = [m for m in SKCAE_METHODS if m in methods]
    if not present:
        return []
    header = ["digit", "n_train"]
    for m in present:
        header += [f"{m} fit s", f"{m} score images/s"]
    header += ["epochs", "torch threads"]
    body = []
    for d in [*digits, None]:
        some = [r for r in rows if r["method"] == present[0]]
        some = [r for r in some if d is None or r["digit"] == d]
        cells = [
            "**mean**" if d is None else d,
            f"{np.mean([r['n_train'] for r in some]):.0f}",
        ]
        for m in present:
            cells += [
                f"{_mean(rows, m, 'fit_s', d):.1f}",
                f"{_mean(rows, m, 'score_per_s', d):,.0f}",
            ]
        threads = sorted({str(r["torch_threads"]) for r in some})
        cells += [f"{np.mean([r['n_iter'] for r in some]):.0f}", ", ".join(threads)]
        body.append(cells)
    return md_table(header, body)


def markdown(rows, dataset, methods, digits, header, seeds):
    lines = [f"# One-class benchmark: {dataset}", "", *header, ""]
    lines += ["## AUROC (digit = inlier class), mean over seeds", ""]
    lines += metric_table(rows, methods, digits, "auroc", ".3f")
    if seeds > 1:
        lines += ["## AUROC: standard deviation over seeds", ""]
        lines += std_table(rows, methods, digits)
    lines += ["## Average precision (digit = positive class), mean over seeds", ""]
    lines += metric_table(rows, methods, digits, "ap", ".3f")
    wins = wins_table(rows, methods, digits)
    if wins:
        lines += [
            "## skcae against LOF and PCA",
            "",
            "AUROC difference per digit (mean over seeds; ✓ = skcae ahead), "
            "and the digits won on AUROC and on average precision.",
            "",
            *wins,
        ]
    timing = skcae_table(rows, methods, digits)
    if timing:
        lines += [
            "## skcae: fit seconds and scoring speed",
            "",
            "skcae's fit trains the network (and fills the cache); skcae-mse's "
            "fit is the scoring-only refit from the cache. Scoring images/s: "
            "the whole test set in one `score_samples` call.",
            "",
            *timing,
        ]
    lines += ["## Fit time (s), mean over seeds", ""]
    lines += metric_table(rows, methods, digits, "fit_s", ".2f")
    lines += ["## Score time for the whole test set (s), mean over seeds", ""]
    lines += metric_table(rows, methods, digits, "score_s", ".2f")
    return "\n".join(lines)


def write_auroc_csv(rows, methods, digits, path):
    """Digit x method AUROC (mean over seeds) as a wide CSV, for the docs."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["digit", *methods])
        for d in digits:
            writer.writerow(
                [d, *(f"{_mean(rows, m, 'auroc', d):.3f}" for m in methods)]
            )
        writer.writerow(["mean", *(f"{_mean(rows, m, 'auroc'):.3f}" for m in methods)])


# -- main ---------------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="One-class digit benchmark: train on one digit's training "
        "images, score the whole test set (AUROC, average precision)."
    )
    p.add_argument(
        "--dataset",
        choices=("mnist", "digits"),
        default="mnist",
        help="mnist (local IDX files) or digits (sklearn's 8x8 "
        "digits); default: %(default)s",
    )
    add_mnist_argument(p)
    p.add_argument(
        "--digits",
        type=int,
        nargs="+",
        default=list(range(10)),
        help="inlier digits to run (default: all ten)",
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
        help=f"a smoke test: 2 epochs for skcae, at most {QUICK_TRAIN} "
        "training images per digit",
    )
    add_common_arguments(p, METHODS, METHODS, "all")
    return p.parse_args(argv)  # fmt: skip


def main(argv=None):
    args = parse_args(argv)
    set_threads(args.threads)
    args.n_jobs = args.threads
    methods = list(dict.fromkeys(args.methods))
    notes = method_notes(methods)
    X_train, y_train, X_test, y_test = load(args.dataset, args.mnist_path)
    args.out.mkdir(parents=True, exist_ok=True)
    size = "x".join(map(str, X_train.shape[1:]))
    header = [
        f"Train on one digit's training images ({args.dataset}: {len(X_train)} "
        f"train / {len(X_test)} test images of {size}), score the whole test "
        f"set; seeds 0..{args.seeds - 1}"
        + ("; **--quick**" if args.quick else "")
        + ".",
        *environment_lines(args.threads, args.n_jobs),
    ]
    if args.skcae_params:
        header.append(f"Extra skcae parameters: {args.skcae_params}.")
    if "ocsvm" in methods:
        header.append(
            f"ocsvm is fitted on at most {args.ocsvm_max_train} training "
            "images (random subsample)."
        )
    header += notes
    print("\n".join(header), flush=True)

    rows = run(args, X_train, y_train, X_test, y_test, methods)
    header.append(f"`uptime` at the end: `{uptime()}`.")
    stem = args.out / args.dataset
    write_csv(rows, stem.with_suffix(".csv"), FIELDS)
    write_auroc_csv(rows, methods, args.digits, args.out / f"{args.dataset}_auroc.csv")
    text = markdown(rows, args.dataset, methods, args.digits, header, args.seeds)
    stem.with_suffix(".md").write_text(text + "\n")
    series = {
        m: [_mean(rows, m, "auroc", d) for d in args.digits] + [_mean(rows, m, "auroc")]
        for m in methods
    }
    grouped_bars(
        [str(d) for d in args.digits] + ["mean"],
        series,
        stem.with_suffix(".png"),
        title=f"One-class detection on {args.dataset}",
        xlabel="inlier digit",
    )
    print()
    print(text)
    print(f"\nwrote {stem}.md, {stem}.csv, {stem}_auroc.csv and {stem}.png")


if __name__ == "__main__":
    main()
