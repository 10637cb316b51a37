"""ONNX scoring at scale: onnxruntime against in-process score_samples.

Fits the default ConvAutoencoderOutlierDetector (one epoch: the scoring cost
does not depend on training) on ``--fit-n`` MNIST training images (12,000:
about 10,000 kNN references; the results file's runs, before ``aa08d4c``,
held exactly the cap of 10,000), saves it with ``skcae.save``
and exports it with ``skcae.to_onnx``. Then, for each batch size ``--n``
(10,000 MNIST test images; larger sizes tile the 70,000 MNIST images), a
fresh worker process loads the images (float32, in memory) and scores them
in one call: ``score_samples`` of the loaded detector, or one ``run`` of an
onnxruntime session. Each worker reports the seconds, images/s and its peak
RSS growth while scoring (sampled every 5 ms; the input array is loaded
before). Workers run under an address-space limit (``--memory-limit-gb``),
so a run that needs more memory fails with "out of memory" instead of
swapping the machine. Both sides use ``--threads`` threads.

    python benchmarks/onnx_scaling.py --n 10000 200000 --threads 2
    git worktree add --detach /tmp/old <commit> && \\
        python benchmarks/onnx_scaling.py --skcae /tmp/old --n 10000 200000
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import ROOT, add_mnist_argument, environment_lines, find_mnist, uptime
from memory import MB, PeakSampler, status_kb


def worker(args):
    """Score ``args.data`` with ``args.kind`` and print a JSON line."""
    sys.path.insert(0, args.skcae)
    limit = int(args.memory_limit_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    X = np.load(args.data)
    if args.kind == "onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        session = ort.InferenceSession(
            args.model, options, providers=["CPUExecutionProvider"]
        )

        def score():
            return session.run(None, {"X": X})[0]
    else:
        import torch

        torch.set_num_threads(args.threads)
        import skcae

        det = skcae.load(args.model)
        det.set_params(n_jobs=args.threads)

        def score():
            return det.score_samples(X)

    before = status_kb()["VmRSS"]
    sampler = PeakSampler()
    sampler.start()
    start = time.perf_counter()
    try:
        scores = score()
        error = None
    except (MemoryError, RuntimeError, Exception) as exc:  # ort: RuntimeException
        scores, error = None, f"{type(exc).__name__}: {str(exc)[:120]}"
    seconds = time.perf_counter() - start
    sampler.stop()
    result = {
        "seconds": seconds,
        "peak_mb": (sampler.peak_rss - before) / MB,
        "error": error,
    }
    if scores is not None:
        np.save(args.out_scores, np.asarray(scores, dtype=np.float64))
    print(json.dumps(result), flush=True)


def run_worker(kind, model, data, out_scores, args):
    command = [
        sys.executable,
        __file__,
        "--worker",
        kind,
        "--model",
        str(model),
        "--data",
        str(data),
        "--out-scores",
        str(out_scores),
        "--threads",
        str(args.threads),
        "--skcae",
        args.skcae,
        "--memory-limit-gb",
        str(args.memory_limit_gb),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
        return {"seconds": None, "peak_mb": None, "error": f"crashed: {tail[0]}"}
    return json.loads(lines[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[10_000, 200_000])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--fit-n", type=int, default=12_000)
    p.add_argument(
        "--inprocess-max",
        type=int,
        default=None,
        help="score_samples only up to this many images (it is the slow side)",
    )
    p.add_argument("--skcae", default=str(ROOT), help="checkout to measure")
    p.add_argument("--memory-limit-gb", type=float, default=12.0)
    p.add_argument("--out", type=Path, default=None, help="also write here")
    add_mnist_argument(p)
    p.add_argument("--worker", choices=["onnx", "inprocess"], help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--out-scores", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        args.kind = args.worker
        return worker(args)

    sys.path.insert(0, args.skcae)
    import torch

    torch.set_num_threads(args.threads)
    import skcae
    from skcae.datasets import load_mnist

    folder = find_mnist(args.mnist_path)
    X_train, _ = load_mnist(folder, subset="train", return_X_y=True)
    X_test, _ = load_mnist(folder, subset="test", return_X_y=True)
    shown = [a for a in (argv or sys.argv[1:]) if a not in (args.skcae, str(args.out))]
    lines = [
        "`python benchmarks/onnx_scaling.py "
        + " ".join(a for a in shown if a not in ("--skcae", "--out"))
        + "`",
        "",
        *environment_lines(args.threads, args.threads, checkout=args.skcae),
        "",
    ]
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        det = skcae.ConvAutoencoderOutlierDetector(
            max_epochs=1, random_state=0, n_jobs=args.threads
        ).fit(X_train[: args.fit_n])
        fit_seconds = time.perf_counter() - start
        skcae.save(det, tmp / "det.skcae")
        start = time.perf_counter()
        skcae.to_onnx(det, tmp / "det.onnx")
        export_seconds = time.perf_counter() - start
        lines += [
            f"Detector: default parameters, max_epochs=1, fitted on the first "
            f"{args.fit_n:,} MNIST training images in {fit_seconds:.0f} s "
            "(references: the training rows kept, at most 30,000); to_onnx took "
            f"{export_seconds:.0f} s; the ONNX file is "
            f"{(tmp / 'det.onnx').stat().st_size / 2**20:.1f} MiB.",
            "",
            "| images | scorer | seconds | images/s | peak RSS growth MB | "
            "ratio to in-process | max abs score difference | `uptime` |",
            "|---|---|---|---|---|---|---|---|",
        ]
        print("\n".join(lines[-4:]), flush=True)
        pool = np.concatenate([X_test, X_train]).astype(np.float32)
        for n in args.n:
            data = tmp / f"x{n}.npy"
            reps = -(-n // len(pool))
            np.save(data, np.concatenate([pool] * reps)[:n])
            results = {}
            for kind, model in (("inprocess", "det.skcae"), ("onnx", "det.onnx")):
                if kind == "inprocess" and n > (args.inprocess_max or n):
                    results[kind] = {"seconds": None, "error": "not run"}
                    results[kind]["uptime"] = uptime()
                    continue
                load = uptime()
                results[kind] = run_worker(
                    kind, tmp / model, data, tmp / f"{kind}{n}.npy", args
                )
                results[kind]["uptime"] = load
            base = results["inprocess"].get("seconds")
            for kind in ("inprocess", "onnx"):
                r = results[kind]
                if r["error"] == "not run":
                    row = [f"{n:,}", kind, "not run", "", "", "", ""]
                elif r["error"] or r["seconds"] is None:
                    row = [f"{n:,}", kind, "failed", "", "", "", r["error"]]
                else:
                    diff = ""
                    if kind == "onnx" and results["inprocess"]["seconds"]:
                        a = np.load(tmp / f"onnx{n}.npy")
                        b = np.load(tmp / f"inprocess{n}.npy")
                        diff = f"{np.max(np.abs(a - b)):.2g}"
                    row = [
                        f"{n:,}",
                        kind,
                        f"{r['seconds']:.2f}",
                        f"{n / r['seconds']:,.0f}",
                        f"{r['peak_mb']:.0f}",
                        f"{r['seconds'] / base:.2f}x" if base else "",
                        diff,
                    ]
                line = "| " + " | ".join(row + [f"`{r['uptime']}`"]) + " |"
                lines.append(line)
                print(line, flush=True)
            os.remove(data)
    lines += ["", f"`uptime` at the end: `{uptime()}`.", ""]
    print(lines[-2], flush=True)
    if args.out is not None:
        args.out.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
