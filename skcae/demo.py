"""One-class digits demo: skcae against IsolationForest, side by side.

Run ``python -m skcae.demo`` (``--help`` for options). It trains on one digit
of scikit-learn's bundled 8x8 digits, scores held-out images of every digit,
and prints the AUROC of each detector (the digit is the inlier class).
"""

import argparse
import time

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from ._detector import ConvAutoencoderOutlierDetector
from .datasets import load_digits_images, make_one_class_split


def run_digit(digit, images, target, *, random_state=0):
    """Fit both detectors on one digit; return ``{name: (auroc, fit_seconds)}``."""
    split = make_one_class_split(
        images, target, normal_class=digit, test_size=0.3, random_state=random_state
    )
    detectors = {
        "skcae": ConvAutoencoderOutlierDetector(random_state=random_state),
        "IsolationForest": IsolationForest(random_state=random_state),
    }
    flat = {"skcae": False, "IsolationForest": True}
    results = {}
    for name, det in detectors.items():
        X_train, X_test = split.X_train, split.X_test
        if flat[name]:
            X_train, X_test = X_train.reshape(len(X_train), -1), X_test.reshape(
                len(X_test), -1
            )
        start = time.perf_counter()
        det.fit(X_train)
        seconds = time.perf_counter() - start
        auroc = roc_auc_score(split.y_test, det.score_samples(X_test))
        results[name] = (auroc, seconds)
    return results


def main(argv=None):
    """Command-line entry point: print the AUROC table."""
    parser = argparse.ArgumentParser(
        prog="python -m skcae.demo", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--digit",
        default="1",
        help="the inlier digit 0-9, or 'all' for every digit (default: 1)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    args = parser.parse_args(argv)
    digits = range(10) if args.digit == "all" else [int(args.digit)]
    images, target = load_digits_images(return_X_y=True)

    print("One-class digits (sklearn load_digits, 8x8): train on one digit,")
    print("score held-out images of all digits; AUROC, inlier = that digit.\n")
    print(f"{'digit':>5}  {'skcae':>7}  {'IsolationForest':>15}  {'skcae fit s':>11}")
    rows = []
    for digit in digits:
        res = run_digit(digit, images, target, random_state=args.seed)
        rows.append([res["skcae"][0], res["IsolationForest"][0]])
        print(
            f"{digit:>5}  {res['skcae'][0]:>7.3f}  {res['IsolationForest'][0]:>15.3f}"
            f"  {res['skcae'][1]:>11.1f}",
            flush=True,
        )
    if len(rows) > 1:
        mean = np.mean(rows, axis=0)
        print(f"{'mean':>5}  {mean[0]:>7.3f}  {mean[1]:>15.3f}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
