"""Thread-policy benchmark: fit time with and without a busy neighbour.

A default :class:`~skcae.ConvAutoencoderOutlierDetector` (3 epochs by
default) is fitted on 3,000 MNIST training images with ``n_jobs=None`` (the
default: the CPUs this process may use, at most torch's thread setting),
``n_jobs=1`` and ``n_jobs=2``, in two scenarios:

* ``idle``: nothing else of ours runs (other users of a shared machine
  may: ``uptime`` is printed before each scenario);
* ``busy``: beside a neighbour, a separate process (multiprocessing,
  ``spawn``) running a 2-thread torch matmul loop for the whole scenario.

skcae computes in ``n_jobs`` worker threads of one torch intra-op thread
each (training batches split into a fixed number of shards), so every
setting trains the same network bit for bit; the script checks that the
fitted parameters agree across settings. Each setting is fitted
``--repeats`` times, the settings interleaved (1st repeat of each, then the
2nd, ...) so that drifting load hits them alike. The table gives the median
seconds, the ratio to ``n_jobs=1`` in the same scenario, the workers the
fit used (``net_.history[:, "torch_threads"]``) and the neighbour's matmuls
per second during the fits (what the fit cost it).

Without MNIST, synthetic 28x28 stroke images are used (and said so).

Examples (from the repository root)::

    python benchmarks/contention.py --quick            # smoke test, ~2 min
    python benchmarks/contention.py                    # 10-40 min on 2 cores
    python benchmarks/contention.py --out benchmarks/results
"""

import argparse
import hashlib
import multiprocessing
import statistics
import time
from pathlib import Path

import numpy as np
from _common import (
    environment_lines,
    find_mnist,
    load_mnist_split,
    md_table,
    stroke_images,
    uptime,
)


def neighbour(stop, ready, count, threads, size):
    """The busy neighbour: a torch matmul loop until ``stop`` is set."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    ready.set()
    while not stop.is_set():
        a @ b
        with count.get_lock():
            count.value += 1


def n_jobs_value(text):
    return None if text.lower() == "none" else int(text)


def load_images(args):
    folder = find_mnist(args.mnist_path, required=False)
    if folder is None:
        images = stroke_images(args.n_train).astype(np.float32) / 255
        return images, f"{args.n_train} synthetic 28x28 stroke images (no MNIST)"
    X, _ = load_mnist_split(folder, "train")
    return X[: args.n_train], f"the first {args.n_train} MNIST training images"


def fit_once(X, n_jobs, epochs):
    """Seconds of one fit, the workers of each epoch, and the md5 of the
    fitted parameters."""
    from skcae import ConvAutoencoderOutlierDetector

    det = ConvAutoencoderOutlierDetector(
        max_epochs=epochs, n_jobs=n_jobs, device="cpu", random_state=0
    )
    t0 = time.perf_counter()
    det.fit(X)
    seconds = time.perf_counter() - t0
    digest = hashlib.md5()
    for p in det.net_.module_.parameters():
        digest.update(p.detach().cpu().numpy().tobytes())
    return seconds, list(det.net_.history[:, "torch_threads"]), digest.hexdigest()


def run_scenario(name, X, args, count=None):
    """Fit every n_jobs setting ``--repeats`` times; one result per setting."""
    results = {
        n: {"seconds": [], "threads": [], "rate": [], "md5": set()} for n in args.n_jobs
    }
    for rep in range(args.repeats):
        for n_jobs in args.n_jobs:
            before = (count.value, time.perf_counter()) if count else None
            seconds, threads, md5 = fit_once(X, n_jobs, args.epochs)
            res = results[n_jobs]
            res["md5"].add(md5)
            res["seconds"].append(seconds)
            res["threads"].append(threads)
            if count:
                rate = (count.value - before[0]) / (time.perf_counter() - before[1])
                res["rate"].append(rate)
            print(
                f"  {name:<4s} repeat {rep + 1}/{args.repeats} n_jobs={n_jobs!s:<4s} "
                f"{seconds:6.2f} s  workers per epoch {threads}  params md5 {md5[:8]}"
                + (f"  neighbour {res['rate'][-1]:.1f} matmul/s" if count else ""),
                flush=True,
            )
    return results


def busy_scenario(X, args):
    ctx = multiprocessing.get_context("spawn")
    stop, ready, count = ctx.Event(), ctx.Event(), ctx.Value("q", 0)
    proc = ctx.Process(
        target=neighbour,
        args=(stop, ready, count, args.neighbour_threads, args.matrix),
        daemon=True,
    )
    proc.start()
    try:
        if not ready.wait(120):
            raise RuntimeError("the neighbour process did not start")
        time.sleep(1.0)  # let the load settle
        print(f"busy scenario (neighbour pid {proc.pid}): `{uptime()}`", flush=True)
        idle_rate = count.value
        t0 = time.perf_counter()
        time.sleep(1.0)
        alone = (count.value - idle_rate) / (time.perf_counter() - t0)
        print(f"  neighbour alone: {alone:.1f} matmul/s", flush=True)
        return run_scenario("busy", X, args, count), alone
    finally:
        stop.set()
        proc.join(30)
        if proc.is_alive():
            proc.terminate()
            proc.join()


def table(scenarios, args):
    rows = []
    for name, (results, alone) in scenarios.items():
        ref = statistics.median(results[1]["seconds"]) if 1 in results else None
        for n_jobs, res in results.items():
            median = statistics.median(res["seconds"])
            chosen = sorted({t for threads in res["threads"] for t in threads})
            rate = (
                f"{statistics.median(res['rate']):.1f} (alone {alone:.1f})"
                if res["rate"]
                else "–"
            )
            rows.append(
                [
                    name,
                    "None (default)" if n_jobs is None else n_jobs,
                    f"{median:.2f}",
                    ", ".join(f"{s:.2f}" for s in res["seconds"]),
                    f"{median / ref:.2f}x" if ref else "–",
                    ", ".join(map(str, chosen)),
                    rate,
                ]
            )
    header = [
        "scenario",
        "n_jobs",
        "median s",
        "runs (s)",
        "ratio to n_jobs=1",
        "workers used",
        "neighbour matmul/s",
    ]
    return md_table(header, rows)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--n-train",
        type=int,
        default=3000,
        help="training images (default: %(default)s)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=3,
        help="max_epochs of each fit (default: %(default)s)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="fits of each setting per scenario (default: %(default)s)",
    )
    p.add_argument(
        "--n-jobs",
        type=n_jobs_value,
        nargs="+",
        default=[None, 1, 2],
        help="settings to compare, 'none' for the default (default: none 1 2)",
    )
    p.add_argument(
        "--scenarios", nargs="+", choices=("idle", "busy"), default=["idle", "busy"]
    )
    p.add_argument(
        "--neighbour-threads",
        type=int,
        default=2,
        help="torch threads of the busy neighbour (default: %(default)s)",
    )
    p.add_argument(
        "--matrix",
        type=int,
        default=512,
        help="side of the neighbour's matrices (default: %(default)s)",
    )
    p.add_argument("--mnist-path", default=None, help="folder of the MNIST files")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="also write <out>/contention.md (default: print only)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 1,000 images, 1 epoch, 1 repeat",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.n_train, args.epochs, args.repeats = min(args.n_train, 1000), 1, 1
    args.n_jobs = list(dict.fromkeys(args.n_jobs))
    return args  # fmt: skip


def main(argv=None):
    args = parse_args(argv)
    X, source = load_images(args)
    header = [
        f"Fit time of ConvAutoencoderOutlierDetector(max_epochs={args.epochs}, "
        f"random_state=0) on {source}, by n_jobs; median of {args.repeats} "
        "fit(s) per setting, settings interleaved. Busy neighbour: a spawned "
        f"process running a {args.neighbour_threads}-thread torch matmul loop "
        f"({args.matrix}x{args.matrix}).",
        *environment_lines(),
    ]
    print("\n".join(header), flush=True)
    fit_once(X[:200], 1, 1)  # warm-up: imports and first-call setup
    scenarios = {}
    for name in args.scenarios:
        if name == "idle":
            print(f"idle scenario: `{uptime()}`", flush=True)
            scenarios[name] = (run_scenario("idle", X, args), None)
        else:
            scenarios[name] = busy_scenario(X, args)
    digests = {
        d
        for results, _ in scenarios.values()
        for r in results.values()
        for d in r["md5"]
    }
    same = (
        "The fitted parameters are bit-identical across all settings and "
        "scenarios (one md5)."
        if len(digests) == 1
        else f"The fitted parameters DIFFER across settings: {len(digests)} md5s."
    )
    lines = [
        "# Thread policy under contention",
        "",
        *header,
        f"`uptime` at the end: `{uptime()}`.",
        "",
        *table(scenarios, args),
        "",
        same,
    ]
    text = "\n".join(lines)
    print()
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "contention.md").write_text(text + "\n")
        print(f"wrote {args.out / 'contention.md'}")


if __name__ == "__main__":
    main()
