"""Small images: scikit-learn's 8x8 digits as users have them.

The MNIST benchmarks (``several_class.py``, ``contamination.py``,
``corruption.py``) at the size of scikit-learn's own digits, which ship with
scikit-learn and are what a quick test or tutorial uses. The 1,797 images
(scaled to [0, 1]) are split once at random (seed 0) into 1,200 training
and 597 evaluation images: a validation split, the one the default's
density features for small images were chosen on (there is no test set
apart). Tasks (AUROC, normal class positive):

* ``several``: digits 0-4 normal, 5-9 outliers; ``all but d``: nine
  digits normal, the tenth the outlier (ten tasks);
* ``one class``: one digit normal, every other an outlier (ten tasks);
* ``contaminated r``: one digit's training images plus ``r`` of other
  digits (5% and 10%), each digit; skcae with ``contamination="auto"`` and
  with the true rate (``skcae-rate``);
* ``corrupted``: trained on all ten digits, the clean evaluation images
  against corrupted copies of them (``_corruptions.py``, after MNIST-C;
  ``canny_edges`` left out without scikit-image).

Methods: ``skcae`` (defaults, ``random_state=0``), ``lof``
(``novelty=True``), ``iforest``, ``pca`` (16 of the 64 components).
``--side 16`` upsamples the digits (bilinear) to 16x16.

Writes ``<out>/small_images[_<side>].md`` and ``.csv``::

    python benchmarks/small_images.py --threads 2
    python benchmarks/small_images.py --threads 2 --side 16
    python benchmarks/small_images.py --families several --out /tmp/b
    python benchmarks/small_images.py --term-weights '{"density": 6, "range": 6}'
"""

import argparse
import json
import os
import time

import numpy as np
from _common import RESULTS, environment_lines, md_table, set_threads, uptime, write_csv
from _corruptions import CORRUPTIONS, corruption_generator
from _methods import Flat, PCAReconstruction

FAMILIES = ("several", "one class", "contaminated", "corrupted")
RATES = (0.05, 0.10)
N_TRAIN = 1200


def digits(side):
    """Images (n, side, side) in [0, 1] and labels."""
    from scipy import ndimage
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8) / 16.0
    if side != 8:
        X = np.clip([ndimage.zoom(x, side / 8, order=1) for x in X], 0, 1)
    return X, y


def tasks(X, y, families):
    """(family, task, training images, evaluation images, is_normal, rate)."""
    perm = np.random.RandomState(0).permutation(len(X))
    tr, ev = perm[:N_TRAIN], perm[N_TRAIN:]
    if "several" in families:
        for name, normal in [("0-4 vs 5-9", y < 5)] + [
            (f"all but {d}", y != d) for d in range(10)
        ]:
            yield "several", name, X[tr[normal[tr]]], X[ev], normal[ev], None
    if "one class" in families:
        for d in range(10):
            n = y == d
            yield "one class", f"digit {d}", X[tr[n[tr]]], X[ev], n[ev], None
    if "contaminated" in families:
        for rate in RATES:
            for d in range(10):
                n = y == d
                own, others = tr[n[tr]], tr[~n[tr]]
                k = int(round(rate / (1 - rate) * len(own)))
                mixed = np.r_[own, np.random.RandomState(d).choice(others, k, False)]
                family = f"contaminated {rate:.0%}"
                yield family, f"digit {d}", X[mixed], X[ev], n[ev], rate
    if "corrupted" in families:
        clean = X[ev].astype(np.float32)
        for name, fn in CORRUPTIONS.items():
            try:
                bad = fn(clean, corruption_generator(name))
            except ImportError:  # canny_edges without scikit-image
                continue
            is_normal = np.r_[np.ones(len(clean), bool), np.zeros(len(bad), bool)]
            yield "corrupted", name, X[tr], np.r_[clean, bad], is_normal, None


def methods(rate, n_jobs):
    from sklearn.ensemble import IsolationForest
    from sklearn.neighbors import LocalOutlierFactor

    from skcae import ConvAutoencoderOutlierDetector

    def skcae(**params):
        return ConvAutoencoderOutlierDetector(random_state=0, n_jobs=n_jobs, **params)

    out = {"skcae": skcae()}
    if rate is not None:
        out["skcae-rate"] = skcae(contamination=rate)
    out["lof"] = Flat(LocalOutlierFactor(novelty=True))
    out["iforest"] = Flat(IsolationForest(random_state=0))
    out["pca"] = PCAReconstruction(16, random_state=0)
    return out


def main():
    from sklearn.metrics import roc_auc_score

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--side", type=int, default=8)
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument(
        "--term-weights",
        type=json.loads,
        default=None,
        help="JSON object of hybrid score term weights patched over "
        'skcae._tuning.TERM_WEIGHTS for the run, e.g. \'{"density": 6, '
        '"range": 6}\' (a candidate measured; the default: none)',
    )
    args = p.parse_args()
    set_threads(args.threads)
    import skcae

    if args.term_weights:
        from skcae import _tuning

        _tuning.TERM_WEIGHTS.update(args.term_weights)  # read at scoring

    # the skcae measured (PYTHONPATH may point at another checkout)
    environment = environment_lines(args.threads, checkout=skcae.__path__[0])
    X, y = digits(args.side)
    rows, fit_seconds = [], {}
    for family, task, train, test, is_normal, rate in tasks(X, y, args.families):
        aucs = {}
        for name, method in methods(rate, args.threads).items():
            start = time.perf_counter()
            method.fit(train if name.startswith("skcae") else train.copy())
            fit_seconds.setdefault(name, []).append(time.perf_counter() - start)
            aucs[name] = roc_auc_score(is_normal, method.score_samples(test))
            rows.append(dict(family=family, task=task, method=name, auroc=aucs[name]))
        print(family, task, {m: round(a, 3) for m, a in aucs.items()}, flush=True)
    names = list(dict.fromkeys(r["method"] for r in rows))
    families = list(dict.fromkeys(r["family"] for r in rows))

    def mean(family, method, task=None):
        values = [
            r["auroc"]
            for r in rows
            if r["family"] == family
            and r["method"] == method
            and (task is None or r["task"] == task)
        ]
        return f"{np.mean(values):.3f}" if values else "-"

    suffix = "" if args.side == 8 else f"_{args.side}"
    lines = [
        f"# Small images: scikit-learn's digits at {args.side}x{args.side}",
        "",
        f"`python benchmarks/small_images.py --side {args.side}"
        + (f" --threads {args.threads}" if args.threads else "")
        + (
            f" --term-weights '{json.dumps(args.term_weights)}'"
            if args.term_weights
            else ""
        )
        + "`",
        "",
        *environment,
        f"`uptime` at the end: `{uptime()}`.",
        "",
        "## Mean AUROC per family (validation split: 1,200 training, 597 "
        "evaluation images)",
        "",
        *md_table(
            ["family", "tasks", *names],
            [
                [
                    f,
                    str(len({r["task"] for r in rows if r["family"] == f})),
                    *[mean(f, m) for m in names],
                ]
                for f in families
            ],
        ),
        "",
        "Mean fit seconds: "
        + ", ".join(f"{m} {np.mean(s):.2f}" for m, s in fit_seconds.items())
        + ".",
        "",
        "## AUROC per task",
        "",
        *md_table(
            ["family", "task", *names],
            [
                [f, t, *[mean(f, m, t) for m in names]]
                for f, t in dict.fromkeys((r["family"], r["task"]) for r in rows)
            ],
        ),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(args.out, exist_ok=True)
    path = f"{args.out}/small_images{suffix}"
    with open(path + ".md", "w") as f:
        f.write(text)
    write_csv(rows, path + ".csv", ["family", "task", "method", "auroc"])


if __name__ == "__main__":
    main()
