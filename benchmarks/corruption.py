"""Corruption benchmark: clean MNIST against MNIST-C style corruptions.

Every detector is fitted on clean MNIST training images of all ten digits
(a random subsample of ``--n-train``, default 10,000, drawn with the run's
seed). The test set is split at random (seeded) into two disjoint halves:
one half stays clean and is the normal class, the other half is corrupted
by each of the 15 corruptions of ``benchmarks/_corruptions.py`` (after
MNIST-C, Mu and Gilmer 2019: shot and impulse noise, glass and motion blur,
shear, scale, rotate, brightness, translate, stripe, fog, spatter, dotted
line, zigzag, Canny edges) in turn and is the outlier class. One AUROC per
corruption (outliers positive), and the mean over corruptions per method.
Each detector is fitted once per seed and scores the clean half and every
corrupted set. ``canny_edges`` is left out, with a note, without
scikit-image.

Methods: ``skcae`` (the default :class:`~skcae.ConvAutoencoderOutlierDetector`,
``random_state`` = seed, ``n_jobs`` = ``--threads``), ``lof``
(``novelty=True``), ``pca`` (32 components), ``iforest`` and ``pyod-ae``
(PyOD's AutoEncoder, default parameters; left out, with a note, when PyOD
does not import).

Writes ``<out>/corruption.md`` (corruption x method AUROC, the mean, fit
seconds) and ``<out>/corruption.csv`` (one row per corruption, method and
seed).

Command lines (from the repository root)::

    python benchmarks/corruption.py --threads 2
    python benchmarks/corruption.py --threads 2 --seeds 3
    python benchmarks/corruption.py --corruptions fog zigzag --methods skcae pca
    python benchmarks/corruption.py --quick --max-epochs 1 --threads 1 --out /tmp/b
"""

import argparse
import time

import numpy as np
from _common import (
    add_common_arguments,
    add_mnist_argument,
    environment_lines,
    load_mnist_split,
    md_table,
    mean_std,
    set_threads,
    uptime,
    write_csv,
)
from _corruptions import CORRUPTIONS, corruption_generator
from _methods import (
    SKCAE_DEFAULT_NOTE,
    SkcaeDefault,
    make_method,
    method_notes,
    warm_up_methods,
)

METHODS = ("skcae", "lof", "pca", "iforest", "pyod-ae")
QUICK_TRAIN = 300  # --quick: training images
QUICK_TEST = 400  # --quick: test images (half clean, half corrupted)
FIELDS = [
    "corruption", "method", "seed", "n_train", "n_normal", "n_outliers",
    "auroc", "fit_s", "score_s", "n_iter", "torch_threads",
]  # fmt: skip


def make(name, seed, args):
    if name == "skcae":
        return SkcaeDefault(seed, args.threads, dict(args.skcae_params))
    return make_method(name, seed, cache=None)


def test_sets(X_test, corruptions, seed, n_test=None):
    """(clean half, {corruption: corrupted other half}) of the test set."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X_test))[:n_test]
    half = len(order) // 2
    clean = X_test[np.sort(order[:half])]
    source = X_test[np.sort(order[half:])]
    corrupted = {}
    for name in corruptions:
        t0 = time.perf_counter()
        corrupted[name] = CORRUPTIONS[name](source, corruption_generator(name, seed))
        print(f"[seed {seed}] {name}: {time.perf_counter() - t0:.1f}s", flush=True)
    return clean, corrupted


def run(args, X_train, X_test, methods):
    from sklearn.metrics import roc_auc_score

    rows = []
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        n = min(args.n_train, len(X_train))
        X_fit = X_train[np.sort(rng.choice(len(X_train), n, replace=False))]
        clean, corrupted = test_sets(X_test, args.corruptions, seed, args.n_test)
        for name in methods:
            method = make(name, seed, args)
            t0 = time.perf_counter()
            method.fit(X_fit)
            fit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            normal_scores = method.score_samples(clean)
            score_s = time.perf_counter() - t0
            print(
                f"[seed {seed}] {name:<8s} fit {fit_s:7.1f}s  "
                f"score {len(clean)} clean {score_s:.2f}s",
                flush=True,
            )
            for corruption, X_out in corrupted.items():
                t0 = time.perf_counter()
                outlier_scores = method.score_samples(X_out)
                s = time.perf_counter() - t0
                y = np.r_[np.zeros(len(clean)), np.ones(len(X_out))]
                auroc = roc_auc_score(y, -np.r_[normal_scores, outlier_scores])
                rows.append(
                    {
                        "corruption": corruption,
                        "method": name,
                        "seed": seed,
                        "n_train": len(X_fit),
                        "n_normal": len(clean),
                        "n_outliers": len(X_out),
                        "auroc": auroc,
                        "fit_s": fit_s,
                        "score_s": s,
                        **method.info,
                    }
                )
                print(f"    {corruption:<14s} AUROC {auroc:.4f}", flush=True)
    return rows


def _mean(rows, method, key, corruption=None, seed=None):
    values = [
        r[key]
        for r in rows
        if r["method"] == method
        and (corruption is None or r["corruption"] == corruption)
        and (seed is None or r["seed"] == seed)
    ]
    return float(np.mean(values)) if values else float("nan")


def markdown(rows, methods, corruptions, header):
    seeds = sorted({r["seed"] for r in rows})
    body = [
        [c, *(f"{_mean(rows, m, 'auroc', c):.3f}" for m in methods)]
        for c in corruptions
    ]
    means = {m: [_mean(rows, m, "auroc", seed=s) for s in seeds] for m in methods}
    body.append(["**mean**", *(f"**{mean_std(means[m], '.3f')}**" for m in methods)])
    top = {c: max(_mean(rows, m, "auroc", c) for m in methods) for c in corruptions}
    wins = [
        f"{m} {sum(_mean(rows, m, 'auroc', c) == top[c] for c in corruptions)}"
        f"/{len(corruptions)}"
        for m in methods
    ]
    fit = [["fit s", *(f"{_mean(rows, m, 'fit_s'):.1f}" for m in methods)]]
    lines = ["# Corruption benchmark: clean MNIST against corrupted MNIST", ""]
    lines += [*header, ""]
    lines += [
        "## AUROC (corrupted images = positive class), mean over seeds",
        "",
        *md_table(["corruption", *methods], body),
        "Best AUROC per corruption (ties count for each tied method): "
        + ", ".join(wins)
        + ".",
        "",
        "## Fit seconds (one fit per seed), mean over seeds",
        "",
        *md_table(["", *methods], fit),
    ]
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Clean MNIST (normal) against MNIST-C style corruptions "
        "of held-out test images (outliers); AUROC per corruption."
    )
    add_mnist_argument(p)
    p.add_argument(
        "--corruptions",
        nargs="+",
        choices=list(CORRUPTIONS),
        default=list(CORRUPTIONS),
        help="corruptions to test (default: all 15)",
    )
    p.add_argument(
        "--n-train",
        type=int,
        default=10_000,
        help="training images, a seeded random subsample of all ten digits "
        "(default: %(default)s)",
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
        help=f"a smoke test: {QUICK_TRAIN} training and {QUICK_TEST} test images",
    )
    add_common_arguments(p, METHODS, METHODS, "all")
    args = p.parse_args(argv)
    args.n_test = QUICK_TEST if args.quick else None
    if args.quick:
        args.n_train = min(args.n_train, QUICK_TRAIN)
    if args.max_epochs is not None:
        args.skcae_params["max_epochs"] = args.max_epochs
    return args


def main(argv=None):
    args = parse_args(argv)
    set_threads(args.threads)
    methods = list(dict.fromkeys(args.methods))
    notes = method_notes(methods, SKCAE_DEFAULT_NOTE)  # drops pyod-ae if missing
    if "canny_edges" in args.corruptions:
        try:
            import skimage.feature  # noqa: F401
        except ImportError as exc:
            args.corruptions.remove("canny_edges")
            notes.append(f"canny_edges skipped: scikit-image does not import ({exc}).")
    X_train, _ = load_mnist_split(args.mnist_path, "train")
    X_test, _ = load_mnist_split(args.mnist_path, "test")
    n_test = len(X_test) if args.n_test is None else args.n_test
    args.out.mkdir(parents=True, exist_ok=True)
    header = [
        f"Train on {args.n_train} random clean training images (all digits, "
        f"seeded by the seed); test: {n_test // 2} clean test images against "
        f"the other {n_test - n_test // 2} test images (a disjoint random half) "
        f"under each corruption; seeds 0..{args.seeds - 1}"
        + ("; **--quick**" if args.quick else "")
        + ".",
        *environment_lines(args.threads, args.threads),
    ]
    if args.skcae_params:
        header.append(f"Extra skcae parameters: {args.skcae_params}.")
    header += notes
    header.append(
        "Corruptions: benchmarks/_corruptions.py (after MNIST-C, Mu and Gilmer "
        "2019; one fixed severity each). lof: novelty=True, n_neighbors=20; "
        "pca: 32 components."
    )
    print("\n".join(header), flush=True)

    warm_up_methods(methods, lambda name: make(name, 0, args), X_train[:64])
    rows = run(args, X_train, X_test, methods)
    header.append(f"`uptime` at the end: `{uptime()}`.")
    write_csv(rows, args.out / "corruption.csv", FIELDS)
    text = markdown(rows, methods, args.corruptions, header)
    (args.out / "corruption.md").write_text(text + "\n")
    print()
    print(text)
    print(f"\nwrote {args.out / 'corruption.md'} and corruption.csv")


if __name__ == "__main__":
    main()
