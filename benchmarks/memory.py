"""Out-of-core scoring: memory growth and time for a large memory-mapped set.

Writes N synthetic 28x28 uint8 images (MNIST-like strokes plus noise) to a
memory-mapped ``.npy`` file (from a spawned child process, so its buffers
never count here), fits a detector on the first 5,000 of them (2 epochs),
then scores all N straight from the memmap: in slices of ``--step`` (100k)
rows, so the seconds per 100k show whether the cost stays linear, or in one
``score_samples`` call with ``--step 0``.

Memory is reported as *growth* during scoring, relative to the process
right before it (after the fit):

* RSS after scoring minus RSS before, split into anonymous memory (what
  scoring really allocates) and file pages of the memmap (page cache the
  kernel may drop at any time);
* the peak RSS during scoring minus RSS before: sampled every 5 ms by a
  thread, and from the kernel's high-water mark ``VmHWM`` (reset before
  scoring through ``/proc/self/clear_refs`` where Linux allows it);
* ``ru_maxrss`` (the process's lifetime peak) before and after scoring.

    python benchmarks/memory.py                          # 1,000,000 images
    python benchmarks/memory.py --n 20000 --threads 1    # smoke test
    python benchmarks/memory.py --score-type reconstruction --step 0
"""

import argparse
import gc
import multiprocessing
import os
import resource
import tempfile
import threading
import time

import numpy as np
from _common import environment_lines, stroke_images, uptime

MB = 1024  # kB per MiB (/proc and ru_maxrss count kB on Linux)


def status_kb():
    """VmRSS, VmHWM, RssAnon, RssFile of this process, in kB (0 if unknown)."""
    values = dict.fromkeys(("VmRSS", "VmHWM", "RssAnon", "RssFile"), 0)
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in values:
                    values[key] = int(rest.split()[0])
    except OSError:
        values["VmRSS"] = values["VmHWM"] = resource.getrusage(
            resource.RUSAGE_SELF
        ).ru_maxrss
    return values


def reset_peak():
    """Reset the kernel's VmHWM (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def maxrss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class PeakSampler(threading.Thread):
    """Samples RSS (total and anonymous) every ``interval`` s; keeps the max."""

    def __init__(self, interval=0.005):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak_rss = self.peak_anon = 0
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            s = status_kb()
            self.peak_rss = max(self.peak_rss, s["VmRSS"])
            self.peak_anon = max(self.peak_anon, s["RssAnon"])
            self._stop_event.wait(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join()


def write_images(path, n):
    images = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.uint8, shape=(n, 28, 28)
    )
    stroke_images(n, seed=0, out=images)
    images.flush()
    del images


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="images to score")
    parser.add_argument(
        "--step", type=int, default=100_000, help="slice size; 0 = one call"
    )
    parser.add_argument(
        "--score-type",
        choices=("hybrid", "reconstruction", "latent"),
        default="hybrid",
        help="the detector's score_type (default: %(default)s)",
    )
    parser.add_argument("--n-fit", type=int, default=5000, help="training images")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs")
    parser.add_argument("--dir", default=None, help="folder for the memmap file")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads and skcae n_jobs"
    )
    args = parser.parse_args(argv)

    import torch

    from skcae import ConvAutoencoderOutlierDetector

    if args.threads:
        torch.set_num_threads(args.threads)
    print("\n".join(environment_lines(args.threads, args.threads)), flush=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = os.path.join(tmp, "images.npy")
        t0 = time.perf_counter()
        writer = multiprocessing.get_context("spawn").Process(
            target=write_images, args=(path, args.n)
        )
        writer.start()
        writer.join()
        if writer.exitcode != 0:
            raise SystemExit(f"writing the memmap failed (exit {writer.exitcode})")
        size_mb = os.path.getsize(path) / 2**20
        print(
            f"wrote {args.n:,} uint8 images ({size_mb:.0f} MiB) in "
            f"{time.perf_counter() - t0:.1f} s",
            flush=True,
        )

        images = np.load(path, mmap_mode="r")
        det = ConvAutoencoderOutlierDetector(
            max_epochs=args.epochs,
            score_type=args.score_type,
            device="cpu",
            n_jobs=args.threads,
            random_state=0,
        )
        n_fit = min(args.n_fit, args.n)
        t0 = time.perf_counter()
        det.fit(images[:n_fit])
        print(
            f"fit on {n_fit:,} images from the memmap (score_type="
            f"{args.score_type!r}, {args.epochs} epochs): "
            f"{time.perf_counter() - t0:.1f} s",
            flush=True,
        )

        gc.collect()
        reset = reset_peak()
        before, maxrss_before = status_kb(), maxrss_kb()
        sampler = PeakSampler()
        sampler.start()
        print(
            f"before scoring: RSS {before['VmRSS'] / MB:.0f} MB (anonymous "
            f"{before['RssAnon'] / MB:.0f}, file {before['RssFile'] / MB:.0f}); "
            f"ru_maxrss {maxrss_before / MB:.0f} MB; `{uptime()}`",
            flush=True,
        )
        print(
            f"{'images scored':>14} {'s per 100k':>11} {'total s':>8} "
            f"{'RSS growth MB':>14} {'anon growth MB':>15} {'peak growth MB':>15}"
        )
        step = args.step if args.step > 0 else args.n
        total, scores = 0.0, []
        for start in range(0, args.n, step):
            t0 = time.perf_counter()
            scores.append(det.score_samples(images[start : start + step]))
            seconds = time.perf_counter() - t0
            total += seconds
            done = min(start + step, args.n)
            now = status_kb()
            print(
                f"{done:>14,} {seconds * 100_000 / (done - start):>11.1f} "
                f"{total:>8.1f} {(now['VmRSS'] - before['VmRSS']) / MB:>14.0f} "
                f"{(now['RssAnon'] - before['RssAnon']) / MB:>15.0f} "
                f"{(sampler.peak_rss - before['VmRSS']) / MB:>15.0f}",
                flush=True,
            )
        sampler.stop()
        after, maxrss_after = status_kb(), maxrss_kb()
        scores = np.concatenate(scores)
        assert scores.shape == (args.n,) and np.isfinite(scores).all()

    def grow(kb):
        return f"{kb / MB:+.0f} MB"

    hwm = (
        f"{grow(after['VmHWM'] - before['VmRSS'])} (kernel VmHWM, reset before scoring)"
        if reset
        else "n/a (VmHWM could not be reset here)"
    )
    print(
        f"\nscored {args.n:,} images (score_type={args.score_type!r}, "
        f"{'one call' if step >= args.n else f'slices of {step:,}'}) in "
        f"{total:.1f} s: {args.n / total:,.0f} images/s, "
        f"{total * 100_000 / args.n:.1f} s per 100k; `{uptime()}`\n"
        f"RSS growth after scoring: {grow(after['VmRSS'] - before['VmRSS'])} "
        f"(anonymous {grow(after['RssAnon'] - before['RssAnon'])}, memmap file "
        f"pages {grow(after['RssFile'] - before['RssFile'])})\n"
        f"peak RSS growth while scoring: "
        f"{grow(sampler.peak_rss - before['VmRSS'])} (sampled; anonymous "
        f"{grow(sampler.peak_anon - before['RssAnon'])}); {hwm}\n"
        f"ru_maxrss: {maxrss_before / MB:.0f} MB before scoring, "
        f"{maxrss_after / MB:.0f} MB after ({grow(maxrss_after - before['VmRSS'])} "
        "over the RSS before scoring)"
    )


if __name__ == "__main__":
    main()
