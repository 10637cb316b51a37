"""Time skcae's fit and scoring against a hand-written PyTorch loop.

Both sides train the very same module class
(:class:`skcae._network.ConvAutoencoderModule`) with the same parameters,
data, number of epochs, batch size and Adam learning rate; the hand-written
loop is the minimum a careful user would write. Like skcae, it standardises
the images in float64 with their mean and standard deviation before the
float32 cast (the module's own ``shift`` / ``scale`` buffers stay 0 / 1),
and it trains on the same rows: from 1,000 images on, skcae holds a random
10% out of training to calibrate its score, so the hand loop trains on the
other 90% too. Then: shuffle, slice a batch, forward, MSE, backward, step.

The table separates skcae's fit into its training epochs (the sum of skorch's
per-epoch durations, which include the validation loss on the held-out 10%)
and the rest (standardisation, building the net, the final divergence check,
fitting and calibrating the score model). Scoring is timed for both score
types: ``reconstruction`` (mean squared error, what the hand loop computes)
and ``hybrid`` (adds the pooled error, the latent and image-statistics kNN
terms); the other score type's detector is fitted once, untimed.

Run from the repository root::

    python benchmarks/overhead.py --threads 2            # MNIST digit 0, ~3-5 min
    python benchmarks/overhead.py --synthetic --quick    # smoke test
    python benchmarks/overhead.py --score-type reconstruction
"""

import argparse
import statistics
import time

import numpy as np
from _common import (
    add_mnist_argument,
    environment_lines,
    load_mnist_split,
    md_table,
    uptime,
)

SCORE_TYPES = ("hybrid", "reconstruction")


def load_images(args):
    if args.synthetic:
        rng = np.random.RandomState(0)
        return rng.rand(args.n_images, 28, 28).astype(np.float32), "random 28x28"
    X, y = load_mnist_split(args.mnist_path, "train")
    X = X[y == args.digit][: args.n_images]
    return np.ascontiguousarray(X), f"MNIST train, digit {args.digit}"


def standardise(images, center, scale):
    """skcae's standardisation: float64 arithmetic, then the float32 cast."""
    z = (images[:, None].astype(np.float64) - center) / scale
    return np.clip(z, -1e6, 1e6).astype(np.float32)


def hand_fit(images, rows, det, seed):
    """The minimal loop: same module, same Adam, same batches of shuffled rows."""
    import torch

    from skcae._network import ConvAutoencoderModule

    x64 = images[rows].astype(np.float64)
    center, scale = float(x64.mean()), float(x64.std())
    z_all = torch.from_numpy(standardise(images[rows], center, scale))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        module = ConvAutoencoderModule(
            z_all.shape[1:],
            channels=tuple(det.channels),
            kernel_size=det.kernel_size,
            latent_dim=det.latent_dim,
            activation=det.activation,
        )
        opt = torch.optim.Adam(module.parameters(), lr=det.lr)
        loss_fn = torch.nn.MSELoss()
        n, bs = len(z_all), det.batch_size
        module.train()
        for _ in range(det.max_epochs):
            order = torch.randperm(n)
            for start in range(0, n, bs):
                zb = z_all[order[start : start + bs].sort().values]
                opt.zero_grad()
                loss = loss_fn(module(zb), zb)
                loss.backward()
                opt.step()
    return module, center, scale


def hand_score(fitted, images, chunk=1024):
    """Minus the mean squared error in data units (skcae's reconstruction)."""
    import torch

    module, center, scale = fitted
    module.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), chunk):
            zb = torch.from_numpy(
                standardise(images[start : start + chunk], center, scale)
            )
            err = (module(zb) - zb).square().flatten(1).mean(1).double()
            out.append(err * scale**2)
    return -torch.cat(out).numpy()


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def parse_args(argv=None):
    from skcae import ConvAutoencoderOutlierDetector

    defaults = ConvAutoencoderOutlierDetector().get_params()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--synthetic", action="store_true", help="random 28x28 images instead of MNIST"
    )
    add_mnist_argument(p)
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
        default=defaults["max_epochs"],
        help="training epochs (default: %(default)s, skcae's default)",
    )
    p.add_argument(
        "--channels",
        type=int,
        nargs="+",
        default=list(defaults["channels"]),
        help="encoder channels (default: %(default)s, skcae's default)",
    )
    p.add_argument(
        "--latent-dim",
        type=int,
        default=defaults["latent_dim"],
        help="latent size (default: %(default)s)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=64,
        help="batch size of both loops (default: %(default)s)",
    )
    p.add_argument(
        "--score-type",
        choices=SCORE_TYPES,
        default="hybrid",
        help="score_type of the timed skcae fits (default: "
        "%(default)s); scoring is timed for both",
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
        help="torch.set_num_threads and skcae's n_jobs (default: %(default)s)",
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
    return args  # fmt: skip


def main(argv=None):
    args = parse_args(argv)
    import torch
    from sklearn.base import clone

    from skcae import ConvAutoencoderOutlierDetector

    torch.set_num_threads(args.threads)
    images, source = load_images(args)
    rng = np.random.RandomState(1)
    score_images = images[rng.randint(0, len(images), args.n_score)]
    det = ConvAutoencoderOutlierDetector(
        channels=tuple(args.channels),
        latent_dim=args.latent_dim,
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        score_type=args.score_type,
        device="cpu",
        n_jobs=args.threads,
        random_state=0,
    )
    header = [
        f"data: {source}, {len(images)} train / {len(score_images)} scored; "
        f"{args.epochs} epochs, batch {det.batch_size}, channels "
        f"{tuple(det.channels)}, latent {det.latent_dim}; fit with "
        f"score_type={args.score_type!r}.",
        *environment_lines(args.threads, args.threads),
    ]
    print("\n".join(header), flush=True)
    other_type = [s for s in SCORE_TYPES if s != args.score_type][0]
    scorers = {args.score_type: det}
    print(f"fitting the {other_type!r} detector (untimed) ...", flush=True)
    scorers[other_type] = clone(det).set_params(score_type=other_type).fit(images)
    split = scorers[other_type].net_.train_split
    rows = split.indices(len(images))[0] if split else np.arange(len(images))

    keys = ["hand_fit", "skcae_fit", "skcae_epochs", "skcae_rest", "hand_score"]
    keys += [f"skcae_score_{s}" for s in SCORE_TYPES]
    times = {k: [] for k in keys}
    for rep in range(args.repeats):
        t, fitted = timed(lambda: hand_fit(images, rows, det, seed=rep))
        times["hand_fit"].append(t)
        t, _ = timed(lambda: det.set_params(random_state=rep).fit(images))
        epochs = float(sum(det.net_.history[:, "dur"]))
        times["skcae_fit"].append(t)
        times["skcae_epochs"].append(epochs)
        times["skcae_rest"].append(t - epochs)
        t, _ = timed(lambda: hand_score(fitted, score_images))
        times["hand_score"].append(t)
        for s in SCORE_TYPES:
            t, _ = timed(lambda: scorers[s].score_samples(score_images))
            times[f"skcae_score_{s}"].append(t)
        print(
            f"repeat {rep + 1}/{args.repeats}: "
            + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items())
            + f"  `{uptime()}`",
            flush=True,
        )

    def stats(key):
        return min(times[key]), statistics.median(times[key])

    n_fit, n_score = len(rows) * args.epochs, len(score_images)
    table = [
        ("hand-written fit", "hand_fit", None, n_fit),
        (f"skcae fit ({args.score_type})", "skcae_fit", "hand_fit", n_fit),
        ("skcae fit: training epochs only", "skcae_epochs", "hand_fit", n_fit),
        ("skcae fit: the rest (score model ...)", "skcae_rest", None, None),
        ("hand-written scoring (MSE)", "hand_score", None, n_score),
    ]
    table += [
        (f"skcae score_samples ({s})", f"skcae_score_{s}", "hand_score", n_score)
        for s in SCORE_TYPES
    ]
    body = []
    for label, key, ref, n in table:
        best, med = stats(key)
        speed = f"{n / best:,.0f}" if n else ""
        ratios = ["", ""]
        if ref is not None:
            ref_best, ref_med = stats(ref)
            ratios = [f"{best / ref_best:.3f}x", f"{med / ref_med:.3f}x"]
        body.append([label, f"{best:.3f}", f"{med:.3f}", speed, *ratios])
    lines = md_table(
        ["what", "best s", "median s", "images/s (best)", "skcae / hand (best)",
         "skcae / hand (median)"],
        body,
    )  # fmt: skip
    print()
    print("\n".join(header + [f"`uptime` at the end: `{uptime()}`.", ""] + lines))
    print(
        f"images/s for fits counts training rows x epochs ({len(rows)} rows: "
        "skcae's training split; the hand loop trains on the same rows)."
    )


if __name__ == "__main__":
    main()
