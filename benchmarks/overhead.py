"""Time skcae's fit and scoring against a hand-written PyTorch loop.

Both sides train the very same module class
(:class:`skcae._network.ConvAutoencoderModule`) with the same parameters,
data, number of epochs, batch size and Adam learning rate, from the same
initial seed; the hand-written loop is the minimum a careful user would
write (shuffle, slice a batch, forward, MSE, backward, step). The ratios
``skcae / hand`` measure what skorch and skcae's plumbing cost on top of the
arithmetic.

skcae's ``fit`` also computes the per-channel standardisation and scores the
training data once to set ``offset_`` (the contamination threshold). The
hand loop does the standardisation too; the threshold pass is reported as
its own line so the ratio can be read with and without it.

Run from the repository root::

    python benchmarks/overhead.py                 # MNIST digit 0 train images
    python benchmarks/overhead.py --synthetic     # random 28x28 images
    python benchmarks/overhead.py --threads 2 --epochs 20
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from skcae import ConvAutoencoderOutlierDetector  # noqa: E402
from skcae._network import ConvAutoencoderModule  # noqa: E402


def default_mnist_path():
    """``../shared/data/mnist`` next to the repository (the project's layout)."""
    return ROOT.parent / "shared" / "data" / "mnist"


def load_images(args):
    if args.synthetic:
        rng = np.random.RandomState(0)
        return rng.rand(args.n_images, 28, 28).astype(np.float32), "random 28x28"
    from skcae.datasets import load_mnist

    X, y = load_mnist(args.mnist_path, subset="train", return_X_y=True)
    X = X[y == args.digit][: args.n_images]
    return np.ascontiguousarray(X), f"MNIST train, digit {args.digit}"


def module_kwargs(det):
    return {
        "channels": tuple(det.channels),
        "kernel_size": det.kernel_size,
        "latent_dim": det.latent_dim,
        "activation": det.activation,
    }


def hand_fit(images, det, seed):
    """The minimal loop: same module, same Adam, same batches of shuffled rows."""
    x_all = torch.from_numpy(images[:, None])  # (n, 1, H, W) float32
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        module = ConvAutoencoderModule(x_all.shape[1:], **module_kwargs(det))
        mean, std = x_all.mean(), x_all.std(correction=0)
        module.shift.fill_(float(mean))
        module.scale.fill_(float(std))
        opt = torch.optim.Adam(module.parameters(), lr=det.lr)
        loss_fn = torch.nn.MSELoss()
        n, bs = len(x_all), det.batch_size
        module.train()
        for _ in range(det.max_epochs):
            order = torch.randperm(n)
            for start in range(0, n, bs):
                xb = x_all[order[start : start + bs].sort().values]
                opt.zero_grad()
                loss = loss_fn(module(xb), xb)
                loss.backward()
                opt.step()
    return module


def hand_score(module, images, chunk=1024):
    module.eval()
    x_all = torch.from_numpy(images[:, None])
    out = []
    with torch.inference_mode():
        for start in range(0, len(x_all), chunk):
            xb = x_all[start : start + chunk]
            out.append((module(xb) - xb).square().flatten(1).mean(1))
    return -torch.cat(out).numpy()


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--synthetic", action="store_true", help="random 28x28 images instead of MNIST"
    )
    p.add_argument(
        "--mnist-path",
        type=Path,
        default=default_mnist_path(),
        help="folder with the MNIST IDX files (default: %(default)s)",
    )
    p.add_argument(
        "--digit",
        type=int,
        default=0,
        help="MNIST digit whose training images are used",
    )
    p.add_argument(
        "--n-images",
        type=int,
        default=6000,
        help="training images (default: %(default)s)",
    )
    p.add_argument(
        "--n-score",
        type=int,
        default=10000,
        help="images scored (default: %(default)s)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=20,
        help="training epochs (default: %(default)s, skcae's default)",
    )
    p.add_argument(
        "--channels",
        type=int,
        nargs="+",
        default=[16, 32],
        help="encoder channels (default: %(default)s)",
    )
    p.add_argument(
        "--latent-dim", type=int, default=16, help="latent size (default: %(default)s)"
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=64,
        help="batch size of both loops (default: %(default)s)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of each; best and median are reported",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch.set_num_threads (default: %(default)s)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="2 epochs on 2000 images, 2 repeats (a smoke test)",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.n_images, args.repeats = 2, 2000, 2
        args.n_score = min(args.n_score, 4000)
    torch.set_num_threads(args.threads)

    images, source = load_images(args)
    rng = np.random.RandomState(1)
    score_images = images[rng.randint(0, len(images), args.n_score)]
    det = ConvAutoencoderOutlierDetector(
        channels=tuple(args.channels),
        latent_dim=args.latent_dim,
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        device="cpu",
        random_state=0,
    )
    print(
        f"data: {source}, {len(images)} train / {len(score_images)} scored; "
        f"{args.epochs} epochs, batch {det.batch_size}, "
        f"channels {tuple(det.channels)}, latent {det.latent_dim}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)"
    )

    rows = {
        k: []
        for k in ("hand_fit", "skcae_fit", "skcae_train", "hand_score", "skcae_score")
    }
    for rep in range(args.repeats):
        t, module = timed(lambda: hand_fit(images, det, seed=rep))
        rows["hand_fit"].append(t)
        t, _ = timed(lambda: det.set_params(random_state=rep).fit(images))
        rows["skcae_fit"].append(t)
        # the same fit less the threshold pass (one scoring of the train data)
        t_thr, _ = timed(lambda: det.score_samples(images))
        rows["skcae_train"].append(t - t_thr)
        t, _ = timed(lambda: hand_score(module, score_images))
        rows["hand_score"].append(t)
        t, _ = timed(lambda: det.score_samples(score_images))
        rows["skcae_score"].append(t)
        print(
            f"repeat {rep + 1}/{args.repeats}: "
            + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in rows.items()),
            flush=True,
        )

    def stats(key):
        return min(rows[key]), statistics.median(rows[key])

    n_fit = len(images) * args.epochs
    n_score = len(score_images)
    lines = [
        "| what | best s | median s | images/s (best) | skcae / hand (best) "
        "| skcae / hand (median) |",
        "|---|---|---|---|---|---|",
    ]
    table = [
        ("hand-written fit", "hand_fit", None, n_fit),
        ("skcae fit", "skcae_fit", "hand_fit", n_fit),
        ("skcae fit less the threshold pass", "skcae_train", "hand_fit", n_fit),
        ("hand-written scoring", "hand_score", None, n_score),
        ("skcae score_samples", "skcae_score", "hand_score", n_score),
    ]
    for label, key, ref, n in table:
        best, med = stats(key)
        ratios = "| |"
        if ref is not None:
            ref_best, ref_med = stats(ref)
            ratios = f"| {best / ref_best:.3f}x | {med / ref_med:.3f}x |"
        lines.append(f"| {label} | {best:.3f} | {med:.3f} | {n / best:,.0f} {ratios}")
    print()
    print("\n".join(lines))
    print("\nimages/s for fits counts images x epochs.")


if __name__ == "__main__":
    main()
