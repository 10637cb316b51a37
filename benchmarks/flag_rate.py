"""What contamination="auto" flags on *new* normal data (target: about 1%).

For each MNIST digit given and each training-set size ``--n`` (``all``:
every training image of the digit), fit the default detector and report
the fraction of that digit's *test* images (normal data the detector never
saw) that ``predict`` flags, the AUROC on the whole test set, the number of
networks the fit trained and its seconds. ``--skcae PATH`` imports skcae
from another checkout (e.g. an older commit in a git worktree) to compare
versions; the report is stamped with that checkout's
``git describe --always --dirty``.

    python benchmarks/flag_rate.py --digits 1 3 8 --n 30 100 300 1200 all
    python benchmarks/flag_rate.py --n 100 --seeds 0 1 2 --out flag.md
    git worktree add --detach /tmp/old <commit> && \\
        python benchmarks/flag_rate.py --skcae /tmp/old --digits 1 3 8
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from _common import ROOT, add_mnist_argument, environment_lines, find_mnist, uptime


def _size(text):
    return None if text == "all" else int(text)


def count_networks():
    """A counter of the networks trained (every AutoencoderNet initialised)."""
    from skcae import _training

    count = [0]
    original = _training.AutoencoderNet.initialize_module

    def counted(self):
        count[0] += 1
        return original(self)

    _training.AutoencoderNet.initialize_module = counted
    return count


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, nargs="+", default=[1, 3, 8])
    parser.add_argument(
        "--n",
        type=_size,
        nargs="+",
        default=[None],
        help="training-set sizes, 'all' for every image of the digit",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skcae", default=str(ROOT), help="checkout to import")
    parser.add_argument("--out", type=Path, default=None, help="also write here")
    add_mnist_argument(parser)
    args = parser.parse_args(argv)
    sys.path.insert(0, args.skcae)

    import torch
    from sklearn.metrics import roc_auc_score

    torch.set_num_threads(args.threads)
    import skcae
    from skcae.datasets import load_mnist

    networks = count_networks()
    folder = find_mnist(args.mnist_path)
    X, y = load_mnist(folder, subset="train", return_X_y=True)
    X_test, y_test = load_mnist(folder, subset="test", return_X_y=True)
    paths = (args.skcae, str(args.out), "--skcae", "--out")
    shown = [a for a in (argv or sys.argv[1:]) if a not in paths]
    lines = [
        "`python benchmarks/flag_rate.py " + " ".join(shown) + "`",
        "",
        *environment_lines(args.threads, checkout=args.skcae),
        "",
        "| digit | seed | n train | networks | flagged held-out normal | AUROC "
        "| fit s |",
        "|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    assert skcae.__file__.startswith(str(Path(args.skcae).resolve()))
    rates = {}
    for n in args.n:
        for digit in args.digits:
            for seed in args.seeds if n is not None else args.seeds[:1]:
                train = X[y == digit]
                if n is not None:
                    rng = np.random.RandomState(seed)
                    train = train[rng.choice(len(train), n, replace=False)]
                before = networks[0]
                start = time.perf_counter()
                det = skcae.ConvAutoencoderOutlierDetector(random_state=seed)
                det.fit(train)
                seconds = time.perf_counter() - start
                normal = X_test[y_test == digit]
                rate = float(np.mean(det.predict(normal) == -1))
                auroc = roc_auc_score(y_test == digit, det.score_samples(X_test))
                rates.setdefault(n, []).append(rate)
                line = (
                    f"| {digit} | {seed} | {len(train)} | {networks[0] - before} | "
                    f"{100 * rate:.2f}% | {auroc:.4f} | {seconds:.1f} |"
                )
                lines.append(line)
                print(line, flush=True)
    summary = ["", "Mean share of held-out normal images flagged (target 1%):", ""]
    summary += [
        f"- n={n or 'all'}: {100 * np.mean(r):.2f}% over {len(r)} fits"
        for n, r in rates.items()
    ]
    summary += ["", f"`uptime` at the end: `{uptime()}`.", ""]
    print("\n".join(summary), flush=True)
    if args.out is not None:
        args.out.write_text("\n".join(lines + summary))


if __name__ == "__main__":
    main()
