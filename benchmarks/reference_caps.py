"""How many kNN references: the hybrid AUROC and costs at several caps.

The protocol of ``selection.py``: the MNIST *training* set split 80/20
(seed 0); the default detector trains on the normal digits of the 80% and
scores the 20% (never the MNIST test set). Tasks: ``sc04`` (digits 0-4
normal) and ``loo<d>`` (all digits but ``d`` normal). The network of each
task is trained once and cached (``joblib.Memory``); for each cap of
``--caps`` only the score is refitted, with ``skcae._tuning``'s
``MAX_REFERENCES`` patched to that cap (the references are then a seeded
random draw of that many training rows). Prints, per task and cap, the
AUROC (outliers positive), the fit seconds (network cached: the score's
fit, the hold-out scored) and the seconds to score the 12,000 validation
images; writes ``<out>/reference_caps.md``.

    python benchmarks/reference_caps.py --threads 2
    python benchmarks/reference_caps.py --tasks sc04 --caps 10000 30000 --threads 2
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import (
    RESULTS,
    add_mnist_argument,
    environment_lines,
    load_mnist_split,
    set_threads,
    uptime,
)
from joblib import Memory
from sklearn.metrics import roc_auc_score

import skcae._outlier
import skcae._safe_files
from skcae import ConvAutoencoderOutlierDetector


def split_task(task, X, y):
    """(X_fit, X_valid, y_valid outlier) of a task on the 80/20 split."""
    perm = np.random.RandomState(0).permutation(len(X))
    cut = int(0.8 * len(X))
    fit, valid = perm[:cut], perm[cut:]
    if task == "sc04":
        normal, outlier = y[fit] < 5, y[valid] >= 5
    else:
        digit = int(task[3:])
        normal, outlier = y[fit] != digit, y[valid] == digit
    return X[fit][normal][:, None], X[valid][:, None], outlier


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_mnist_argument(p)
    p.add_argument("--tasks", nargs="+", default=["sc04", "loo9", "loo7"])
    p.add_argument("--caps", type=int, nargs="+", default=[10_000, 30_000, 60_000])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path, default=RESULTS)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    set_threads(args.threads)
    X, y = load_mnist_split(args.mnist_path, "train")
    lines = ["# kNN reference caps on a validation split of MNIST's training set", ""]
    lines += environment_lines(args.threads, args.threads) + [""]
    lines += ["| task | training images | cap | AUROC | fit s | score s |"]
    lines += ["|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as cache:
        for task in args.tasks:
            X_fit, X_valid, outlier = split_task(task, X, y)
            memory = Memory(Path(cache, task), verbose=0)
            params = dict(random_state=0, n_jobs=args.threads, memory=memory)
            ConvAutoencoderOutlierDetector(**params).fit(X_fit)  # the network
            for cap in args.caps:
                skcae._outlier.MAX_REFERENCES = cap
                skcae._safe_files.MAX_REFERENCES = max(cap, 10_000)
                start = time.perf_counter()
                det = ConvAutoencoderOutlierDetector(**params).fit(X_fit)
                fit_s = time.perf_counter() - start
                start = time.perf_counter()
                scores = det.score_samples(X_valid)
                score_s = time.perf_counter() - start
                auroc = roc_auc_score(outlier, -scores)
                row = f"| {task} | {len(X_fit)} | {cap} | {auroc:.4f} | "
                row += f"{fit_s:.1f} | {score_s:.2f} |"
                print(row, flush=True)
                lines.append(row)
    lines += ["", f"`uptime` at the end: `{uptime()}`."]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reference_caps.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'reference_caps.md'}")


if __name__ == "__main__":
    main()
