"""Photo-patch benchmark: normal patches of one photo, outliers of another.

For every ordered pair of photos (A, B), each detector is fitted on patches
of photo A (training blocks only) and scores held-out patches of A (normal)
and patches of B (outliers); the AUROC and average precision treat the
outliers as the positive class (cost = ``-score_samples``). The recipe is
in ``benchmarks/_patches.py``: 32x32 patches by default (``--patch 64``),
crops of A's training and test blocks never overlap, and the split of A
does not depend on B, so each detector is fitted once per photo A and seed
and scores every B. ``--seeds N`` repeats with seeds 0..N-1 (the seed of
the block split, of the subsampling and of the detectors).

Photos: scikit-learn's china and flower plus scikit-image's astronaut,
chelsea, coffee, rocket and motorcycle (all bundled, offline); without
scikit-image only the two scikit-learn photos are used. ``--kind textures``
uses scikit-image's grey textures brick, grass and gravel instead.

Methods (see ``benchmarks/_methods.py``): skcae (default detector, hybrid
score), skcae-mse (the same network, reconstruction score, refitted from a
cache), iforest, lof, pca and pyod-ae (when PyOD imports); ocsvm on request.

Writes ``<out>/photo_patches_<P>.md`` (or ``textures_<P>.md``), ``.csv``
(one row per pair, method and seed) and ``.png`` (AUROC per normal image).

Examples (from the repository root)::

    python benchmarks/photo_patches.py --photos china flower --quick --out /tmp/b
    python benchmarks/photo_patches.py --threads 2              # ~2 min
    python benchmarks/photo_patches.py --threads 2 --patch 64   # ~10 min
    python benchmarks/photo_patches.py --threads 2 --kind textures
"""

import argparse
import time

import numpy as np
from _common import (
    add_common_arguments,
    environment_lines,
    grouped_bars,
    md_table,
    mean_std,
    set_threads,
    uptime,
    write_csv,
)
from _methods import (
    SKCAE_METHODS,
    SkcaeCache,
    make_method,
    method_notes,
    skcae_maker,
    warm_up,
)
from _patches import (
    RGB_PHOTOS,
    SKLEARN_PHOTOS,
    TEXTURES,
    load_image,
    loadable,
    ordered_pairs,
    outlier_crops,
    split_normal,
)

ALL_METHODS = (*SKCAE_METHODS, "iforest", "lof", "pca", "pyod-ae", "ocsvm")
DEFAULT_METHODS = ALL_METHODS[:-1]
CAPS = {"max_train": 3000, "max_test": 500, "max_outlier": 500}
QUICK_CAPS = {"max_train": 300, "max_test": 100, "max_outlier": 100}
FIELDS = [
    "kind", "patch", "method", "normal", "outlier", "seed", "n_train", "n_normal",
    "n_outlier", "auroc", "ap", "fit_s", "score_s", "score_per_s", "fit_kind",
    "n_iter", "torch_threads",
]  # fmt: skip


def run(args, names, methods, caps):
    """Fit each method on each normal photo, score every outlier photo."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    cache = SkcaeCache(skcae_maker(args.threads, args.quick, args.skcae_params))
    rows = []
    try:
        sample = split_normal(load_image(names[0]), args.patch, max_train=64)[0]
        warm_up(methods, cache, sample, sample)  # training patches only
        for seed in range(args.seeds):
            outliers = {
                b: outlier_crops(
                    load_image(b), args.patch, seed=seed, max_n=caps["max_outlier"]
                )
                for b in names
            }
            for a in names:
                cache.task()
                X_train, X_normal = split_normal(
                    load_image(a),
                    args.patch,
                    seed=seed,
                    max_train=caps["max_train"],
                    max_test=caps["max_test"],
                )
                others = [b for b in names if b != a]
                X_test = np.concatenate([X_normal, *(outliers[b] for b in others)])
                ends = np.cumsum([len(X_normal), *(len(outliers[b]) for b in others)])
                for name in methods:
                    method = make_method(name, seed, cache)
                    t0 = time.perf_counter()
                    method.fit(X_train)
                    fit_s = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    cost = -method.score_samples(X_test)
                    score_s = time.perf_counter() - t0
                    normal = cost[: ends[0]]
                    aurocs = []
                    for b, lo, hi in zip(others, ends[:-1], ends[1:]):
                        y = np.r_[np.zeros(len(normal)), np.ones(hi - lo)]
                        pair_cost = np.r_[normal, cost[lo:hi]]
                        rows.append(
                            {
                                "kind": args.kind,
                                "patch": args.patch,
                                "method": name,
                                "normal": a,
                                "outlier": b,
                                "seed": seed,
                                "n_train": len(X_train),
                                "n_normal": len(normal),
                                "n_outlier": hi - lo,
                                "auroc": roc_auc_score(y, pair_cost),
                                "ap": average_precision_score(y, pair_cost),
                                "fit_s": fit_s,
                                "score_s": score_s,
                                "score_per_s": len(X_test) / max(score_s, 1e-9),
                                **method.info,
                            }
                        )
                        aurocs.append(rows[-1]["auroc"])
                    extra = (
                        f"  [{method.info['fit_kind']}, {method.info['n_iter']} "
                        f"epochs, {method.info['torch_threads']} thread(s)]"
                        if method.info
                        else ""
                    )
                    print(
                        f"[seed {seed}] {a:<10s} {name:<9s} n_train {len(X_train):4d}"
                        f"  mean AUROC {np.mean(aurocs):.4f} over {len(others)} "
                        f"outlier images  fit {fit_s:6.1f}s  score {score_s:5.2f}s"
                        f"{extra}",
                        flush=True,
                    )
    finally:
        cache.close()
    return rows


# -- reporting ----------------------------------------------------------------
def _values(rows, method, key, **match):
    return [
        r[key]
        for r in rows
        if r["method"] == method and all(r[k] == v for k, v in match.items())
    ]


def _mean(rows, method, key, **match):
    values = _values(rows, method, key, **match)
    return float(np.mean(values)) if values else float("nan")


def _over_seeds(rows, method, key):
    seeds = sorted({r["seed"] for r in rows})
    return [np.mean(_values(rows, method, key, seed=s)) for s in seeds]


def pair_table(rows, methods, pairs, key):
    body = [
        [
            f"{a} → {b}",
            *(f"{_mean(rows, m, key, normal=a, outlier=b):.3f}" for m in methods),
        ]
        for a, b in pairs
    ]
    body.append(
        [
            "**mean**",
            *(f"**{mean_std(_over_seeds(rows, m, key), '.3f')}**" for m in methods),
        ]
    )
    return md_table(["normal → outlier", *methods], body)


def wins_table(rows, methods, pairs):
    """Pairs where each skcae method's mean AUROC beats each other method's."""
    mine = [m for m in methods if m in SKCAE_METHODS]
    body = []
    for m in mine:
        cells = []
        for other in methods:
            if other == m:
                cells.append("–")
                continue
            wins = sum(
                _mean(rows, m, "auroc", normal=a, outlier=b)
                > _mean(rows, other, "auroc", normal=a, outlier=b)
                for a, b in pairs
            )
            cells.append(f"{wins}/{len(pairs)}")
        body.append([m, *cells])
    return md_table(["pairs won by", *methods], body) if mine else []


def timing_table(rows, methods, names):
    body = []
    for a in [*names, None]:
        match = {} if a is None else {"normal": a}
        n_train = np.mean(_values(rows, methods[0], "n_train", **match))
        cells = ["**mean**" if a is None else a, f"{n_train:.0f}"]
        cells += [f"{_mean(rows, m, 'fit_s', **match):.2f}" for m in methods]
        cells += [
            f"{_mean(rows, m, 'score_per_s', **match):,.0f}"
            for m in methods
            if m in SKCAE_METHODS
        ]
        body.append(cells)
    header = ["normal image", "n_train", *(f"{m} fit s" for m in methods)]
    header += [f"{m} images/s" for m in methods if m in SKCAE_METHODS]
    return md_table(header, body)


def markdown(rows, args, methods, names, header):
    pairs = ordered_pairs(names)
    kind = "Texture" if args.kind == "textures" else "Photo"
    lines = [f"# {kind}-patch benchmark: {args.patch}x{args.patch} patches", ""]
    lines += [*header, ""]
    lines += ["## AUROC per ordered pair (outlier = positive), mean over seeds", ""]
    lines += pair_table(rows, methods, pairs, "auroc")
    lines += ["## Average precision (outlier = positive), mean over seeds", ""]
    lines += pair_table(rows, methods, pairs, "ap")
    lines += ["## Pairs won on AUROC (mean over seeds)", ""]
    lines += wins_table(rows, methods, pairs)
    lines += [
        "## Fit seconds per normal image, and skcae's scoring images/s",
        "",
        "skcae's fit trains the network; skcae-mse's is the scoring-only refit "
        "from the cache. images/s: all test patches of the photo in one call.",
        "",
        *timing_table(rows, methods, names),
    ]
    return "\n".join(lines)


# -- main ---------------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Photo-patch benchmark: fit on patches of photo A, detect "
        "patches of photo B, for every ordered pair."
    )
    p.add_argument(
        "--kind",
        choices=("photos", "textures"),
        default="photos",
        help="RGB photos or grey textures (default: %(default)s)",
    )
    p.add_argument(
        "--photos",
        nargs="+",
        choices=RGB_PHOTOS + TEXTURES,
        default=None,
        help="restrict the images (default: all of "
        "the kind that load), e.g. --photos china flower",
    )
    p.add_argument(
        "--patch",
        type=int,
        default=32,
        help="patch side in pixels (default: %(default)s; 64 too)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a smoke test: 2 epochs for skcae, at most 300 training "
        "and 100 + 100 test patches per pair",
    )
    add_common_arguments(p, ALL_METHODS, DEFAULT_METHODS, "all but ocsvm")
    return p.parse_args(argv)  # fmt: skip


def choose_images(args):
    """The images to use, and header notes on what was left out and why."""
    names = TEXTURES if args.kind == "textures" else RGB_PHOTOS
    if args.photos:
        wrong = [n for n in args.photos if n not in names]
        if wrong:
            raise SystemExit(f"--photos {wrong} are not of --kind {args.kind}")
        names = tuple(dict.fromkeys(args.photos))
    ok, missing = loadable(names)
    notes = []
    if missing:
        by_reason = {}
        for name, why in missing.items():
            by_reason.setdefault(why, []).append(name)
        reasons = "; ".join(f"{', '.join(n)} ({why})" for why, n in by_reason.items())
        notes.append(f"Left out, as they do not load here: {reasons}.")
        if set(ok) <= set(SKLEARN_PHOTOS):
            notes.append(
                "scikit-image is missing or incomplete: sklearn's photos only."
            )
    if len(ok) < 2:
        raise SystemExit(f"need at least two images that load; got {ok}")
    return ok, notes


def main(argv=None):
    args = parse_args(argv)
    set_threads(args.threads)
    names, notes = choose_images(args)
    methods = list(dict.fromkeys(args.methods))
    notes += method_notes(methods)
    caps = QUICK_CAPS if args.quick else CAPS
    header = [
        f"Images: {', '.join(names)} ({len(ordered_pairs(names))} ordered pairs); "
        f"{args.patch}x{args.patch} patches, stride 8, blocks of "
        f"{2 * args.patch}; at most {caps['max_train']} training, "
        f"{caps['max_test']} normal and {caps['max_outlier']} outlier patches; "
        f"seeds 0..{args.seeds - 1}" + ("; **--quick**" if args.quick else "") + ".",
        *environment_lines(args.threads, args.threads),
        *notes,
    ]
    if args.skcae_params:
        header.append(f"Extra skcae parameters: {args.skcae_params}.")
    print("\n".join(header), flush=True)
    rows = run(args, names, methods, caps)
    header.append(f"`uptime` at the end: `{uptime()}`.")

    args.out.mkdir(parents=True, exist_ok=True)
    prefix = "textures" if args.kind == "textures" else "photo_patches"
    stem = args.out / f"{prefix}_{args.patch}"
    write_csv(rows, stem.with_suffix(".csv"), FIELDS)
    text = markdown(rows, args, methods, names, header)
    stem.with_suffix(".md").write_text(text + "\n")
    series = {
        m: [_mean(rows, m, "auroc", normal=a) for a in names]
        + [_mean(rows, m, "auroc")]
        for m in methods
    }
    grouped_bars(
        [*names, "mean"],
        series,
        stem.with_suffix(".png"),
        title=f"{args.patch}x{args.patch} patches: mean AUROC over the outlier images",
        xlabel="normal image",
    )
    print()
    print(text)
    print(f"\nwrote {stem}.md, {stem}.csv and {stem}.png")


if __name__ == "__main__":
    main()
