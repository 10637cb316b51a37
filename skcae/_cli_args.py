"""The arguments of the command line (``python -m skcae``), for :mod:`skcae._cli`."""

import argparse
import os
import sys

_EXAMPLES = """\
examples:
  {prog} fit images/normal -o model.skcae
  {prog} score model.skcae images/new --out scores.csv
  {prog} score model.skcae 'images/new/*.png' --maps maps/

'{prog} fit --help' and '{prog} score --help' describe each command."""

_FIT_EXAMPLES = """\
examples:
  {prog} fit images/normal -o model.skcae
  {prog} fit 'photos/good/*.jpg' -o model.skcae --size 64 64 --mode RGB --seed 0
  {prog} fit digits/ -o tiny.skcae --channels 4 --latent-dim 2 --epochs 2

The epoch table goes to standard output, other messages to standard error."""

_SCORE_EXAMPLES = """\
examples:
  {prog} score model.skcae images/new --out scores.csv
  {prog} score model.skcae images/new | tail -n +2 | sort -t, -k2 -g | head

One CSV row per file, after a header: path, score (higher = more normal,
as score_samples) and label (1 normal, -1 outlier, as predict); with --maps
also the map's file name under DIR. The second example lists the 10 most
abnormal files."""


def _prog():
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "python -m skcae" if name in ("__main__.py", "-m", "-c", "") else "skcae"


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}")
    return value


def _int(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int, got {text!r}")


def _float(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")


def _channels(text):
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected positive ints separated by commas (e.g. 8,16), got {text!r}"
        )
    return values


def _auto_or(kind):
    def parse(text):
        if text == "auto":
            return "auto"
        try:
            return kind(text)
        except argparse.ArgumentTypeError as exc:  # "expected X, got ..."
            raise argparse.ArgumentTypeError(
                str(exc).replace("expected ", "expected auto or ", 1)
            ) from exc

    parse.__name__ = f"auto or {kind.__name__.strip('_')}"
    return parse


def _defaults():
    from ._detector import ConvAutoencoderOutlierDetector

    return ConvAutoencoderOutlierDetector().get_params()


# (option, parameter, type, metavar, help): ConvAutoencoderOutlierDetector's
_DETECTOR_OPTIONS = [
    ("--epochs", "max_epochs", _positive_int, "N", "training epochs at most"),
    ("--channels", "channels", _channels, "C1,C2", "channels of the conv layers"),
    ("--latent-dim", "latent_dim", _positive_int, "N", "size of the code"),
    (
        "--batch-size",
        "batch_size",
        _auto_or(_positive_int),
        "N|auto",
        "images per step",
    ),
    ("--lr", "lr", _auto_or(_float), "LR|auto", "learning rate"),
    (
        "--contamination",
        "contamination",
        _auto_or(_float),
        "auto|F",
        "auto: flag about 1%% of new normal images; a fraction in (0, 0.5]: "
        "that share of the training images",
    ),
    (
        "--score-type",
        "score_type",
        str,
        "TYPE",
        "hybrid, reconstruction, latent or density",
    ),
    (
        "--validation-fraction",
        "validation_fraction",
        _float,
        "F",
        "share of the images held out of training",
    ),
    (
        "--n-iter-no-change",
        "n_iter_no_change",
        _positive_int,
        "N",
        "stop after N epochs without improvement",
    ),
    ("--seed", "random_state", _int, "N", "random_state: the same N, the same model"),
]


def estimator_params(args):
    """The detector parameters the user gave (the others keep their defaults)."""
    params = {
        name: getattr(args, name)
        for _, name, *_ in _DETECTOR_OPTIONS
        if getattr(args, name) is not None
    }
    for name in ("n_jobs", "device"):
        if getattr(args, name) is not None:
            params[name] = getattr(args, name)
    return params


def _size_and_mode(group, verb):
    group.add_argument(
        "--size",
        type=_positive_int,
        nargs=2,
        metavar=("H", "W"),
        help=f"{verb} every image to H x W pixels (height, then width)",
    )
    group.add_argument(
        "--mode",
        choices=("L", "RGB"),
        help="convert every image to gray (L) or colour (RGB)",
    )


def _running(parser, device_default):
    group = parser.add_argument_group("running")
    group.add_argument(
        "--n-jobs",
        type=_int,
        metavar="N",
        help="worker threads (default: the CPUs this process may use, at most "
        "torch's thread setting)",
    )
    group.add_argument(
        "--device",
        metavar="DEVICE",
        help=f"auto, cpu, cuda or cuda:N (default: {device_default})",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress or messages (warnings are still printed)",
    )


def _fit_parser(commands, prog):
    p = commands.add_parser(
        "fit",
        help="train a detector on normal images and save it",
        description="Train a ConvAutoencoderOutlierDetector on normal images and "
        "save it (MODEL, and MODEL.json that records how the images were read).",
        epilog=_FIT_EXAMPLES.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "normal",
        nargs="+",
        metavar="NORMAL",
        help="folders (searched recursively), image files or glob patterns "
        "(quoted) of normal images: PNG, JPEG, TIFF, BMP",
    )
    p.add_argument(
        "-o", "--output", required=True, metavar="MODEL", help="model file to write"
    )
    images = p.add_argument_group(
        "images",
        "By default the files must all have one size, and all be gray or all "
        "colour; --size and --mode make them so.",
    )
    _size_and_mode(images, "resize")
    defaults = _defaults()
    detector = p.add_argument_group(
        "detector",
        "Parameters of ConvAutoencoderOutlierDetector; the defaults are its own.",
    )
    for option, name, kind, metavar, text in _DETECTOR_OPTIONS:
        detector.add_argument(
            option,
            dest=name,
            type=kind,
            metavar=metavar,
            help=f"{text} (default: {defaults[name]})".replace("(8, 8)", "8,8"),
        )
    _running(p, "auto: a GPU when there is one")
    p.set_defaults(command="fit", subparser=p)
    return p


def _score_parser(commands, prog):
    p = commands.add_parser(
        "score",
        help="score images with a saved detector, as CSV",
        description="Score image files with a model saved by 'fit': one CSV "
        "row per file (path, score, label).",
        epilog=_SCORE_EXAMPLES.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="a model file written by 'fit'")
    p.add_argument(
        "images",
        nargs="+",
        metavar="IMAGES",
        help="folders (searched recursively), image files or glob patterns",
    )
    p.add_argument(
        "--out",
        default="-",
        metavar="FILE",
        help="CSV file to write (default: standard output)",
    )
    p.add_argument(
        "--maps",
        metavar="DIR",
        help="also write each image's anomaly map (squared reconstruction "
        "error) as a gray PNG under DIR, white at that image's largest error",
    )
    images = p.add_argument_group(
        "images",
        "By default the images are read as 'fit' read them (MODEL.json): "
        "resized to the model's size if fit resized them, converted to its "
        "mode if fit converted them; else they must match the model.",
    )
    _size_and_mode(images, "resize")
    _running(p, "the model's, or the CPU")
    p.set_defaults(command="score", subparser=p)
    return p


class _Parser(argparse.ArgumentParser):
    def parse_args(self, args=None, namespace=None):
        args = super().parse_args(args, namespace)
        if getattr(args, "command", None) is None:
            self.error("a command is required: fit or score")
        if args.size is not None:
            args.size = tuple(args.size)
        return args


def build_parser():
    """The :class:`argparse.ArgumentParser` of ``python -m skcae``."""
    from . import __version__

    prog = _prog()
    parser = _Parser(
        prog=prog,
        description="Convolutional-autoencoder outlier detection on folders of "
        "images: train on normal images, then score new ones.",
        epilog=_EXAMPLES.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"skcae {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _fit_parser(commands, prog)
    _score_parser(commands, prog)
    return parser
