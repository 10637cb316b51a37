"""Scoring a million images on a local Dask cluster, next to one process.

Writes N 28x28 uint8 images (MNIST's 70,000 images repeated) to a ``.npy``
file in a temporary folder (from a spawned process), fits a detector on
MNIST's training 0s, then scores all N images three times:

* in this process: one ``score_samples`` call on the memmap, with skcae's
  default ``n_jobs=None`` (the CPUs other processes leave idle) and with
  ``n_jobs=1``;
* on a ``distributed.LocalCluster`` of worker processes: ``DaskScorer`` on
  a Dask array whose blocks each worker reads from the file itself.

It reports images/s, the peak RSS growth of this process while it scores,
and the peak RSS of each worker (sampled every 5 ms by a thread in the
worker) next to its RSS before scoring; the scores of both runs must be
equal. The report (with the command, date, ``uptime`` and ``git describe``)
is printed and written to ``--out``.

    python benchmarks/cluster_scoring.py                      # 1,000,000 images
    python benchmarks/cluster_scoring.py --n 50000 --out /tmp/cluster.txt
"""

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, ROOT, add_mnist_argument, environment_lines, find_mnist
from _common import uptime as machine_uptime
from memory import PeakSampler, status_kb

MB = 1024  # kB per MiB


def git_describe():
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=10,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_images(path, n, mnist):
    """N MNIST images (train then test, repeated) into a .npy memmap."""
    from skcae.datasets import load_mnist

    pool = np.concatenate(
        [
            load_mnist(mnist, subset=s, normalize=False, return_X_y=True)[0]
            for s in ("train", "test")
        ]
    ).astype(np.uint8)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, 28, 28))
    for start in range(0, n, len(pool)):
        stop = min(n, start + len(pool))
        out[start:stop] = pool[: stop - start]
    out.flush()


# -- what the docs' "Scoring millions of images" page recommends ------------------
def read_rows(path, start, stop):
    """Rows ``start:stop`` of a .npy file, read where the task runs."""
    return np.array(np.load(path, mmap_mode="r")[start:stop])


def npy_as_dask(path, chunk):
    """A .npy file as a Dask array whose blocks the workers read themselves.

    (``da.from_array(np.load(path, mmap_mode="r"))`` would put the whole
    array into the task graph: a memmap pickles as its data.)
    """
    import dask
    import dask.array as da

    header = np.load(path, mmap_mode="r")
    shape, dtype = header.shape, header.dtype
    del header
    blocks = [
        da.from_delayed(
            dask.delayed(read_rows)(path, start, min(start + chunk, shape[0])),
            shape=(min(start + chunk, shape[0]) - start, *shape[1:]),
            dtype=dtype,
        )
        for start in range(0, shape[0], chunk)
    ]
    return da.concatenate(blocks)


# -- memory of the workers ------------------------------------------------------------
def start_sampler(dask_worker):
    """Start sampling this worker's RSS; return its RSS now (kB)."""
    dask_worker.skcae_sampler = PeakSampler()
    dask_worker.skcae_sampler.start()
    return status_kb()["VmRSS"]


def stop_sampler(dask_worker):
    """Stop sampling; return the peak RSS seen (kB)."""
    dask_worker.skcae_sampler.stop()
    return dask_worker.skcae_sampler.peak_rss


def shown_command(argv):
    """The command line, with the values of path options left out."""
    words, hide = [], False
    for word in argv:
        words.append("PATH" if hide else word)
        hide = word in ("--mnist-path", "--dir", "--out")
    return " ".join(["python benchmarks/cluster_scoring.py", *words])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="images to score")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument(
        "--threads-per-worker", type=int, default=1, help="dask threads per worker"
    )
    parser.add_argument(
        "--n-jobs", type=int, default=1, help="torch threads per task (DaskScorer)"
    )
    parser.add_argument("--chunk", type=int, default=20_000, help="rows per block")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs")
    parser.add_argument("--dir", default=None, help="folder for the .npy file")
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "cluster_scoring.txt",
        help="report file (default: benchmarks/results/cluster_scoring.txt)",
    )
    add_mnist_argument(parser)
    args = parser.parse_args(argv)

    import dask
    from dask.distributed import Client, LocalCluster

    from skcae import ConvAutoencoderOutlierDetector, DaskScorer
    from skcae.datasets import load_mnist

    lines = []

    def report(text=""):
        print(text, flush=True)
        lines.append(text)

    command = shown_command(argv if argv is not None else sys.argv[1:])
    report(f"command: `{command}`")
    report(f"git describe --always --dirty: {git_describe()}")
    for line in environment_lines():
        report(line)

    mnist = find_mnist(args.mnist_path)
    X_train, y_train = load_mnist(
        mnist, subset="train", normalize=False, return_X_y=True
    )
    train = X_train[y_train == 0]
    det = ConvAutoencoderOutlierDetector(max_epochs=args.epochs, random_state=0)
    t0 = time.perf_counter()
    det.fit(train)
    report(
        f"fit: MNIST training 0s ({len(train):,} uint8 28x28 images), "
        f"{args.epochs} epochs, defaults otherwise: {time.perf_counter() - t0:.1f} s"
    )

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = os.path.join(tmp, "images.npy")
        t0 = time.perf_counter()
        writer = multiprocessing.get_context("spawn").Process(
            target=write_images, args=(path, args.n, mnist)
        )
        writer.start()
        writer.join()
        if writer.exitcode != 0:
            raise SystemExit(f"writing the images failed (exit {writer.exitcode})")
        report(
            f"wrote {args.n:,} uint8 28x28 images (MNIST's 70,000 repeated, "
            f"{os.path.getsize(path) / 2**20:.0f} MiB) in "
            f"{time.perf_counter() - t0:.1f} s"
        )

        # one process: the memmap in one call, with skcae's default thread
        # policy (n_jobs=None: the idle CPUs) and with one thread
        local = None
        for n_jobs in (None, 1):
            det.set_params(n_jobs=n_jobs)
            images = np.load(path, mmap_mode="r")
            before = status_kb()["VmRSS"]
            sampler = PeakSampler()
            sampler.start()
            report(f"\none process, n_jobs={n_jobs}: `{machine_uptime()}`")
            t0 = time.perf_counter()
            scores = det.score_samples(images)
            seconds = time.perf_counter() - t0
            sampler.stop()
            report(
                f"  {args.n:,} images in {seconds:.1f} s: {args.n / seconds:,.0f} "
                f"images/s; RSS {before / MB:.0f} MB before, peak "
                f"{sampler.peak_rss / MB:.0f} MB "
                f"(+{(sampler.peak_rss - before) / MB:.0f} MB); `{machine_uptime()}`"
            )
            if local is not None and not np.array_equal(scores, local):
                report("  (scores differ from those with n_jobs=None)")
            local = scores
            del images

        # the cluster: DaskScorer on blocks each worker reads from the file
        with (
            LocalCluster(
                n_workers=args.workers,
                threads_per_worker=args.threads_per_worker,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            X = npy_as_dask(path, args.chunk)
            scores = DaskScorer(det, n_jobs=args.n_jobs).score_samples(X)
            client.run(lambda: __import__("skcae"))  # import torch before timing
            rss = client.run(start_sampler)
            report(
                f"\nLocalCluster: {args.workers} worker processes x "
                f"{args.threads_per_worker} thread(s), n_jobs={args.n_jobs} per "
                f"task, blocks of {args.chunk:,} rows: `{machine_uptime()}`"
            )
            t0 = time.perf_counter()
            remote = dask.compute(scores, scheduler=client)[0]
            seconds = time.perf_counter() - t0
            peaks = client.run(stop_sampler)
            report(
                f"  {args.n:,} images in {seconds:.1f} s: {args.n / seconds:,.0f} "
                f"images/s (estimator shipped, blocks read and scored, scores "
                f"gathered); `{machine_uptime()}`"
            )
            for i, worker in enumerate(sorted(rss)):
                report(
                    f"  worker {i}: RSS {rss[worker] / MB:.0f} MB before scoring, "
                    f"peak {peaks[worker] / MB:.0f} MB "
                    f"(+{(peaks[worker] - rss[worker]) / MB:.0f} MB)"
                )

    equal = np.array_equal(remote, local)
    report(f"\nscores of the cluster equal those of one process: {equal}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out.name}")
    if not equal:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
