"""Where the default score's time goes, part by part, beside PyOD's scoring.

Fits the default :class:`~skcae.ConvAutoencoderOutlierDetector` on the
training images of one MNIST digit, then times, on one torch thread, what
scoring one chunk of test images (the model's ``chunk_rows`` rows: 128 for
28x28) costs: the network pass that gives the features (standardisation,
encoder, decoder, squared errors), each term of the score from those
features, and their combination; each part ``--repeats`` times,
interleaved, median. Beside it: whole ``score_samples`` calls on the test
images and PyOD's AutoEncoder (default parameters, fitted on the same
images) scoring the same images (``--whole-repeats`` times each,
interleaved, median), both per chunk's worth of rows, one thread. The
question it answers: which parts would have to go for skcae's scoring to
match PyOD's, whose network is a small dense one.

Run from the repository root::

    python benchmarks/score_profile.py                 # digit 2, ~1 min
    python benchmarks/score_profile.py --digit 8 --repeats 50
"""

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from _common import (
    RESULTS,
    add_mnist_argument,
    environment_lines,
    load_mnist_split,
    md_table,
    uptime,
)
from _methods import PyodAutoEncoder, pyod_status


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def part_timings(scorer, chunk, repeats):
    """Median seconds of each part of scoring ``chunk`` (a float64 tensor
    of images in data units), the parts timed in turn ``repeats`` times."""
    import torch

    with torch.inference_mode():
        features = scorer.features(chunk)
        raw = scorer.raw_terms(chunk)
        parts = {"network pass (features)": lambda: scorer.features(chunk)}
        for name, term in scorer.terms.items():
            parts[f"term {name!r}"] = lambda term=term: term(features)
        parts["combination"] = lambda: scorer.combine(raw)
        parts["whole chunk (scorer_(x))"] = lambda: scorer(chunk)
        for fn in parts.values():  # first calls: caches, allocations
            fn()
        times = {name: [] for name in parts}
        for _ in range(repeats):
            for name, fn in parts.items():
                times[name].append(timed(fn))
    return {name: statistics.median(ts) for name, ts in times.items()}


def run(args):
    import torch

    from skcae import ConvAutoencoderOutlierDetector

    X_train, y_train = load_mnist_split(args.mnist_path, "train")
    X_test, _ = load_mnist_split(args.mnist_path, "test")
    X_fit = X_train[y_train == args.digit]
    X_score = X_test[: args.n_score]
    det = ConvAutoencoderOutlierDetector(random_state=0, n_jobs=1).fit(X_fit)
    scorer = det.scorer_.eval()
    rows = scorer.chunk_rows
    images = X_score[:rows].reshape(rows, *det.image_shape_).astype(np.float64)
    parts = part_timings(scorer, torch.from_numpy(images), args.repeats)

    det.score_samples(X_score[:rows])  # first call
    calls = [lambda: det.score_samples(X_score)]
    if pyod_status()[0]:
        model = PyodAutoEncoder(random_state=0).fit(X_fit)
        model.score_samples(X_score[:rows])
        calls.append(lambda: model.score_samples(X_score))
    # the whole calls, interleaved: a busy spell slows both
    times = [[] for _ in calls]
    for _ in range(args.whole_repeats):
        for call, ts in zip(calls, times):
            ts.append(timed(call))
    whole = statistics.median(times[0])
    pyod = statistics.median(times[1]) if len(times) > 1 else None
    per_chunk = rows / len(X_score)
    return parts, whole * per_chunk, None if pyod is None else pyod * per_chunk, rows


def markdown(parts, whole, pyod, rows, header, args):
    chunk_total = parts["whole chunk (scorer_(x))"]
    body = []
    for name, seconds in parts.items():
        share = "" if name.startswith("whole") else f"{seconds / chunk_total:.0%}"
        ratio = "" if pyod is None else f"{seconds / pyod:.2f}x"
        body.append([name, f"{seconds * 1e3:.2f}", share, ratio])
    body.append(
        [
            f"skcae `score_samples`, {args.n_score} images, per {rows}",
            f"{whole * 1e3:.2f}",
            "",
            "" if pyod is None else f"{whole / pyod:.2f}x",
        ]
    )
    if pyod is not None:
        body.append(
            [
                f"PyOD AutoEncoder `decision_function`, per {rows}",
                f"{pyod * 1e3:.2f}",
                "",
                "1.00x",
            ]
        )
    lines = ["# Where the default score's time goes (one thread)", "", *header, ""]
    lines += [
        f"Default detector fitted on MNIST digit {args.digit} (all its training "
        f"images, n_jobs=1); parts timed on one chunk of {rows} test images, "
        f"{args.repeats} times each, interleaved (median ms); the whole "
        f"`score_samples` calls {args.whole_repeats} times each, skcae's and "
        "PyOD's interleaved. Share: of the "
        "whole chunk. Ratio: to PyOD's scoring of as many rows. The terms "
        "read the network pass's features, so the parts add up to about "
        "the whole chunk.",
        "",
        *md_table(["part", "ms", "share", "to PyOD"], body),
    ]
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_mnist_argument(p)
    p.add_argument("--digit", type=int, default=2, help="normal digit (default 2)")
    p.add_argument(
        "--repeats", type=int, default=30, help="timings of each part (default 30)"
    )
    p.add_argument(
        "--whole-repeats",
        type=int,
        default=5,
        help="timings of the whole score_samples calls, skcae's and PyOD's "
        "interleaved (default 5)",
    )
    p.add_argument(
        "--n-score",
        type=int,
        default=10_000,
        help="test images of the whole scoring calls (default 10000)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=RESULTS,
        help="folder of score_profile.md (default benchmarks/results)",
    )
    return p.parse_args(argv)


def main(argv=None):
    import torch

    args = parse_args(argv)
    torch.set_num_threads(1)
    header = environment_lines(1, 1)
    print("\n".join(header), flush=True)
    parts, whole, pyod, rows = run(args)
    header.append(f"`uptime` at the end: `{uptime()}`.")
    text = markdown(parts, whole, pyod, rows, header, args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "score_profile.md").write_text(text + "\n")
    print()
    print(text)
    print(f"\nwrote {args.out / 'score_profile.md'}")


if __name__ == "__main__":
    main()
