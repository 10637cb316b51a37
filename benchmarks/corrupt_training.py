"""What one corrupt training sample does to contamination="auto"'s threshold.

A hostile probe found that one training image with a pixel at 1e6 among
150 of sklearn's 8x8 digits dragged the default detector's threshold
(``offset_``) from about -5 to -679, so that ``predict`` flagged none of
the other digits. This script refits the default detectors on clean data
and on the same data with one corrupt sample, and reports ``offset_``, the
share of new images of the normal class that ``predict`` flags (about 1%
is the goal) and the share of outliers it flags:

* sklearn's digits, 150 training images of digit 7 (seed 1) and of digit 3
  (seed 0): clean, one pixel at 1e6, one all-white image (every pixel at
  16, the data's maximum) added; new normal = the digit's other images,
  outliers = the first 300 images of the other digits;
* sklearn's breast cancer table with the tabular detector, 200 benign
  rows: clean, one value at 1e6; new normal = the other benign rows,
  outliers = the malignant ones.

Everything runs on data that ships with scikit-learn (no download).
``--skcae PATH`` imports skcae from another checkout (e.g. an older commit
in a git worktree) to compare versions:

    python benchmarks/corrupt_training.py
    git worktree add --detach /tmp/old <commit> && \\
        python benchmarks/corrupt_training.py --skcae /tmp/old
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from _common import ROOT, environment_lines, uptime


def image_cases(X, y):
    """(name, train, new normal, outliers, seed) for the 8x8 digits."""
    for digit, seed in ((7, 1), (3, 0)):
        train = X[y == digit][:150]
        normal, outliers = X[y == digit][150:], X[y != digit][:300]
        pixel = train.copy()
        pixel[5, 10] = 1e6
        white = np.r_[train, np.full((1, 64), 16.0)]
        for case, data in (
            ("clean", train),
            ("pixel 1e6", pixel),
            ("white image", white),
        ):
            yield f"digit {digit}, {case}", data, normal, outliers, seed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skcae", default=str(ROOT), help="checkout to import")
    parser.add_argument("--out", type=Path, default=None, help="also write here")
    args = parser.parse_args(argv)
    sys.path.insert(0, args.skcae)

    import torch
    from sklearn.datasets import load_breast_cancer, load_digits

    torch.set_num_threads(args.threads)
    import skcae

    checkout = Path(args.skcae).resolve()
    assert checkout in Path(skcae.__file__).resolve().parents, skcae.__file__
    paths = (args.skcae, str(args.out), "--skcae", "--out")
    shown = [
        a
        for a in (argv or sys.argv[1:])
        if a not in paths and not a.startswith(("--skcae=", "--out="))
    ]
    lines = [
        "`" + " ".join(["python benchmarks/corrupt_training.py", *shown]) + "`",
        "",
        *environment_lines(args.threads, n_jobs=args.threads, checkout=args.skcae),
        "",
        "| case | n train | offset_ | new normal flagged | outliers flagged | fit s |",
        "|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)

    X, y = load_digits(return_X_y=True)
    cases = [
        (name, train, normal, outliers, seed, {"image_shape": (8, 8)})
        for name, train, normal, outliers, seed in image_cases(X, y)
    ]
    Xb, yb = load_breast_cancer(return_X_y=True)
    benign, malignant = Xb[yb == 1], Xb[yb == 0]
    corrupt = benign[:200].copy()
    corrupt[3, 2] = 1e6
    for case, data in (("clean", benign[:200]), ("one value 1e6", corrupt)):
        cases.append((f"breast cancer, {case}", data, benign[200:], malignant, 0, None))

    for name, train, normal, outliers, seed, image in cases:
        if image is None:
            det = skcae.AutoencoderOutlierDetector(
                random_state=seed, n_jobs=args.threads
            )
        else:
            det = skcae.ConvAutoencoderOutlierDetector(
                **image, random_state=seed, n_jobs=args.threads
            )
        start = time.perf_counter()
        with warnings.catch_warnings():  # the units warning of the corrupt value
            warnings.simplefilter("ignore")
            det.fit(train)
        seconds = time.perf_counter() - start
        line = (
            f"| {name} | {len(train)} | {det.offset_:.2f} "
            f"| {100 * np.mean(det.predict(normal) == -1):.1f}% "
            f"| {100 * np.mean(det.predict(outliers) == -1):.1f}% | {seconds:.1f} |"
        )
        lines.append(line)
        print(line, flush=True)
    tail = ["", f"`uptime` at the end: `{uptime()}`.", ""]
    print("\n".join(tail), flush=True)
    if args.out is not None:
        args.out.write_text("\n".join(lines + tail))


if __name__ == "__main__":
    main()
