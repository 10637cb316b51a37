"""Shared plumbing of the benchmark scripts: data, environment, reports.

Not a public module: the scripts in this folder import it by path (they put
the repository root and this folder on ``sys.path``), so they run from a
checkout without installing anything.
"""

import csv
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
for _path in (str(ROOT), str(ROOT / "benchmarks")):
    if _path not in sys.path:  # run from a checkout without installing
        sys.path.insert(0, _path)


# -- environment ----------------------------------------------------------------
def uptime():
    """The output of ``uptime`` (the load averages), or a stand-in."""
    try:
        out = subprocess.run(["uptime"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "uptime: no output"
    except (OSError, subprocess.SubprocessError):
        try:
            load = os.getloadavg()
            return "load average: " + ", ".join(f"{v:.2f}" for v in load)
        except OSError:
            return "uptime: unavailable"


def git_describe(path=ROOT):
    """``git describe --always --dirty`` of the checkout at ``path``.

    The stamp of every results file: the commit measured (and whether its
    tree had uncommitted changes), read when the script runs, not the
    version recorded at install time.
    """
    try:
        out = subprocess.run(
            ["git", "-C", str(path), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown (git unavailable)"
    return out.stdout.strip() or "unknown (not a git checkout)"


def set_threads(threads):
    """``torch.set_num_threads(threads)`` when given; return torch's count."""
    import torch

    if threads is not None:
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()


def add_common_arguments(p, methods, default_methods, methods_help):
    """The options every accuracy benchmark shares, added to parser ``p``."""
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="number of seeds 0..N-1; mean ± std when > 1",
    )
    p.add_argument(
        "--methods",
        nargs="+",
        choices=methods,
        default=list(default_methods),
        help=f"methods to run (default: {methods_help})",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=RESULTS,
        help="output folder (default: benchmarks/results)",
    )
    p.add_argument(
        "--skcae-params",
        type=json.loads,
        default={},
        help="JSON dict of extra ConvAutoencoderOutlierDetector "
        "parameters for skcae and skcae-mse, e.g. "
        "'{\"channels\": [16, 32]}' (default: none)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads, also skcae's n_jobs (default: "
        "torch's own choice and skcae's adaptive n_jobs=None)",
    )


def add_mnist_argument(p):
    """The ``--mnist-path`` option (resolved by :func:`find_mnist`)."""
    p.add_argument(
        "--mnist-path",
        default=None,
        help="folder with the MNIST IDX files (default: $SKCAE_MNIST "
        "or ../shared/data/mnist relative to the repository root)",
    )


def environment_lines(threads=None, n_jobs="unset", checkout=ROOT):
    """Markdown lines: date, machine, the skcae commit, torch and its
    threads, uptime. ``checkout`` is the skcae checkout measured."""
    import sklearn
    import torch

    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        f"Date: {now}; {platform.machine()} Linux-like host with "
        f"{os.cpu_count()} CPU(s), Python {platform.python_version()}.",
        f"torch {torch.__version__} with {torch.get_num_threads()} thread(s)"
        + (f" (--threads {threads})" if threads is not None else " (its default)")
        + (f", skcae n_jobs={n_jobs}" if n_jobs != "unset" else "")
        + f"; scikit-learn {sklearn.__version__}; skcae at "
        f"`{git_describe(checkout)}` (`git describe --always --dirty`).",
        f"`uptime` at the start: `{uptime()}`.",
    ]
    return lines


# -- data -------------------------------------------------------------------------
def find_mnist(path=None, required=True):
    """The MNIST folder: ``path`` if given, else $SKCAE_MNIST, else the
    ``shared/data/mnist`` folder beside or inside the repository.

    Returns None when nothing is found and ``required`` is False.
    """
    if path is not None:
        return Path(path).expanduser()
    candidates = []
    if os.environ.get("SKCAE_MNIST"):
        candidates.append(Path(os.environ["SKCAE_MNIST"]).expanduser())
    candidates += [
        ROOT.parent / "shared" / "data" / "mnist",
        ROOT / "shared" / "data" / "mnist",
        Path.cwd().parent / "shared" / "data" / "mnist",
    ]
    for folder in candidates:
        if any(
            (folder / f"t10k-labels-idx1-ubyte{ext}").is_file() for ext in ("", ".gz")
        ):
            return folder
    if not required:
        return None
    raise SystemExit(
        "No MNIST folder found; looked in "
        + ", ".join(str(c) for c in candidates)
        + ". Pass --mnist-path or set SKCAE_MNIST (or use --dataset digits)."
    )


def load_mnist_split(path, subset):
    """(images, labels) of one MNIST subset, float32 in [0, 1], (n, 28, 28)."""
    from skcae.datasets import load_mnist

    return load_mnist(find_mnist(path), subset=subset, return_X_y=True)


def stroke_images(n, seed=0, out=None, block=5_000):
    """``n`` MNIST-like uint8 28x28 images: a random line stroke plus noise.

    Written block by block into ``out`` (e.g. a memmap) when given, so the
    images never need to fit in memory; else returned as an array.
    """
    rng = np.random.RandomState(seed)
    images = np.empty((n, 28, 28), np.uint8) if out is None else out
    yy, xx = np.mgrid[:28, :28].astype(np.float32)
    for start in range(0, n, block):
        m = min(block, n - start)
        angle = rng.uniform(0, np.pi, (m, 1, 1)).astype(np.float32)
        offset = rng.uniform(-6, 6, (m, 1, 1)).astype(np.float32)
        dist = np.abs((xx - 14) * np.cos(angle) + (yy - 14) * np.sin(angle) - offset)
        img = np.clip(255 * (1.5 - dist), 0, 255) + rng.uniform(0, 30, (m, 28, 28))
        images[start : start + m] = np.clip(img, 0, 255).astype(np.uint8)
    return images


# -- reports ----------------------------------------------------------------------
def mean_std(values, fmt):
    """``mean`` or ``mean ± std`` (ddof=1) of ``values``, formatted."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return "–"
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(values.mean(), fmt)} ± {format(values.std(ddof=1), fmt)}"


def md_table(header, rows):
    """A Markdown table (list of lines) from a header and rows of cells."""
    lines = ["| " + " | ".join(map(str, header)) + " |"]
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return lines + [""]


def signed(value, fmt=".3f"):
    """``+0.012`` / ``−0.004``: a difference with its sign."""
    text = format(abs(value), fmt)
    return ("+" if value > 0 else "−" if value < 0 else "±") + text


def write_csv(rows, path, fields):
    """One CSV line per result row (missing fields left empty)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def grouped_bars(groups, series, path, *, title, xlabel, ylabel="AUROC"):
    """A grouped bar chart: ``series`` maps a label to one value per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(series)
    width = 0.8 / max(1, len(labels))
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(groups)), 4))
    x = np.arange(len(groups))
    for i, label in enumerate(labels):
        offset = (i - (len(labels) - 1) / 2) * width
        ax.bar(x + offset, series[label], width, label=label)
    values = np.concatenate([np.asarray(v, float) for v in series.values()])
    low = np.nanmin(values) if values.size else 0.0
    ax.set_ylim(max(0.0, low - 0.05), 1.0)
    ax.set_xticks(x, groups, rotation=30 if len(groups) > 10 else 0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(
        ncol=min(len(labels), 7),
        fontsize="small",
        loc="upper center",
        bbox_to_anchor=(0.5, -0.15),
        frameon=False,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
