"""Several-class benchmark: normal data made of several MNIST digits.

Tasks (``--tasks``):

* ``0to4``: "0-4 vs 5-9": train on training images of digits 0-4, score the
  whole test set; digits 5-9 are the outliers.
* ``not0`` .. ``not9``: "all but d" (leave one digit out): train on the
  training images of the other nine digits, score the whole test set; digit
  d is the outlier.

The training images of the normal digits are subsampled to ``--n-train``
(default 10,000; drawn with seed = the run's seed, so every seed sees its
own subsample) to bound the fit time. AUROC with the outliers as the
positive class (the same number as the normal class ranked by
``score_samples``). Nothing is tuned on the test set.

Methods (``benchmarks/_methods.py``): ``skcae`` (the default
:class:`~skcae.ConvAutoencoderOutlierDetector`, only ``random_state`` = seed
and ``n_jobs`` = ``--threads`` set), ``lof`` (``novelty=True``, 20
neighbours), ``pca`` (reconstruction error, 32 components), ``iforest`` and
``pyod-ae`` (PyOD's AutoEncoder with default parameters; left out, with a
note, when PyOD does not import).

Writes ``<out>/several_class.md`` (task x method AUROC, mean over seeds,
with the mean over the ten leave-one-out tasks; fit seconds) and
``<out>/several_class.csv`` (one row per task, method and seed).

Command lines (from the repository root)::

    python benchmarks/several_class.py --threads 2                 # all 11 tasks
    python benchmarks/several_class.py --threads 2 --seeds 3
    python benchmarks/several_class.py --tasks 0to4 not3 --methods skcae lof
    python benchmarks/several_class.py --quick --max-epochs 1 --threads 1 --out /tmp/b
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
from _methods import (
    SKCAE_DEFAULT_NOTE,
    SkcaeDefault,
    make_method,
    method_notes,
    warm_up_methods,
)

METHODS = ("skcae", "lof", "pca", "iforest", "pyod-ae")
TASKS = ("0to4", *(f"not{d}" for d in range(10)))
LOO = tuple(t for t in TASKS if t.startswith("not"))
QUICK_TASKS = ("0to4", "not0")
QUICK_TRAIN = 300  # --quick: training images per task
QUICK_TEST = 1000  # --quick: test images (random subsample)
FIELDS = [
    "task", "method", "seed", "n_train", "n_test", "n_outliers", "auroc",
    "fit_s", "score_s", "n_iter", "torch_threads",
]  # fmt: skip


def task_label(task):
    """'0-4 vs 5-9' or 'all but d'."""
    return "0-4 vs 5-9" if task == "0to4" else f"all but {task[3:]}"


def normal_digits(task):
    if task == "0to4":
        return [0, 1, 2, 3, 4]
    return [d for d in range(10) if d != int(task[3:])]


def make(name, seed, args):
    if name == "skcae":
        return SkcaeDefault(seed, args.threads, dict(args.skcae_params))
    return make_method(name, seed, cache=None)


def run(args, X_train, y_train, X_test, y_test, methods):
    from sklearn.metrics import roc_auc_score

    rows = []
    for seed in range(args.seeds):
        for task in args.tasks:
            pool = np.flatnonzero(np.isin(y_train, normal_digits(task)))
            rng = np.random.default_rng(seed)
            n = min(args.n_train, len(pool))
            X_fit = X_train[np.sort(rng.choice(pool, n, replace=False))]
            is_outlier = (~np.isin(y_test, normal_digits(task))).astype(int)
            for name in methods:
                method = make(name, seed, args)
                t0 = time.perf_counter()
                method.fit(X_fit)
                fit_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                scores = method.score_samples(X_test)
                score_s = time.perf_counter() - t0
                row = {
                    "task": task,
                    "method": name,
                    "seed": seed,
                    "n_train": len(X_fit),
                    "n_test": len(X_test),
                    "n_outliers": int(is_outlier.sum()),
                    # outliers positive: rank by minus score_samples
                    "auroc": roc_auc_score(is_outlier, -scores),
                    "fit_s": fit_s,
                    "score_s": score_s,
                    **method.info,
                }
                rows.append(row)
                print(
                    f"[seed {seed}] {task_label(task):<11s} {name:<8s} "
                    f"AUROC {row['auroc']:.4f}  fit {fit_s:7.1f}s  "
                    f"score {score_s:6.2f}s",
                    flush=True,
                )
    return rows


def _mean(rows, method, key, task=None, seed=None):
    values = [
        r[key]
        for r in rows
        if r["method"] == method
        and (task is None or r["task"] == task)
        and (seed is None or r["seed"] == seed)
    ]
    return float(np.mean(values)) if values else float("nan")


def table(rows, methods, tasks, key, fmt):
    """Task x method (mean over seeds), plus the mean over the leave-one-out
    tasks (mean ± std over seeds when several)."""
    body = [
        [task_label(t), *(format(_mean(rows, m, key, t), fmt) for m in methods)]
        for t in tasks
    ]
    loo = [t for t in tasks if t in LOO]
    if len(loo) > 1:
        seeds = sorted({r["seed"] for r in rows})
        cells = []
        for m in methods:
            per_seed = [
                np.mean([_mean(rows, m, key, t, s) for t in loo]) for s in seeds
            ]
            cells.append(f"**{mean_std(per_seed, fmt)}**")
        body.append([f"**mean of all-but-d ({len(loo)} tasks)**", *cells])
    return md_table(["task", *methods], body)


def markdown(rows, methods, tasks, header):
    lines = ["# Several-class benchmark: MNIST", "", *header, ""]
    lines += ["## AUROC (outliers = positive class), mean over seeds", ""]
    lines += table(rows, methods, tasks, "auroc", ".3f")
    lines += ["## Fit seconds, mean over seeds", ""]
    lines += table(rows, methods, tasks, "fit_s", ".1f")
    lines += ["## Seconds to score the test set, mean over seeds", ""]
    lines += table(rows, methods, tasks, "score_s", ".2f")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Several-class MNIST benchmark: 0-4 vs 5-9 and "
        "leave-one-digit-out (AUROC)."
    )
    add_mnist_argument(p)
    p.add_argument(
        "--tasks",
        nargs="+",
        choices=TASKS,
        default=None,
        help="0to4 (0-4 vs 5-9) and/or notD (all but D); default: all 11 "
        f"({', '.join(QUICK_TASKS)} with --quick)",
    )
    p.add_argument(
        "--n-train",
        type=int,
        default=10_000,
        help="training images per task, a seeded random subsample of the "
        "normal digits (default: %(default)s)",
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
        help=f"a smoke test: tasks {' and '.join(QUICK_TASKS)}, {QUICK_TRAIN} "
        f"training and {QUICK_TEST} test images",
    )
    add_common_arguments(p, METHODS, METHODS, "all")
    args = p.parse_args(argv)
    if args.tasks is None:
        args.tasks = list(QUICK_TASKS if args.quick else TASKS)
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
    X_train, y_train = load_mnist_split(args.mnist_path, "train")
    X_test, y_test = load_mnist_split(args.mnist_path, "test")
    if args.quick:
        keep = np.sort(np.random.default_rng(0).choice(len(X_test), QUICK_TEST, False))
        X_test, y_test = X_test[keep], y_test[keep]
    args.out.mkdir(parents=True, exist_ok=True)
    header = [
        f"Train on a random subsample of {args.n_train} training images of the "
        f"normal digits (seeded by the seed), score {len(X_test)} test images; "
        f"seeds 0..{args.seeds - 1}" + ("; **--quick**" if args.quick else "") + ".",
        *environment_lines(args.threads, args.threads),
    ]
    if args.skcae_params:
        header.append(f"Extra skcae parameters: {args.skcae_params}.")
    header += notes
    header.append("lof: novelty=True, n_neighbors=20; pca: 32 components.")
    print("\n".join(header), flush=True)

    warm_up_methods(methods, lambda name: make(name, 0, args), X_train[:64])
    rows = run(args, X_train, y_train, X_test, y_test, methods)
    header.append(f"`uptime` at the end: `{uptime()}`.")
    write_csv(rows, args.out / "several_class.csv", FIELDS)
    text = markdown(rows, methods, args.tasks, header)
    (args.out / "several_class.md").write_text(text + "\n")
    print()
    print(text)
    print(f"\nwrote {args.out / 'several_class.md'} and several_class.csv")


if __name__ == "__main__":
    main()
