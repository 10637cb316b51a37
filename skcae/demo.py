"""One-class digits demo: skcae against IsolationForest, side by side.

Run ``python -m skcae.demo`` (``--help`` for options). It trains on one digit
of scikit-learn's bundled 8x8 digits, scores held-out images of every digit,
and prints the AUROC of each detector (the digit is the inlier class). The
last line gives skcae's mean fit time per digit and the worker threads its
fits used. Nothing is downloaded.

Examples
--------
>>> from skcae.demo import build_parser
>>> args = build_parser().parse_args(["--digit", "7", "--seed", "3"])
>>> args.digit, args.seed
('7', 3)
"""

import argparse
import time

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from ._detector import ConvAutoencoderOutlierDetector
from .datasets import load_digits_images, make_one_class_split

__all__ = ["build_parser", "main", "run_digit"]

DIGIT_CHOICES = [str(d) for d in range(10)] + ["all"]
_MAX_SEED = 2**32 - 1  # numpy's RandomState accepts seeds in [0, 2**32 - 1]


def make_detector(random_state):
    """The skcae detector of the demo: the defaults."""
    return ConvAutoencoderOutlierDetector(random_state=random_state)


def _used_threads(detector):
    """The torch thread counts the fit of ``detector`` used (a sorted list),
    as skcae's thread policy records them in the history each epoch."""
    history = detector.net_.history
    return sorted({row["torch_threads"] for row in history if "torch_threads" in row})


def run_digit(digit, images, target, *, random_state=0):
    """Fit both detectors on one digit.

    Parameters
    ----------
    digit : int
        The inlier digit.
    images : ndarray of shape (n_samples, 8, 8)
        The images, e.g. from :func:`~skcae.datasets.load_digits_images`.
    target : ndarray of shape (n_samples,)
        Their digit labels.
    random_state : int, default=0
        Seed of the split and of both detectors.

    Returns
    -------
    results : dict
        ``{name: (auroc, fit_seconds)}`` for "skcae" and "IsolationForest",
        plus ``"torch_threads"``: the sorted thread counts skcae's fit used.
    """
    split = make_one_class_split(
        images, target, normal_class=digit, test_size=0.3, random_state=random_state
    )
    detectors = {
        "skcae": make_detector(random_state),
        "IsolationForest": IsolationForest(random_state=random_state),
    }
    flat = {"skcae": False, "IsolationForest": True}
    results = {}
    for name, det in detectors.items():
        X_train, X_test = split.X_train, split.X_test
        if flat[name]:
            X_train = X_train.reshape(len(X_train), -1)
            X_test = X_test.reshape(len(X_test), -1)
        start = time.perf_counter()
        det.fit(X_train)
        seconds = time.perf_counter() - start
        auroc = roc_auc_score(split.y_test, det.score_samples(X_test))
        results[name] = (auroc, seconds)
    results["torch_threads"] = _used_threads(detectors["skcae"])
    return results


def _seed(text):
    """argparse type of ``--seed``: an int in [0, 2**32 - 1]."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid int value: {text!r} (expected an integer seed)"
        ) from None
    if not 0 <= value <= _MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"{value} is out of range (expected a seed in [0, {_MAX_SEED}])"
        )
    return value


def build_parser():
    """The demo's :class:`argparse.ArgumentParser`."""
    parser = argparse.ArgumentParser(
        prog="python -m skcae.demo", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--digit",
        default="1",
        choices=DIGIT_CHOICES,
        help="the inlier digit 0-9, or 'all' for every digit (default: 1)",
    )
    parser.add_argument(
        "--seed", type=_seed, default=0, help="random seed (default: 0)"
    )
    return parser


def _format_threads(counts):
    if not counts:
        return "unknown"
    if len(counts) == 1:
        return str(counts[0])
    return f"{counts[0]}-{counts[-1]}"


def main(argv=None):
    """Command-line entry point: print the AUROC table.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments; None reads ``sys.argv``. Invalid ones make argparse
        print a usage message and raise ``SystemExit(2)``.

    Returns
    -------
    status : int
        0 on success.
    """
    args = build_parser().parse_args(argv)
    digits = range(10) if args.digit == "all" else [int(args.digit)]
    images, target = load_digits_images(return_X_y=True)

    print("One-class digits (sklearn load_digits, 8x8): train on one digit,")
    print("score held-out images of all digits; AUROC, inlier = that digit.\n")
    print(f"{'digit':>5}  {'skcae':>7}  {'IsolationForest':>15}  {'skcae fit s':>11}")
    rows, fit_seconds, threads = [], [], set()
    for digit in digits:
        res = run_digit(digit, images, target, random_state=args.seed)
        rows.append([res["skcae"][0], res["IsolationForest"][0]])
        fit_seconds.append(res["skcae"][1])
        threads.update(res["torch_threads"])
        print(
            f"{digit:>5}  {res['skcae'][0]:>7.3f}  {res['IsolationForest'][0]:>15.3f}"
            f"  {res['skcae'][1]:>11.1f}",
            flush=True,
        )
    if len(rows) > 1:
        mean = np.mean(rows, axis=0)
        print(f"{'mean':>5}  {mean[0]:>7.3f}  {mean[1]:>15.3f}")
    print(
        f"skcae fit: {np.mean(fit_seconds):.1f} s per digit "
        f"(torch threads: {_format_threads(sorted(threads))})"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
