"""Contaminated one-class MNIST: a few outliers hidden in the training set.

For every digit d (``--digits``) and rate r (``--rates``, default 0.01,
0.05, 0.10) the training set is all training images of d plus
``round(r / (1 - r) * n_d)`` images drawn at random from the other digits'
training images, so that r is the share of outliers in the training set
(drawn with ``np.random.default_rng([seed, d, round(1000 * r)])``). The
whole MNIST test set is scored with d as the normal class; AUROC with the
outliers as the positive class.

Methods: ``skcae`` (the default :class:`~skcae.ConvAutoencoderOutlierDetector`,
``contamination="auto"``), ``skcae-rate`` (the same with ``contamination=r``,
the true rate: its first network comes from a :class:`joblib.Memory` cache
of the ``skcae`` fit, and where r names at least 250 outliers in X it
trains a second one without the most outlying training images, r plus a
margin of up to r as X's size allows), ``lof`` (``novelty=True``),
``pca`` (32 components), ``iforest`` and, on request, ``pyod-ae``. For
both skcae variants the report also gives the share of the test's normal
images and of its outliers that ``predict`` flags (-1), and for every rate
whether their mean AUROC over digits is at least the best baseline's.

Writes ``<out>/contamination.md`` and ``<out>/contamination.csv`` (one row
per digit, rate, method and seed).

Command lines (from the repository root)::

    python benchmarks/contamination.py --threads 2                # 10 digits x 3 rates
    python benchmarks/contamination.py --threads 2 --digits 2 8 --rates 0.05
    python benchmarks/contamination.py --threads 2 --digits 2 6 8 --rates 0.05 0.1 \
        --n-train 300 --out /tmp/b                          # a small training set
    python benchmarks/contamination.py --quick --max-epochs 1 --threads 1 --out /tmp/b
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
    signed,
    uptime,
    write_csv,
)
from _methods import Skcae, SkcaeCache, make_method, method_notes, skcae_maker

SKCAE = ("skcae", "skcae-rate")
BASELINES = ("lof", "pca", "iforest", "pyod-ae")
METHODS = (*SKCAE, *BASELINES)
DEFAULT_METHODS = ("skcae", "skcae-rate", "lof", "pca", "iforest")
QUICK_DIGITS = (1, 7)
QUICK_TRAIN = 300  # --quick: normal training images per digit
QUICK_TEST = 1000  # --quick: test images (random subsample)
FIELDS = [
    "digit", "rate", "method", "seed", "n_normal_train", "n_outlier_train",
    "n_test", "auroc", "flag_normal", "flag_outlier", "fit_s", "score_s",
    "fit_kind", "n_iter", "torch_threads",
]  # fmt: skip
NOTE = (
    "skcae = ConvAutoencoderOutlierDetector with its defaults "
    "(contamination='auto'), random_state=seed, n_jobs=--threads; skcae-rate = "
    "the same with contamination=r (the true rate): its first network from a "
    "joblib.Memory cache of the skcae fit; where r names at least 250 outliers "
    "in X (RETRAIN_MIN_OUTLIERS), a second trained without the most outlying "
    "training images (r plus a margin of up to r, as X's size allows, and "
    "at least 5% since 1a15b5e; the same share is left out of its references)."
)


def training_set(X_train, y_train, digit, rate, seed, n_normal=None):
    """All (or the first ``n_normal``) training images of ``digit`` plus
    ``round(rate / (1 - rate) * n_d)`` random images of the other digits."""
    normal = np.flatnonzero(y_train == digit)[:n_normal]
    others = np.flatnonzero(y_train != digit)
    k = int(round(rate / (1 - rate) * len(normal)))
    rng = np.random.default_rng([seed, digit, int(round(1000 * rate))])
    outliers = np.sort(rng.choice(others, k, replace=False))
    return X_train[np.concatenate([normal, outliers])], len(normal), k


def make(name, seed, rate, cache):
    if name == "skcae":
        return Skcae(None, seed, cache)
    if name == "skcae-rate":
        return Skcae(None, seed, cache, params={"contamination": rate})
    return make_method(name, seed, cache)


def run(args, X_train, y_train, X_test, y_test, methods):
    from sklearn.metrics import roc_auc_score

    cache = SkcaeCache(skcae_maker(args.threads, False, args.skcae_params))
    rows = []
    try:
        for name in methods:  # warm-up, untimed: imports and first calls
            if name not in SKCAE:
                make(name, 0, 0.05, cache).fit(X_train[:64]).score_samples(X_test[:8])
        if set(methods) & set(SKCAE):
            warm = Skcae(None, 0, cache, params={"max_epochs": 1})
            warm.fit(X_train[:64]).score_samples(X_test[:8])
        for seed in range(args.seeds):
            for digit in args.digits:
                is_outlier = y_test != digit
                for rate in args.rates:
                    cache.task()
                    X_fit, n_normal, k = training_set(
                        X_train, y_train, digit, rate, seed, args.n_normal
                    )
                    for name in methods:
                        method = make(name, seed, rate, cache)
                        t0 = time.perf_counter()
                        method.fit(X_fit)
                        fit_s = time.perf_counter() - t0
                        t0 = time.perf_counter()
                        scores = method.score_samples(X_test)
                        score_s = time.perf_counter() - t0
                        row = {
                            "digit": digit,
                            "rate": rate,
                            "method": name,
                            "seed": seed,
                            "n_normal_train": n_normal,
                            "n_outlier_train": k,
                            "n_test": len(X_test),
                            "auroc": roc_auc_score(is_outlier, -scores),
                            "fit_s": fit_s,
                            "score_s": score_s,
                            **method.info,
                        }
                        if name in SKCAE:
                            flagged = method.detector_.predict(X_test) == -1
                            row["flag_normal"] = float(flagged[~is_outlier].mean())
                            row["flag_outlier"] = float(flagged[is_outlier].mean())
                        rows.append(row)
                        flags = (
                            f"  flags normal {row['flag_normal']:.3f} "
                            f"outliers {row['flag_outlier']:.3f} [{row['fit_kind']}]"
                            if name in SKCAE
                            else ""
                        )
                        print(
                            f"[seed {seed}] digit {digit} rate {rate:.2f} "
                            f"({k} outliers) {name:<10s} AUROC {row['auroc']:.4f}  "
                            f"fit {fit_s:6.1f}s  score {score_s:5.2f}s{flags}",
                            flush=True,
                        )
    finally:
        cache.close()
    return rows


# -- reporting ----------------------------------------------------------------
def _values(rows, method, key, rate, digit=None, seed=None):
    return [
        r[key]
        for r in rows
        if r["method"] == method
        and r["rate"] == rate
        and (digit is None or r["digit"] == digit)
        and (seed is None or r["seed"] == seed)
    ]


def _mean(*a, **k):
    values = _values(*a, **k)
    return float(np.mean(values)) if values else float("nan")


def _over_seeds(rows, method, key, rate):
    """The mean over digits of each seed."""
    seeds = sorted({r["seed"] for r in rows})
    return [_mean(rows, method, key, rate, seed=s) for s in seeds]


def auroc_table(rows, methods, digits, rate):
    body = [
        [d, *(f"{_mean(rows, m, 'auroc', rate, d):.3f}" for m in methods)]
        for d in digits
    ]
    body.append(
        [
            "**mean**",
            *(
                f"**{mean_std(_over_seeds(rows, m, 'auroc', rate), '.3f')}**"
                for m in methods
            ),
        ]
    )
    return md_table(["digit", *methods], body)


def summary_table(rows, methods, rates):
    """Mean AUROC per rate; best baseline; skcae variants against it."""
    baselines = [m for m in methods if m in BASELINES]
    present = [m for m in methods if m in SKCAE]
    header = ["rate", *methods]
    if baselines:
        header.append("best baseline")
        header += [f"{m} ≥ best?" for m in present]
    body = []
    for rate in rates:
        means = {m: _mean(rows, m, "auroc", rate) for m in methods}
        cells = [f"{rate:.2f}", *(f"{means[m]:.3f}" for m in methods)]
        if baselines:
            best = max(baselines, key=lambda m: means[m])
            cells.append(f"{best} {means[best]:.3f}")
            for m in present:
                diff = means[m] - means[best]
                verdict = "**yes**" if diff >= 0 else "no"
                cells.append(f"{verdict} ({signed(diff)})")
        body.append(cells)
    return md_table(header, body)


def flag_table(rows, methods, digits, rates):
    """Share of test normal images / outliers that predict flags, per digit."""
    present = [m for m in methods if m in SKCAE]
    header = ["digit"]
    for rate in rates:
        for m in present:
            label = "auto" if m == "skcae" else "true rate"
            header.append(f"r={rate:.2f} {label}: normal / outliers")
    body = []
    for d in [*digits, None]:
        cells = ["**mean**" if d is None else d]
        for rate in rates:
            for m in present:
                normal = _mean(rows, m, "flag_normal", rate, d)
                outlier = _mean(rows, m, "flag_outlier", rate, d)
                cells.append(f"{100 * normal:.1f}% / {100 * outlier:.1f}%")
        body.append(cells)
    return md_table(header, body)


def markdown(rows, methods, digits, rates, header):
    lines = ["# Contaminated one-class MNIST", "", *header, ""]
    lines += [
        "## Mean AUROC over digits per rate, against the best baseline",
        "",
        "AUROC with the test's other digits as the positive class, mean over "
        "digits (and seeds); best baseline = the baseline with the highest "
        "mean at that rate.",
        "",
        *summary_table(rows, methods, rates),
    ]
    if any(m in SKCAE for m in methods):
        lines += [
            "## Share of the test set that skcae's predict flags (-1)",
            "",
            "normal / outliers: the share of the test's normal images (the "
            "digit) and of its outliers (the other digits) flagged; auto = "
            "contamination='auto', true rate = contamination=r.",
            "",
            *flag_table(rows, methods, digits, rates),
        ]
    for rate in rates:
        n_out = sorted({r["n_outlier_train"] for r in rows if r["rate"] == rate})
        lines += [
            f"## AUROC per digit, rate {rate:.2f}",
            "",
            "Outliers in the training set: "
            + (f"{n_out[0]}" if len(n_out) == 1 else f"{n_out[0]}-{n_out[-1]}")
            + " images.",
            "",
            *auroc_table(rows, methods, digits, rate),
        ]
    fit = [
        [f"{rate:.2f}", *(f"{_mean(rows, m, 'fit_s', rate):.1f}" for m in methods)]
        for rate in rates
    ]
    lines += ["## Mean fit seconds per rate", "", *md_table(["rate", *methods], fit)]
    return "\n".join(lines)


# -- main ---------------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="One-class MNIST with outliers in the training set "
        "(AUROC, predict's flag rates)."
    )
    add_mnist_argument(p)
    p.add_argument(
        "--digits",
        type=int,
        nargs="+",
        default=None,
        help="normal digits (default: all ten; "
        f"{' '.join(map(str, QUICK_DIGITS))} with --quick)",
    )
    p.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=[0.01, 0.05, 0.10],
        help="shares of outliers in the training set (default: %(default)s)",
    )
    p.add_argument(
        "--max-epochs",
        type=int,
        default=None,
        help="skcae's max_epochs, for trial runs only (default: the detector's)",
    )
    p.add_argument(
        "--n-train",
        type=int,
        default=None,
        help="train on the first N training images of the digit (plus the "
        "outliers at the rate), not all of them: small sets",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke test: digits {QUICK_DIGITS}, the first {QUICK_TRAIN} "
        f"training images of the digit, {QUICK_TEST} test images",
    )
    add_common_arguments(p, METHODS, DEFAULT_METHODS, " ".join(DEFAULT_METHODS))
    args = p.parse_args(argv)
    if args.digits is None:
        args.digits = list(QUICK_DIGITS if args.quick else range(10))
    if any(not 0 < r < 1 for r in args.rates):
        p.error("--rates must lie strictly between 0 and 1")
    if args.n_train is not None and (args.quick or args.n_train < 1):
        p.error("--n-train takes a positive number, and not with --quick")
    args.n_normal = QUICK_TRAIN if args.quick else args.n_train
    if args.max_epochs is not None:
        args.skcae_params["max_epochs"] = args.max_epochs
    return args


def main(argv=None):
    args = parse_args(argv)
    set_threads(args.threads)
    methods = list(dict.fromkeys(args.methods))
    notes = method_notes(methods, NOTE)  # drops pyod-ae when PyOD does not import
    X_train, y_train = load_mnist_split(args.mnist_path, "train")
    X_test, y_test = load_mnist_split(args.mnist_path, "test")
    if args.quick:
        keep = np.sort(np.random.default_rng(0).choice(len(X_test), QUICK_TEST, False))
        X_test, y_test = X_test[keep], y_test[keep]
    args.out.mkdir(parents=True, exist_ok=True)
    header = [
        "Train on "
        + ("all" if args.n_normal is None else f"the first {args.n_normal}")
        + " training images of the digit plus round(r/(1-r) n_d) random "
        f"images of the other digits; score {len(X_test)} test images; rates "
        f"{', '.join(f'{r:.2f}' for r in args.rates)}; seeds 0..{args.seeds - 1}"
        + ("; **--quick**" if args.quick else "")
        + ".",
        *environment_lines(args.threads, args.threads),
    ]
    if args.skcae_params:
        header.append(f"Extra skcae parameters: {args.skcae_params}.")
    header += notes
    header.append("lof: novelty=True, n_neighbors=20; pca: 32 components.")
    print("\n".join(header), flush=True)

    rows = run(args, X_train, y_train, X_test, y_test, methods)
    header.append(f"`uptime` at the end: `{uptime()}`.")
    write_csv(rows, args.out / "contamination.csv", FIELDS)
    text = markdown(rows, methods, args.digits, args.rates, header)
    (args.out / "contamination.md").write_text(text + "\n")
    print()
    print(text)
    print(f"\nwrote {args.out / 'contamination.md'} and contamination.csv")


if __name__ == "__main__":
    main()
