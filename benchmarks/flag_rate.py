"""What contamination="auto" flags on *new* normal data (target: about 1%).

For each MNIST digit given, fit the default detector on ``--n`` training
images of that digit (all of them by default) and report the fraction of
that digit's *test* images (normal data the detector never saw) that
``predict`` flags, and the AUROC on the whole test set. ``--skcae PATH``
imports skcae from another checkout (e.g. an older commit in a git
worktree) to compare versions in the same run.

    python benchmarks/flag_rate.py --digits 1 3 8
    python benchmarks/flag_rate.py --digits 1 3 8 --n 100 --seeds 0 1 2
    git worktree add /tmp/old <commit> && \\
        python benchmarks/flag_rate.py --skcae /tmp/old --digits 1 3 8
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, nargs="+", default=[1, 3, 8])
    parser.add_argument("--n", type=int, default=None, help="training images")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skcae", default=str(ROOT), help="checkout to import")
    parser.add_argument(
        "--mnist-path",
        default=os.environ.get("SKCAE_MNIST", str(ROOT.parent / "shared/data/mnist")),
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, args.skcae)

    import torch
    from sklearn.metrics import roc_auc_score

    torch.set_num_threads(args.threads)
    import skcae
    from skcae.datasets import load_mnist

    X, y = load_mnist(args.mnist_path, subset="train", return_X_y=True)
    X_test, y_test = load_mnist(args.mnist_path, subset="test", return_X_y=True)
    print(f"skcae {skcae.__version__} from {Path(skcae.__file__).parent}")
    print(
        f"torch {torch.__version__}, {args.threads} thread(s); load "
        f"{os.getloadavg()[0]:.2f}; n={args.n or 'all'}\n"
    )
    print("| digit | seed | n train | flagged held-out normal | AUROC | fit s |")
    print("|---|---|---|---|---|---|")
    rates = []
    for digit in args.digits:
        for seed in args.seeds:
            train = X[y == digit]
            if args.n is not None:
                rng = np.random.RandomState(seed)
                train = train[rng.choice(len(train), args.n, replace=False)]
            start = time.perf_counter()
            det = skcae.ConvAutoencoderOutlierDetector(random_state=seed).fit(train)
            seconds = time.perf_counter() - start
            normal = X_test[y_test == digit]
            rate = float(np.mean(det.predict(normal) == -1))
            auroc = roc_auc_score(y_test == digit, det.score_samples(X_test))
            rates.append(rate)
            print(
                f"| {digit} | {seed} | {len(train)} | {100 * rate:.2f}% | "
                f"{auroc:.4f} | {seconds:.1f} |",
                flush=True,
            )
    print(f"\nmean flagged: {100 * np.mean(rates):.2f}% (target 1%)")


if __name__ == "__main__":
    main()
