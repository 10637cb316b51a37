"""The command line: ``skcae fit`` a folder of images, ``skcae score`` others.

``python -m skcae`` (or the ``skcae`` entry point) for people who have
folders of image files rather than arrays. ``fit`` trains a
:class:`~skcae.ConvAutoencoderOutlierDetector` on the images of one or more
folders (read with :class:`skcae.images.ImageFiles`) and saves it with
:func:`skcae.save`, plus a small JSON file beside it (``MODEL.json``) that
records how the images were read (size, colour mode, whether resized or
converted), so that ``score`` reads new files the same way: resized or
converted when ``fit`` resized or converted, else they must match the
model. ``score`` writes one CSV row
per file (path, score, label) and, optionally, each file's anomaly map as a
PNG.

Exit status: 0 on success, 2 for a usage error (argparse's), 1 for anything
else (an unreadable image or model file, a failed fit), always with a
one-line message on stderr and no traceback; 130 when interrupted.
"""

import csv
import hashlib
import io
import json
import os
import re
import sys
import tempfile
import warnings

import numpy as np

from ._cli_args import build_parser, estimator_params
from ._files import atomic_write

#: Files per block read, scored and written by ``score``.
SCORE_BLOCK = 1024
_SIDECAR_FORMAT = "skcae-cli-images"


class CommandError(Exception):
    """An error reported to the shell user as one line (exit status 1)."""


def _check_output(path, option):
    """Refuse an output path that cannot be written, before any work: a
    folder, a missing folder, an empty name."""
    if not path:
        raise CommandError(f"{option} is empty; expected a file path")
    full = os.path.abspath(path)
    if os.path.isdir(full):
        raise CommandError(
            f"{option} {path} is a folder; expected a file path in it, such as "
            f"{os.path.join(path, 'out' + ('.csv' if option == '--out' else '.skcae'))}"
        )
    # where the file will land (a link's target: the atomic write follows
    # it), and the link's own folder, where fit's sidecar goes
    folder = os.path.dirname(os.path.realpath(full))
    if not os.path.isdir(folder):
        raise CommandError(
            f"{option} {path}: its folder {folder} does not exist; create it first"
        )
    _check_writable_folder(folder, option, path)
    if os.path.dirname(full) != folder:
        _check_writable_folder(os.path.dirname(full), option, path)


def _check_writable_folder(folder, option, path):
    """Refuse, before any work, a folder in which no file can be created (a
    read-only or protected folder failed after the whole fit)."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".skcae-write-check-")
    except OSError as exc:
        raise CommandError(
            f"{option} {path}: cannot write in the folder {folder} "
            f"({exc.strerror or exc}); expected a folder you can write in"
        ) from exc
    os.close(fd)
    os.unlink(probe)


def _check_not_an_input(path, option, files):
    """Refuse an output path that is one of the images read (the output
    would replace it, and every later run on the folder would fail)."""
    if os.path.realpath(path) in {os.path.realpath(p) for p in files.paths}:
        raise CommandError(
            f"{option} {path} would overwrite the input image {path!r}; expected a "
            "file apart from the images"
        )


def _check_not_the_model(path, model):
    """Refuse ``score --out`` at the model file or its sidecar: the CSV
    would replace the model every later run needs."""
    real = os.path.realpath(path)
    for target, what in ((model, "model"), (sidecar_path(model), "model's sidecar")):
        same = real == os.path.realpath(target)
        if not same and os.path.exists(path) and os.path.exists(target):
            same = os.path.samefile(path, target)  # hard links too
        if same:
            raise CommandError(
                f"--out {path} would overwrite the {what} {target}; expected a "
                "file apart from the model, such as scores.csv"
            )


def sidecar_path(model_path):
    """The JSON file beside a model that records how its images were read."""
    return os.fspath(model_path) + ".json"


def _file_sha256(path):
    """The SHA-256 of a file's bytes (hex), read in 1 MB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for piece in iter(lambda: f.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()


def _check_model_output(path):
    """Refuse ``fit -o`` paths a sidecar would clash with: ``-`` (a model is
    a file, not a stream) and names ending in .json (the sidecar of model
    ``X`` is ``X.json``: one fit would overwrite another's)."""
    if path == "-":
        raise CommandError(
            "-o - would write a model file named '-'; expected a file path "
            "such as model.skcae (fit writes the model, not a stream)"
        )
    if os.path.isdir(sidecar_path(path)):
        raise CommandError(
            f"-o {path}: {sidecar_path(path)}, the JSON file fit writes beside "
            "the model, is a folder; expected another model name, or move "
            "the folder"
        )
    if path.lower().endswith(".json"):
        raise CommandError(
            f"-o {path} ends in .json, the name of the JSON file fit writes "
            f"beside a model ({os.path.basename(path)} is the one of "
            f"{os.path.basename(path)[:-5]!r}); expected another name, such as "
            f"{path[:-5]}.skcae"
        )


def _say(message, quiet=False):
    if not quiet:
        print(message, file=sys.stderr, flush=True)


_KINDS = {"L": "gray", "RGB": "colour"}


def _describe(files):
    height, width = files.image_size
    return f"{len(files):,} {_KINDS[files.mode]} images of {height}x{width} pixels"


# -- fit -------------------------------------------------------------------------------
def run_fit(args, parser):
    from . import save
    from ._detector import ConvAutoencoderOutlierDetector
    from .images import ImageFiles

    det = ConvAutoencoderOutlierDetector(
        **estimator_params(args), verbose=0 if args.quiet else 1
    )
    try:  # what fit checks first, before any file is read
        det._validate_params()  # scikit-learn's constraints
        det._check_params()
    except ValueError as exc:
        parser.error(_one_line(exc))  # a bad option value: exit status 2
    _check_model_output(args.output)  # its own messages for '-' and .json
    _check_output(args.output, "-o")  # before a fit that a bad path would waste
    files = ImageFiles(args.normal, size=args.size, mode=args.mode)
    _check_each_file_once(args.normal)
    _check_not_an_input(args.output, "-o", files)
    _say(f"training on {_describe(files)}", args.quiet)
    det.fit(files)
    save(det, args.output)
    record = {
        "format": _SIDECAR_FORMAT,
        "version": 2,
        # the model it was written with: a model replaced since (skcae.save
        # from Python, a kill between the two writes) is not read by it
        "model_sha256": _file_sha256(args.output),
        "size": list(files.image_size),
        "mode": files.mode,
        "resize": args.size is not None,
        "convert": args.mode is not None,
    }
    text = json.dumps(record, indent=1).encode("utf-8")
    atomic_write(sidecar_path(args.output), lambda f: f.write(text))
    if det.threshold is None and det.contamination != "auto":
        # the calibration images are not X: name the rule
        flagged = f"{det.contamination:g} of the training images flagged"
    else:
        n_flagged = int((det.validation_scores_ < det.offset_).sum())
        flagged = (
            f"{n_flagged} of {len(det.validation_scores_)} calibration images flagged"
        )
    _say(
        f"saved {args.output} (and {os.path.basename(sidecar_path(args.output))}): "
        f"{det.n_iter_} epochs, threshold {-det.offset_:.4g} on -score; {flagged}",
        args.quiet,
    )
    return 0


# -- score -----------------------------------------------------------------------------
def _read_sidecar(model_path):
    path = sidecar_path(model_path)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        if not isinstance(record, dict):
            raise ValueError(f"it holds a JSON {type(record).__name__}, not an object")
        missing = [k for k in ("size", "mode", "resize", "convert") if k not in record]
        if missing:
            raise ValueError(f"it has no {', '.join(map(repr, missing))} field")
        size = tuple(int(v) for v in record["size"])
        mode, resize = record["mode"], bool(record["resize"])
        convert = bool(record["convert"])
        if record.get("format") != _SIDECAR_FORMAT or len(size) != 2:
            raise ValueError("unknown format")
        if mode not in ("L", "RGB"):
            raise ValueError(f"unknown mode {mode!r}")
        model_hash = record.get("model_sha256")  # version 1 had none
    except (OSError, ValueError, KeyError, TypeError, OverflowError) as exc:
        raise CommandError(
            f"cannot read {path} (written by 'skcae fit' beside the model): {exc}; "
            "delete it and pass --size and --mode to say how to read the images"
        ) from exc
    if model_hash is not None and model_hash != _file_sha256(model_path):
        raise CommandError(
            f"{path} was written by 'skcae fit' for another {model_path} (the "
            "model file has changed since: saved again from Python, or a fit "
            "interrupted between the two files), so it may not say how this "
            "model reads images; delete it and pass --size and --mode, or fit "
            "again with the command line"
        )
    return {"size": size, "mode": mode, "resize": resize, "convert": convert}


def _reading(det, args):
    """``(size, mode)`` for ImageFiles, and the model's (H, W) and mode.

    As ``fit`` read its images: resized and converted if it did (``--size``,
    ``--mode``), else as they are (and then they must match the model).
    """
    channels, height, width = det.image_shape_
    if channels not in (1, 3):
        raise CommandError(
            f"the model takes images with {channels} channels; the command "
            "line reads gray (1) or colour (3) images"
        )
    record = _read_sidecar(args.model)
    model_mode = "L" if channels == 1 else "RGB"
    mode = args.mode
    if mode is None and record is not None and record["convert"]:
        mode = record["mode"]
    if args.size is not None:
        size = args.size
    elif record is not None and record["resize"]:
        size = record["size"]
    else:
        size = None  # the files must have the model's size
    return size, mode, (height, width), model_mode


def _fitted_on_signals(det):
    """Whether ``det`` read its training rows as 1-D signals (2-D X without
    ``image_shape``), not as images."""
    return getattr(det, "image_shape", None) is None and len(det.input_shape_) == 1


def _check_each_file_once(entries):
    """Refuse a file named twice on the command line: one row per file (a
    list of paths in Python may repeat one, as rows of a resample).
    ImageFiles already refuses a folder or pattern that finds a file another
    entry names, so only the entries that are files are compared (not every
    file of a folder: a realpath each)."""
    from ._image_files import names_one_file

    seen = {}
    for entry in entries:
        if not names_one_file(entry):
            continue
        real = os.path.realpath(entry)
        if real in seen:
            raise CommandError(
                f"the image file {entry!r} is named twice (also as "
                f"{seen[real]!r}); expected each file once"
            )
        seen[real] = entry


def _map_names(paths):
    """A relative output name for each file's anomaly map (``.png``)."""
    folders = [os.path.dirname(os.path.abspath(p)) for p in paths]
    root = os.path.commonpath(folders)
    names = []
    for p in paths:
        rel = os.path.relpath(os.path.abspath(p), root)
        names.append(rel if rel.lower().endswith(".png") else rel + ".png")
    return names


def _check_map_targets(names, folder, files, entries):
    """Refuse anomaly maps that would overwrite each other or an input
    image, or land in a folder being scored (a later run would read them
    as images)."""
    from ._image_files import (
        is_recursive_pattern,
        names_one_file,
        pattern_base,
        pattern_folders,
    )

    seen = {}
    for path, name in zip(files.paths, names):
        if name in seen:
            raise CommandError(
                f"{seen[name]!r} and {path!r} would both write the map {name!r}; "
                "rename one of them, or score them in separate runs"
            )
        seen[name] = path
    inputs = {os.path.realpath(p) for p in files.paths}
    for name in names:
        target = os.path.join(folder, name)
        if os.path.realpath(target) in inputs:
            raise CommandError(
                f"--maps {folder!r} would overwrite the input image {target!r}; "
                "expected a folder apart from the images"
            )
        if os.path.lexists(target) and not _is_map(target):
            # (a photo beside the maps was replaced by an 8x8 map, a probe)
            raise CommandError(
                f"--maps {folder!r} would overwrite {target!r}, which is not an "
                "anomaly map skcae wrote; expected a folder apart from other "
                "files (or remove that file)"
            )
    maps = os.path.realpath(folder)
    searched_folders = []
    for entry in entries:
        if os.path.isdir(entry):
            searched_folders.append(entry)
        elif is_recursive_pattern(entry):
            searched_folders.append(pattern_base(entry))  # the folder it searches
        elif not names_one_file(entry):  # a pattern searches what it matches
            searched_folders += pattern_folders(entry)
        # (a file names itself: no folder is searched; it crashed in
        # pattern_base, a probe)
    for entry in searched_folders:
        if os.path.isdir(entry):
            searched = os.path.realpath(entry)
            if os.path.commonpath([maps, searched]) == searched:
                raise CommandError(
                    f"--maps {folder!r} lies in the scored folder {entry!r}, so a "
                    "later run would score the maps as images; expected a folder "
                    "apart from the images"
                )


#: The PNG text chunk that marks an anomaly map (a later run may replace
#: such a file, and no other).
MAP_MARK = ("Software", "skcae anomaly map")


def _is_map(path):
    """Whether ``path`` is a PNG that :func:`_write_maps` wrote."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.format == "PNG" and img.info.get(MAP_MARK[0]) == MAP_MARK[1]
    except (OSError, ValueError, Image.DecompressionBombError):
        return False


def _write_maps(maps, names, folder, Image):
    from PIL.PngImagePlugin import PngInfo

    mark = PngInfo()
    mark.add_text(*MAP_MARK)
    if maps.ndim == 4:
        maps = maps.mean(axis=1)  # colour: the mean over the channels
    for image, name in zip(maps, names):
        peak = float(image.max())
        scaled = image / peak if peak > 0 else image
        target = os.path.join(folder, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        pixels = np.round(255 * np.clip(scaled, 0, 1)).astype(np.uint8)
        Image.fromarray(pixels).save(target, pnginfo=mark)


def run_score(args, parser):
    from . import load
    from ._console import shows_progress
    from ._image_files import as_path_list
    from .images import ImageFiles

    if not os.path.isfile(args.model):
        raise CommandError(
            f"no model file {args.model!r}; expected a file written by 'skcae fit'"
        )
    det = load(args.model, device=args.device)
    if not hasattr(det, "score_samples") or not hasattr(det, "image_shape_"):
        raise CommandError(
            f"{args.model} holds a {type(det).__name__}; expected an image "
            "outlier detector (ConvAutoencoderOutlierDetector)"
        )
    if args.n_jobs is not None:
        det.set_params(n_jobs=args.n_jobs)
        try:  # as fit checks it
            det._validate_params()
            det._check_params()
        except ValueError as exc:
            parser.error(_one_line(exc))  # a bad option value: exit status 2
    if args.out != "-":
        _check_not_the_model(args.out, args.model)
    size, mode, fitted, model_mode = _reading(det, args)
    files = ImageFiles(args.images, size=size, mode=mode)
    _check_each_file_once(args.images)
    if _fitted_on_signals(det) and (
        files.image_size != fitted or files.mode != model_mode
    ):
        raise CommandError(
            f"the model was trained on 1-D signals of {fitted[1]} values (2-D "
            "rows fitted in Python without image_shape), not on images; score "
            "these images with a model fitted on images ('skcae fit', or "
            "image_shape=(H, W) in Python)"
        )
    if files.mode != model_mode:
        raise CommandError(
            f"the images are {_KINDS[files.mode]}, but the model was trained on "
            f"{_KINDS[model_mode]} images; pass --mode {model_mode} to convert them"
        )
    if files.image_size != fitted:
        height, width = files.image_size
        read = (
            f"--size {args.size[0]} {args.size[1]} resizes the images to "
            f"{height}x{width} pixels"
            if args.size is not None
            else f"the images are {height}x{width} pixels"
        )
        raise CommandError(
            f"{read} (height x width), but the model was trained on {fitted[0]}x"
            f"{fitted[1]} images; pass --size {fitted[0]} {fitted[1]} to resize them"
        )
    if args.out != "-":
        _check_output(args.out, "--out")
        _check_not_an_input(args.out, "--out", files)
    names = _map_names(files.paths) if args.maps else None
    if args.maps:
        from ._image_files import import_pil

        Image = import_pil("skcae score --maps")
        if os.path.exists(args.maps) and not os.path.isdir(args.maps):
            raise CommandError(
                f"--maps {args.maps} is a file; expected a folder for the maps"
            )
        _check_map_targets(names, args.maps, files, as_path_list(args.images))
        if os.path.islink(args.maps) and not os.path.exists(args.maps):
            raise CommandError(
                f"--maps {args.maps} is a link to nothing; expected a folder "
                "for the maps (or a name that does not exist yet)"
            )
        try:  # before scoring: a folder that cannot be made failed after it
            os.makedirs(args.maps, exist_ok=True)
        except OSError as exc:
            raise CommandError(
                f"--maps {args.maps}: cannot create the folder "
                f"({exc.strerror or exc}); expected a folder you can write in"
            ) from exc
        _check_writable_folder(args.maps, "--maps", args.maps)
        if args.out != "-" and os.path.realpath(args.out) in {
            os.path.realpath(os.path.join(args.maps, name)) for name in names
        }:
            raise CommandError(
                f"--out {args.out} would be overwritten by an anomaly map of "
                f"--maps {args.maps}; expected a file apart from the maps"
            )
    _say(f"scoring {_describe(files)}", args.quiet)
    from tqdm import tqdm  # a dependency of skorch

    # ImageFiles reads colour images channels first; a model fitted in
    # Python with data_format="channels_last" takes (n, H, W, C)
    channels_last = det._data_format() == "channels_last"

    def write_rows(out):
        """Score the files block by block into CSV rows; the outliers."""
        n_outliers = 0
        # "\n" line ends (csv's default is "\r\n"): grep ',-1$' and awk
        # read the labels as written
        writer = csv.writer(out, lineterminator="\n")
        header = ["path", "score", "label"] + (["map"] if args.maps else [])
        with tqdm(
            total=len(files),
            unit="img",
            disable=args.quiet or not shows_progress(),
            file=sys.stderr,
        ) as bar:
            for start in range(0, len(files), SCORE_BLOCK):
                block = files[start : start + SCORE_BLOCK]
                if channels_last and block.ndim == 4:
                    block = np.moveaxis(block, 1, -1)
                scores = det.score_samples(block)
                labels = np.where(scores - det.offset_ < 0, -1, 1)
                n_outliers += int((labels == -1).sum())
                stop = start + len(block)
                rows = zip(files.paths[start:stop], scores, labels)
                if args.maps:
                    _write_maps(
                        det.anomaly_map(block), names[start:stop], args.maps, Image
                    )
                if not start:  # once the first block scored: a file that
                    # cannot be scored leaves no header-only output
                    writer.writerow(header)
                for i, (path, score, label) in enumerate(rows):
                    row = [path, repr(float(score)), int(label)]
                    writer.writerow(row + ([names[start + i]] if args.maps else []))
                bar.update(len(block))
        return n_outliers

    if args.out == "-":
        n_outliers = write_rows(sys.stdout)
    else:
        # written aside and renamed into place once complete: an error leaves
        # no partial CSV (and an older one untouched)
        counted = []

        def write(f):
            # file names that are not UTF-8 (Latin-1 archives) as their bytes,
            # as on stdout: else the run failed after scoring (a probe)
            text = io.TextIOWrapper(
                f, encoding="utf-8", errors="surrogateescape", newline=""
            )
            counted.append(write_rows(text))
            text.flush()
            text.detach()  # atomic_write closes f

        atomic_write(args.out, write)
        n_outliers = counted[0]
    where = "" if args.out == "-" else f" to {args.out}"
    _say(
        f"wrote {len(files):,} rows{where}: {n_outliers:,} outliers (label -1)",
        args.quiet,
    )
    return 0


# -- entry point -----------------------------------------------------------------------
_PYTHON_HINTS = [
    (re.compile(r"pass size=\((\d+), (\d+)\)"), r"pass --size \1 \2"),
    (re.compile(r"pass mode='L'"), "pass --mode L"),
    (re.compile(r"mode='RGB'"), "--mode RGB"),
]


#: Advice of warnings that the command line cannot follow, and its own:
#: for a model saved from Python (no sidecar), and for one of 'skcae fit'.
_UNITS_ADVICE = re.compile(r"scale X like the training data\.?$")
_UNITS_HINTS = {
    True: "the model was trained (in Python) on data in other units than these "
    "images' pixel values 0-255: fit a model on image files with 'skcae fit', "
    "or score from Python with the images scaled as its training data.",
    False: "these images differ in brightness or contrast from the training "
    "images as a whole (another camera, exposure or kind of image?): score "
    "images of the kind the model was trained on, or fit it on such images.",
}


def _one_line(exc):
    message = " ".join(str(exc).split()) or type(exc).__name__
    for pattern, replacement in _PYTHON_HINTS:
        message = pattern.sub(replacement, message)
    return message


def _show_warning(args):
    """A :func:`warnings.showwarning` that prints a warning as one line,
    ``skcae <command>: warning: ...`` (also with ``-q``: it says the
    scores may be wrong)."""

    def show(message, category, filename, lineno, file=None, line=None):
        text = _one_line(message)
        # a model of 'skcae fit' has its sidecar beside it
        model = getattr(args, "model", None)
        from_python = model is None or not os.path.exists(sidecar_path(model))
        text = _UNITS_ADVICE.sub(_UNITS_HINTS[from_python], text)
        print(f"skcae {args.command}: warning: {text}", file=sys.stderr, flush=True)

    return show


def main(argv=None):
    """Run the command line; return its exit status.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments (without the program name); None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 1 for an error, 2 for a usage error, 130 when
        interrupted, 141 when the reader of standard output left (a closed
        pipe).
    """
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with status 2 on a usage error
    command = {"fit": run_fit, "score": run_score}[args.command]
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning(args)
            return command(args, args.subparser)
    except KeyboardInterrupt:
        print("skcae: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (`skcae score ... | head`)
        _silence_stdout()
        return 141  # as a process that SIGPIPE ended
    except (
        CommandError,
        ValueError,
        OSError,
        FloatingPointError,
        ImportError,
        MemoryError,
    ) as exc:
        print(f"skcae {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        if "can't allocate memory" not in str(exc):  # torch's allocator
            raise
        print(f"skcae {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1


def _silence_stdout():
    """Point standard output at the null device, so that Python's flush at
    exit does not fail again on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no file descriptor (tests)
        pass


def _entry_point():  # pragma: no cover - the console script
    sys.exit(main())
