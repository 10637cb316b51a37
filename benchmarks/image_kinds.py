"""Image-kinds benchmark: skcae and the flat-pixel baselines on other images.

Runs the default :class:`~skcae.ConvAutoencoderOutlierDetector` and the
baselines on several kinds of image data at small and large training sizes
(13 task families). In every task a detector is fitted on normal training
images only, then scores held-out normal images and one or more outlier
sets; each (normal class, outlier set) pair is a *cell*. Per cell: the
AUROC (held-out normal against that outlier set, ranked by
``score_samples``); per fit: the share of the held-out normal images that
``predict()`` flags (-1) with the default ``contamination``, the
calibration of the threshold on new normal data (documented as about 1 %
for skcae; iforest and lof use their own defaults).

Families (``--families``; a group name such as ``textures`` or ``mnist``
selects all its sizes; built in ``benchmarks/_image_tasks.py``):

* ``digits8x8-n30``: scikit-learn's 8x8 digits (as
  :func:`skcae.datasets.load_digits_images`, in [0, 1]); train on 30
  images of digit 0, 3 or 8, test on the rest of that digit against 300
  other digits.
* ``lfw-faces-n60``: :func:`skimage.data.lfw_subset` (25x25, 100 faces and
  100 non-faces); train on 60 faces, test on the other 40 against the
  non-faces, and the reverse. Skipped, with a note, when it does not load.
* ``textures-n40`` / ``textures-n2000``: scikit-image's grey brick, grass
  and gravel; one is normal, the other two are the outlier sets.
* ``rgbphoto-n50`` / ``-n2000``: normal coffee, immunohistochemistry, china
  or chelsea; outliers: the other seven of those, flower, astronaut, rocket
  and hubble_deep_field. ``grayphoto-n50`` / ``-n2000``: normal camera or
  moon; outliers: the other of camera, moon, coins, page, text, clock, cell.
* ``defects-n50`` / ``-n2000``: normal coffee, china (RGB), brick or camera
  (grey); the outlier sets are *other held-out patches of the same image*
  with a synthetic defect each: a 4x4 bright or dark square, a 1-pixel
  bright scratch about 20 pixels long, a Gaussian blur (sigma 1.5), +0.1 on
  channel 0 (red, or brightness for grey images) and Gaussian noise
  (sigma 0.05).
* ``mnist-n1000`` / ``mnist-nall``: MNIST digits 2, 8 and 4; train on 1,000
  (or all) of the digit's training images, score the whole test set.
  ``mnist-0to4-nall``: train on all training images of digits 0-4, test
  digits 0-4 against 5-9. MNIST is read from ``--mnist-path``,
  ``$SKCAE_MNIST`` or ``../shared/data/mnist``; the MNIST families are
  skipped, with a note, when it is absent.

Patches are 32x32 crops (stride 4) cut with ``benchmarks/_patches.py``:
64x64 blocks, 20 % of them held out, so a training crop and a held-out
normal crop never share a pixel; outlier crops come from anywhere in the
other image; 300 held-out normal and 300 outlier patches per set. Grey
images go in as (n, H, W), RGB as (n, 3, H, W), floats in [0, 1].

Methods (see ``benchmarks/_methods.py``): ``skcae`` (defaults, hybrid
score), ``skcae-mse`` (the same network, ``score_type="reconstruction"``,
refitted from a cache), ``iforest``, ``lof`` (``novelty=True``) and
``pca`` (32 components) on flat pixels; ``ocsvm`` and ``pyod-ae`` on
request. Seeds (of the data draws and the detectors): by default 3 for the
small-n families, 2 for rgb/gray photos, defects at n=2000 and mnist-n1000,
1 for the rest; ``--seeds N`` runs 0..N-1 everywhere.

Writes ``<out>/image_kinds.md`` (one section per family: AUROC per cell,
cells won by skcae, fit seconds and flag rates per method; then the overall
table) and ``<out>/image_kinds.csv`` (one row per cell, method and seed),
rewritten after every family.

Examples (from the repository root)::

    python benchmarks/image_kinds.py --quick --threads 1 --out /tmp/ik  # ~40 s
    python benchmarks/image_kinds.py  # 9.5 min measured (2 threads, load 0.9-2.3)
    python benchmarks/image_kinds.py --families digits8x8 lfw textures --threads 2
"""

import argparse
import time
import warnings

import numpy as np
from _common import (
    add_common_arguments,
    add_mnist_argument,
    environment_lines,
    md_table,
    mean_std,
    set_threads,
    uptime,
    write_csv,
)
from _image_tasks import (
    BLOCK,
    FAMILIES,
    GROUPS,
    N_TEST,
    PATCH,
    QUICK_ALL,
    QUICK_MNIST_TEST,
    QUICK_TEST,
    QUICK_TRAIN,
    STRIDE,
    Context,
    Skip,
    expand,
)
from _methods import (
    BASELINES,
    SKCAE_METHODS,
    Flat,
    PyodAutoEncoder,
    Skcae,
    SkcaeCache,
    flat,
    make_method,
    method_notes,
    skcae_maker,
    warm_up,
)

ALL_METHODS = (*SKCAE_METHODS, *BASELINES)
DEFAULT_METHODS = (*SKCAE_METHODS, "iforest", "lof", "pca")
FIELDS = [
    "family", "normal", "outliers", "method", "seed", "n_train", "n_normal",
    "n_outlier", "auroc", "flag_normal", "fit_s", "score_s", "nonfinite",
    "fit_kind", "n_iter", "torch_threads", "warnings",
]  # fmt: skip


# -- running ------------------------------------------------------------------
def flag_rate(method, X):
    """Share of ``X`` that the fitted method's ``predict`` flags; None for pca."""
    if isinstance(method, Skcae):
        return float(np.mean(method.detector_.predict(X) == -1))
    if isinstance(method, Flat):
        return float(np.mean(method.estimator.predict(flat(X)) == -1))
    if isinstance(method, PyodAutoEncoder):  # PyOD: 1 = outlier
        return float(np.mean(method.model_.predict(flat(X).astype(np.float32)) == 1))
    return None


def run_task(family, task, seed, methods, cache):
    """Fit every method on the task's training images; one row per cell."""
    from sklearn.metrics import roc_auc_score

    cache.task()
    sets = [task.X_normal, *task.outliers.values()]
    X_test = np.concatenate(sets)
    ends = np.cumsum([len(s) for s in sets])
    n_normal = len(task.X_normal)
    rows = []
    for name in methods:
        method = make_method(name, seed, cache)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            method.fit(task.X_train)
            fit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            scores = np.asarray(method.score_samples(X_test), dtype=float)
            score_s = time.perf_counter() - t0
            flagged = flag_rate(method, task.X_normal)
        messages = sorted(
            {f"{w.category.__name__}: {str(w.message)[:160]}" for w in caught}
        )
        nonfinite = int((~np.isfinite(scores)).sum())
        scores = np.nan_to_num(scores, nan=-1e300, neginf=-1e300, posinf=1e300)
        normal = scores[:n_normal]
        aurocs = []
        for outliers, lo, hi in zip(task.outliers, ends[:-1], ends[1:]):
            y = np.r_[np.ones(n_normal), np.zeros(hi - lo)]
            auroc = roc_auc_score(y, np.r_[normal, scores[lo:hi]])
            aurocs.append(auroc)
            rows.append(
                {
                    "family": family.name,
                    "normal": task.normal,
                    "outliers": outliers,
                    "method": name,
                    "seed": seed,
                    "n_train": len(task.X_train),
                    "n_normal": n_normal,
                    "n_outlier": hi - lo,
                    "auroc": auroc,
                    "flag_normal": flagged,
                    "fit_s": fit_s,
                    "score_s": score_s,
                    "nonfinite": nonfinite,
                    "warnings": "; ".join(messages),
                    **method.info,
                }
            )
        flag = "–" if flagged is None else f"{100 * flagged:5.1f}%"
        extra = (
            f"  [{method.info['fit_kind']}, {method.info['n_iter']} epochs]"
            if method.info
            else ""
        )
        print(
            f"[seed {seed}] {family.name:<15s} {task.normal:<20.20s} {name:<9s} "
            f"n_train {len(task.X_train):5d}  mean AUROC {np.mean(aurocs):.3f} "
            f"over {len(aurocs)} set(s)  flagged {flag}  fit {fit_s:6.1f}s"
            f"{extra}" + (f"  WARNINGS {messages}" if messages else ""),
            flush=True,
        )
    return rows


# -- reporting ----------------------------------------------------------------
def _mean(rows, method, key="auroc", **match):
    values = [
        r[key]
        for r in rows
        if r["method"] == method
        and r[key] is not None
        and all(r[k] == v for k, v in match.items())
    ]
    return float(np.mean(values)) if values else float("nan")


def _cells(rows):
    return list(dict.fromkeys((r["normal"], r["outliers"]) for r in rows))


def _lead(methods):
    """The skcae method the baselines are compared with (skcae first)."""
    mine = [m for m in SKCAE_METHODS if m in methods]
    return mine[0] if mine else None


def _wins(rows, methods):
    """{baseline: cells where the lead method's AUROC is higher}, and the
    cells where it beats every baseline."""
    lead = _lead(methods)
    others = [m for m in methods if m not in SKCAE_METHODS]
    if lead is None or not others:
        return {}, 0
    wins = dict.fromkeys(others, 0)
    all_three = 0
    for a, o in _cells(rows):
        mine = _mean(rows, lead, normal=a, outliers=o)
        ahead = [mine > _mean(rows, m, normal=a, outliers=o) for m in others]
        for m, won in zip(others, ahead):
            wins[m] += won
        all_three += all(ahead)
    return wins, all_three


def _fits(rows, method):
    """One row per fit (normal, seed) of ``method``."""
    return list(
        {(r["normal"], r["seed"]): r for r in rows if r["method"] == method}.values()
    )


def _range(values):
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else f"{lo}-{hi}"


def family_section(family, rows, methods, seeds, notes, start_uptime):
    lines = [f"## {family.name}: {family.about}", ""]
    if not rows:
        return lines + [*notes, ""]
    cells = _cells(rows)
    n_normal = _range(sorted({r["n_normal"] for r in rows}))
    n_outlier = _range(sorted({r["n_outlier"] for r in rows}))
    lines += [
        f"n_train {_range(sorted({r['n_train'] for r in rows}))}, "
        + ("seed 0" if seeds == 1 else f"seeds 0..{seeds - 1}")
        + f"; {n_normal} held-out normal against {n_outlier} "
        f"outliers per set. `uptime` at the start: `{start_uptime}`.",
        "",
        *notes,
        *([""] if notes else []),
    ]
    body = []
    for a, o in cells:
        values = {m: _mean(rows, m, normal=a, outliers=o) for m in methods}
        best = max(methods, key=lambda m: values[m])
        body.append(
            [
                a,
                o,
                *(
                    f"**{values[m]:.3f}**" if m == best else f"{values[m]:.3f}"
                    for m in methods
                ),
            ]
        )
    seed_means = {
        m: [_mean(rows, m, seed=s) for s in sorted({r["seed"] for r in rows})]
        for m in methods
    }
    body.append(
        ["**mean**", "", *(f"**{mean_std(seed_means[m], '.3f')}**" for m in methods)]
    )
    lines += ["AUROC (held-out normal against each outlier set), mean over seeds.", ""]
    lines += md_table(["normal", "outliers", *methods], body)
    wins, all_three = _wins(rows, methods)
    if wins:
        n = len(cells)
        lines += [
            f"{_lead(methods)} ahead of "
            + ", ".join(f"{m} on {w}/{n}" for m, w in wins.items())
            + f" cells; of all of them on {all_three}/{n}.",
            "",
        ]
    body = []
    for m in methods:
        fits = _fits(rows, m)
        fit_s = [r["fit_s"] for r in fits]
        flags = [r["flag_normal"] for r in fits if r["flag_normal"] is not None]
        body.append(
            [
                m,
                f"{np.mean(fit_s):.2f} / {np.max(fit_s):.2f}",
                f"{100 * np.mean(flags):.1f}% / {100 * np.max(flags):.1f}%"
                if flags
                else "– (no predict)",
            ]
        )
    lines += md_table(
        ["method", "fit s (mean / max)", "flagged held-out normal (mean / max)"],
        body,
    )
    found = sorted({w for r in rows for w in r["warnings"].split("; ") if w})
    nonfinite = sum(r["nonfinite"] for m in methods for r in _fits(rows, m))
    lines += [
        f"Warnings: {'; '.join(found) if found else 'none'}. Non-finite scores: "
        f"{nonfinite}.",
        "",
    ]
    return lines


def overall_section(rows, methods, families):
    lead = _lead(methods)
    others = [m for m in methods if m not in SKCAE_METHODS]
    header = ["family", "n_train", "cells", *methods]
    if lead and others:
        header.append(f"{lead} ahead of {' / '.join(others)}")
    if lead:
        header.append(f"{lead} flagged held-out normal, mean (max)")
    body, skipped = [], []
    total_cells, total_wins, total_all = 0, dict.fromkeys(others, 0), 0
    for family in families:
        fam = [r for r in rows if r["family"] == family.name]
        if not fam:
            skipped.append(family.name)
            continue
        n = len(_cells(fam))
        total_cells += n
        means = [
            np.mean([_mean(fam, m, normal=a, outliers=o) for a, o in _cells(fam)])
            for m in methods
        ]
        row = [family.name, _range(sorted({r["n_train"] for r in fam})), n]
        row += [f"{v:.3f}" for v in means]
        if lead and others:
            wins, all_three = _wins(fam, methods)
            for m in others:
                total_wins[m] += wins[m]
            total_all += all_three
            row.append(" · ".join(f"{wins[m]}/{n}" for m in others))
        if lead:
            flags = [r["flag_normal"] for r in _fits(fam, lead)]
            row.append(f"{100 * np.mean(flags):.1f}% ({100 * np.max(flags):.1f}%)")
        body.append(row)
    lines = [
        "## Overall",
        "",
        "Mean AUROC over the cells of each family (each cell: mean over seeds).",
        "",
        *md_table(header, body),
    ]
    if lead and others and total_cells:
        lines += [
            f"Over all {total_cells} cells, {lead} is ahead of "
            + ", ".join(f"{m} in {total_wins[m]}" for m in others)
            + f", and of all of them at once in {total_all}.",
            "",
        ]
    if skipped:
        lines += [f"Not run or skipped (see below): {', '.join(skipped)}.", ""]
    return lines


# -- main ---------------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="skcae against flat-pixel baselines on digits, faces, "
        "textures, photo patches, synthetic defects and MNIST: AUROC per "
        "cell and predict()'s flag rate on held-out normal images. Without "
        "--seeds, each family runs its own number of seeds (1-3)."
    )
    p.add_argument(
        "--families",
        nargs="+",
        choices=[*FAMILIES, *GROUPS],
        default=list(FAMILIES),
        metavar="FAMILY",
        help="families (or groups: " + ", ".join(GROUPS) + ") to run "
        "(default: all): " + ", ".join(FAMILIES),
    )
    add_mnist_argument(p)
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke test: 2 epochs for skcae, one seed, at most "
        f"{QUICK_TRAIN} training images per task ({QUICK_ALL} for the "
        f"'all images' ones), {QUICK_TEST} held-out "
        f"patches per set and the first {QUICK_MNIST_TEST} MNIST test images",
    )
    add_common_arguments(p, ALL_METHODS, DEFAULT_METHODS, " ".join(DEFAULT_METHODS))
    p.set_defaults(seeds=None)  # None: each family's own number
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    set_threads(args.threads)
    methods = list(dict.fromkeys(args.methods))
    notes = method_notes(methods)
    families = expand(args.families)
    sizes = (
        f"at most {QUICK_TRAIN} training images per task ({QUICK_ALL} for "
        f"'nall'), {QUICK_TEST} held-out "
        f"patches per set, the first {QUICK_MNIST_TEST} MNIST test images"
        if args.quick
        else f"{N_TEST} held-out normal and outlier patches per set"
    )
    header = [
        f"Families: {', '.join(f.name for f in families)}. Patches {PATCH}x{PATCH}, "
        f"stride {STRIDE}, {BLOCK}x{BLOCK} blocks (20 % held out); {sizes}"
        + ("; **--quick**" if args.quick else "")
        + ".",
        *environment_lines(args.threads, args.threads),
        *notes,
        "AUROC: held-out normal (positive) against each outlier set, ranked by "
        "`score_samples`. Flagged: share of the held-out normal images that "
        "`predict()` marks -1 (default `contamination`; iforest and lof use "
        "their own defaults; pca has no predict).",
    ]
    if args.skcae_params:
        header.append(f"Extra skcae parameters: {args.skcae_params}.")
    print("\n".join(header), flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / "image_kinds"
    ctx = Context(args.quick, args.mnist_path)
    cache = SkcaeCache(skcae_maker(args.threads, args.quick, args.skcae_params))
    rows, sections = [], []
    try:
        from skcae.datasets import load_digits_images

        sample = load_digits_images(return_X_y=True)[0][:64]
        warm_up(methods, cache, sample, sample)  # untimed first calls
        for family in families:
            seeds = args.seeds or (1 if args.quick else family.seeds)
            ctx.notes = []
            start = uptime()
            print(f"\n== {family.name} ({seeds} seed(s)); {start}", flush=True)
            done = []
            try:
                for seed in range(seeds):
                    for task in family.tasks(seed, ctx):
                        done += run_task(family, task, seed, methods, cache)
            except Skip as why:
                ctx.notes.append(f"**Skipped**: {why}.")
                print(f"skipped {family.name}: {why}", flush=True)
            rows += done
            sections += family_section(family, done, methods, seeds, ctx.notes, start)
            text = markdown(header, sections, rows, methods, families, final=False)
            stem.with_suffix(".md").write_text(text + "\n")
            write_csv(rows, stem.with_suffix(".csv"), FIELDS)
    finally:
        cache.close()
    header.append(f"`uptime` at the end: `{uptime()}`.")
    text = markdown(header, sections, rows, methods, families, final=True)
    stem.with_suffix(".md").write_text(text + "\n")
    print()
    print(text)
    print(f"\nwrote {stem}.md and {stem}.csv")


def markdown(header, sections, rows, methods, families, final):
    lines = ["# Image kinds: skcae against flat-pixel baselines", "", *header, ""]
    if not final:
        lines += ["**Partial**: the run has not finished.", ""]
    lines += overall_section(rows, methods, families)
    return "\n".join(lines + sections)


if __name__ == "__main__":
    main()
