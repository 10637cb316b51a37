"""Out-of-core scoring: peak memory and time for a large memory-mapped set.

Writes N synthetic 28x28 uint8 images (MNIST-like strokes plus noise) to a
memory-mapped file, fits a detector on a small slice of it, then scores all
N images straight from the memmap, in slices of 100k so that the time per
100k shows whether the cost grows linearly. Peak RSS is read from the kernel
(``ru_maxrss``), so it includes the file pages the scoring touched.

    python benchmarks/memory.py                 # 1,000,000 images
    python benchmarks/memory.py --n 200000      # quicker
"""

import argparse
import multiprocessing
import os
import resource
import tempfile
import time

import numpy as np


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_images(path, n, seed=0, block=5_000):
    """N uint8 images of random line strokes, written block by block."""
    rng = np.random.RandomState(seed)
    images = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8,
                                       shape=(n, 28, 28))
    yy, xx = np.mgrid[:28, :28].astype(np.float32)
    for start in range(0, n, block):
        m = min(block, n - start)
        angle = rng.uniform(0, np.pi, (m, 1, 1)).astype(np.float32)
        offset = rng.uniform(-6, 6, (m, 1, 1)).astype(np.float32)
        dist = np.abs((xx - 14) * np.cos(angle) + (yy - 14) * np.sin(angle) - offset)
        img = np.clip(255 * (1.5 - dist), 0, 255) + rng.uniform(0, 30, (m, 28, 28))
        images[start : start + m] = np.clip(img, 0, 255).astype(np.uint8)
    images.flush()
    del images


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="images to score")
    parser.add_argument("--step", type=int, default=100_000, help="slice size")
    parser.add_argument("--dir", default=None, help="folder for the memmap file")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args(argv)

    import torch

    from skcae import ConvAutoencoderOutlierDetector

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = os.path.join(tmp, "images.npy")
        t0 = time.perf_counter()
        # written by a child process, so its buffers do not count here
        writer = multiprocessing.get_context("spawn").Process(
            target=write_images, args=(path, args.n))
        writer.start()
        writer.join()
        print(f"wrote {args.n:,} uint8 images ({os.path.getsize(path) / 2**20:.0f} "
              f"MiB) in {time.perf_counter() - t0:.1f} s; peak RSS here "
              f"{peak_rss_mb():.0f} MB", flush=True)

        images = np.load(path, mmap_mode="r")
        det = ConvAutoencoderOutlierDetector(max_epochs=2, device="cpu",
                                             random_state=0)
        t0 = time.perf_counter()
        det.fit(images[:5000])
        print(f"fit on 5,000 images from the memmap: {time.perf_counter() - t0:.1f} s;"
              f" peak RSS {peak_rss_mb():.0f} MB", flush=True)

        print(f"{'images scored':>14} {'s per 100k':>11} {'total s':>8} "
              f"{'peak RSS MB':>12}")
        total, scores = 0.0, []
        for start in range(0, args.n, args.step):
            t0 = time.perf_counter()
            scores.append(det.score_samples(images[start : start + args.step]))
            seconds = time.perf_counter() - t0
            total += seconds
            done = min(start + args.step, args.n)
            per_100k = seconds * 100_000 / (done - start)
            print(f"{done:>14,} {per_100k:>11.1f} {total:>8.1f} "
                  f"{peak_rss_mb():>12.0f}", flush=True)
        scores = np.concatenate(scores)
        assert scores.shape == (args.n,) and np.isfinite(scores).all()
        print(f"scored {args.n:,} images at {args.n / total:,.0f} images/s; "
              f"peak RSS {peak_rss_mb():.0f} MB (limit 1,536 MB)")


if __name__ == "__main__":
    main()
