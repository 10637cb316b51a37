"""python -m skcae: fit a folder of images, score others, as a shell user would."""

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import skcae
import skcae._cli
from skcae import ConvAutoencoderOutlierDetector
from skcae._cli import main
from skcae.images import ImageFiles

Image = pytest.importorskip("PIL.Image")

TINY_ARGS = ["--channels", "4", "--latent-dim", "2", "--epochs", "2", "--seed", "0"]


def write_pngs(folder, images):
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory, digits):
    X, y = digits
    images = (X.reshape(-1, 8, 8) * 15).astype(np.uint8)
    root = tmp_path_factory.mktemp("cli")
    write_pngs(root / "normal", images[y == 0][:90])
    write_pngs(
        root / "new", np.concatenate([images[y == 0][90:110], images[y == 1][:10]])
    )
    return root


@pytest.fixture(scope="module")
def model(folders):
    """A tiny model fitted through the command line (in-process)."""
    path = folders / "model.skcae"
    argv = ["fit", str(folders / "normal"), "-o", str(path), "-q", *TINY_ARGS]
    assert main(argv) == 0
    return path


def read_csv(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_fit_saves_the_model_and_how_images_were_read(folders, model):
    import hashlib

    assert json.loads((folders / "model.skcae.json").read_text()) == {
        "format": "skcae-cli-images",
        "version": 2,
        "model_sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
        "size": [8, 8],
        "mode": "L",
        "resize": False,
        "convert": False,
    }
    loaded = skcae.load(model)
    params = dict(channels=(4,), latent_dim=2, max_epochs=2, random_state=0)
    assert {k: loaded.get_params()[k] for k in params} == params
    reference = ConvAutoencoderOutlierDetector(**params).fit(
        ImageFiles(folders / "normal")
    )
    new = ImageFiles(folders / "new")
    np.testing.assert_array_equal(
        loaded.score_samples(new), reference.score_samples(new)
    )


def test_score_writes_one_row_per_file(folders, model, capsys):
    assert main(["score", str(model), str(folders / "new")]) == 0
    captured = capsys.readouterr()
    rows = read_csv(captured.out)
    det, files = skcae.load(model), ImageFiles(folders / "new")
    assert [r["path"] for r in rows] == files.paths
    np.testing.assert_array_equal(
        [float(r["score"]) for r in rows], det.score_samples(files)
    )
    assert [int(r["label"]) for r in rows] == det.predict(files).tolist()
    assert "scoring 30 gray images of 8x8 pixels" in captured.err
    n_outliers = sum(r["label"] == "-1" for r in rows)
    assert f"{n_outliers} outliers (label -1)" in captured.err


def test_score_a_channels_last_model_fitted_in_python(tmp_path, digits, capsys):
    """A colour model fitted on (n, H, W, 3) arrays, as PIL gives them, with
    data_format="channels_last" and saved without the command line's
    sidecar: the command line reads the files channels first (a hostile
    probe: its error asked for np.moveaxis, which no shell user can call)."""
    X, y = digits
    rgb = np.repeat((X.reshape(-1, 8, 8, 1) * 15).astype(np.uint8), 3, axis=3)
    folder = write_pngs(tmp_path / "new", rgb[:12])
    det = ConvAutoencoderOutlierDetector(
        data_format="channels_last", channels=(4,), latent_dim=2, max_epochs=1,
        random_state=0,
    ).fit(rgb[y == 1][:60])  # fmt: skip
    skcae.save(det, tmp_path / "rgb.skcae")
    assert main(["score", str(tmp_path / "rgb.skcae"), str(folder), "-q"]) == 0
    rows = read_csv(capsys.readouterr().out)
    np.testing.assert_array_equal(
        [float(r["score"]) for r in rows], det.score_samples(rgb[:12])
    )
    maps = tmp_path / "maps"
    argv = ["score", str(tmp_path / "rgb.skcae"), str(folder), "--maps", str(maps)]
    assert main([*argv, "--out", str(tmp_path / "s.csv"), "-q"]) == 0
    assert len(list(maps.iterdir())) == 12


def test_score_to_a_file_with_anomaly_maps(folders, model, tmp_path, capsys):
    out, maps = tmp_path / "scores.csv", tmp_path / "maps"
    argv = ["score", str(model), str(folders / "new"), "--out", str(out)]
    assert main([*argv, "--maps", str(maps), "-q"]) == 0
    assert capsys.readouterr() == ("", "")  # -q: nothing on the terminal
    rows = read_csv(out.read_text())
    assert len(rows) == 30 and [r["map"] for r in rows][:2] == ["000.png", "001.png"]
    expected = skcae.load(model).anomaly_map(ImageFiles(folders / "new"))
    for row, errors in zip(rows, expected):
        pixels = np.asarray(Image.open(maps / row["map"]))
        assert pixels.shape == (8, 8) and pixels.max() == 255
        # the brightest pixel is the largest error (up to the 8-bit rounding)
        assert errors.flat[pixels.argmax()] >= errors.max() * 254 / 255


def test_score_files_named_one_by_one_with_anomaly_maps(
    folders, model, tmp_path, capsys
):
    """Image files named themselves (not a folder or pattern) with --maps:
    a bare StopIteration traceback, no scores, no maps (a probe)."""
    first, second = sorted((folders / "new").iterdir())[:2]
    maps = tmp_path / "maps"
    argv = ["score", str(model), str(first), str(second), "--maps", str(maps)]
    assert main([*argv, "--out", str(tmp_path / "s.csv"), "-q"]) == 0
    rows = read_csv((tmp_path / "s.csv").read_text())
    assert [r["map"] for r in rows] == [first.name, second.name]
    assert sorted(p.name for p in maps.iterdir()) == [first.name, second.name]
    # and a file beside a pattern
    argv = ["score", str(model), str(first), str(folders / "new" / "01*.png")]
    assert main([*argv, "--maps", str(tmp_path / "maps2"), "-q"]) == 0


def test_map_names_never_collide(tmp_path):
    names = skcae._cli._map_names(
        [
            str(tmp_path / "a" / "x.png"),
            str(tmp_path / "a" / "x.jpg"),
            str(tmp_path / "b" / "x.png"),
        ]
    )
    assert names == [
        os.path.join("a", "x.png"),
        os.path.join("a", "x.jpg.png"),
        os.path.join("b", "x.png"),
    ]


def test_resized_at_fit_means_resized_at_score(folders, tmp_path, capsys):
    model = tmp_path / "m.skcae"
    argv = ["fit", str(folders / "normal"), "-o", str(model), "--size", "6", "5"]
    assert main([*argv, "--mode", "RGB", "-q", *TINY_ARGS]) == 0
    assert skcae.load(model).image_shape_ == (3, 6, 5)
    assert main(["score", str(model), str(folders / "new")]) == 0
    rows = read_csv(capsys.readouterr().out)
    files = ImageFiles(folders / "new", size=(6, 5), mode="RGB")
    np.testing.assert_array_equal(
        [float(r["score"]) for r in rows], skcae.load(model).score_samples(files)
    )


def test_other_sizes_are_refused_unless_resized(folders, model, tmp_path, capsys):
    write_pngs(tmp_path / "big", np.zeros((3, 10, 10), np.uint8))
    argv = ["score", str(model), str(tmp_path / "big")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "images are 10x10 pixels" in err and "pass --size 8 8" in err
    assert main([*argv, "--size", "8", "8"]) == 0
    # a --size of the user's own is named as such, not as the files' size
    capsys.readouterr()
    assert main([*argv, "--size", "16", "16"]) == 1
    err = capsys.readouterr().err
    assert "--size 16 16 resizes the images to 16x16" in err, err
    assert "pass --size 8 8" in err


def test_a_model_saved_from_python_needs_no_sidecar(folders, tmp_path, capsys):
    det = ConvAutoencoderOutlierDetector(channels=(4,), latent_dim=2, max_epochs=1)
    path = tmp_path / "python.skcae"
    skcae.save(det.fit(np.asarray(ImageFiles(folders / "normal"))), path)
    assert main(["score", str(path), str(folders / "new"), "-q"]) == 0
    assert len(read_csv(capsys.readouterr().out)) == 30


def test_a_sidecar_of_another_model_file_is_refused(folders, model, tmp_path, capsys):
    """A model saved again from Python (or a fit killed between the model
    and its sidecar) kept the old sidecar, which then resized and converted
    the images for the new model without a word (a hostile probe)."""
    copy = tmp_path / "m.skcae"
    copy.write_bytes(model.read_bytes())
    sidecar = tmp_path / "m.skcae.json"
    sidecar.write_bytes((folders / "model.skcae.json").read_bytes())
    assert main(["score", str(copy), str(folders / "new"), "-q"]) == 0
    capsys.readouterr()
    det = ConvAutoencoderOutlierDetector(channels=(4,), latent_dim=2, max_epochs=1)
    skcae.save(det.fit(np.asarray(ImageFiles(folders / "normal"))), copy)
    assert main(["score", str(copy), str(folders / "new"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "was written by 'skcae fit' for another" in err and err.count("\n") == 1
    # a version-1 sidecar (no hash) is still read
    record = json.loads(sidecar.read_text())
    del record["model_sha256"]
    sidecar.write_text(json.dumps(dict(record, version=1)))
    assert main(["score", str(copy), str(folders / "new"), "-q"]) == 0


@pytest.mark.parametrize("name", ["other.skcae.json", "M.JSON", "-"])
def test_fit_refuses_outputs_a_sidecar_would_clash_with(
    folders, tmp_path, name, capsys
):
    """fit -o X.json wrote a model over the sidecar of model X (a hostile
    probe); -o - a file named '-'."""
    out = name if name == "-" else str(tmp_path / name)
    argv = ["fit", str(folders / "normal"), "-o", out, "-q", *TINY_ARGS]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("ends in .json" in err or "'-'" in err)
    assert list(tmp_path.iterdir()) == []


def test_a_file_named_twice_is_one_line(folders, model, tmp_path, capsys):
    """On the command line one row per file: a file named twice (which a
    list of paths in Python may do, as rows) is refused, naming it."""
    one = str(sorted((folders / "new").iterdir())[0])
    assert main(["score", str(model), one, one, "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"the image file {one!r} is named twice" in err
    out = str(tmp_path / "m")
    assert main(["fit", one, one, "-o", out, "-q"]) == 1
    assert "is named twice" in capsys.readouterr().err


def test_mixed_files_name_the_option(folders, model, tmp_path, capsys):
    write_pngs(tmp_path / "mixed", np.zeros((2, 8, 8), np.uint8))
    Image.new("RGB", (8, 8)).save(tmp_path / "mixed" / "002.png")
    out = tmp_path / "scores.csv"
    out.write_text("an older file\n")
    argv = ["score", str(model), str(tmp_path / "mixed"), "--out", str(out)]
    assert main(argv) == 1  # fit did not convert: neither does score
    assert "is colour (mode 'RGB')" in capsys.readouterr().err
    assert main([*argv, "--mode", "L", "-q"]) == 0
    assert len(read_csv(out.read_text())) == 3
    assert main([*argv, "--mode", "RGB"]) == 1  # colour, but the model is gray
    err = capsys.readouterr().err
    assert "the model was trained on gray images; pass --mode L" in err
    assert main(["fit", str(tmp_path / "mixed"), "-o", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err
    assert "is colour (mode 'RGB')" in err and "pass --mode L" in err


def test_a_bad_file_is_one_line_and_leaves_no_partial_csv(
    folders, model, tmp_path, capsys
):
    bad = write_pngs(tmp_path / "bad", np.zeros((3, 8, 8), np.uint8))
    (bad / "001.png").write_bytes(b"this is not a png")
    out = tmp_path / "scores.csv"
    out.write_text("an older file\n")
    argv = ["score", str(model), str(bad), "--out", str(out), "-q"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err == (
        f"skcae score: error: Cannot read image file '{bad / '001.png'}': cannot "
        f"identify image file '{bad / '001.png'}'. Expected a PNG, JPEG, TIFF or "
        "BMP image that Pillow can open.\n"
    )
    assert out.read_text() == "an older file\n"  # untouched, no partial rows
    assert sorted(os.listdir(tmp_path)) == ["bad", "scores.csv"]  # no temp file
    # to standard output: nothing, not a CSV header with no rows
    assert main(["score", str(model), str(bad), "-q"]) == 1
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "argv, message",
    [
        (["score", "MODEL", "nowhere"], "No such file or folder: 'nowhere'"),
        (["score", "NORMAL", "NORMAL"], "no model file"),
        (["score", "JUNK", "NORMAL"], "junk.skcae"),
        (["fit", "NORMAL", "-o", "OUT/no/such/dir/m.skcae"], "does not exist"),
    ],
)
def test_errors_are_one_line_with_status_1(argv, message, folders, model, capsys):
    (folders / "junk.skcae").write_text("junk")
    places = {
        "MODEL": model,
        "NORMAL": folders / "normal",
        "OUT": folders,
        "JUNK": folders / "junk.skcae",
    }
    argv = [
        str(places.get(a.split("/")[0], "")) + a[len(a.split("/")[0]) :]
        if a.split("/")[0] in places
        else a
        for a in argv
    ]
    assert main([*argv, *(TINY_ARGS if argv[0] == "fit" else []), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"skcae {argv[0]}: error: ") and err.count("\n") == 1
    assert message in err


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "a command is required"),
        (["fit", "x"], "the following arguments are required: -o/--output"),
        (["fit", "x", "-o", "m", "--epochs", "0"], "--epochs: expected a positive"),
        (["fit", "x", "-o", "m", "--size", "8"], "--size: expected 2 arguments"),
        (["fit", "x", "-o", "m", "--mode", "CMYK"], "invalid choice: 'CMYK'"),
        (["fit", "x", "-o", "m", "--contamination", "0.9"], "contamination"),
        (["fit", "x", "-o", "m", "--score-type", "best"], "score_type"),
        (["fit", "x", "-o", "m", "--lr", "fast"], "--lr: expected auto or a number"),
        (["fit", "x", "-o", "m", "--batch-size", "0"], "expected auto or a positive"),
        (["score", "m"], "the following arguments are required: IMAGES"),
        (["predict"], "invalid choice: 'predict'"),
    ],
)
def test_usage_errors_exit_with_status_2(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and message in err and "Traceback" not in err


def test_a_closed_pipe_ends_quietly(folders, model, monkeypatch, capsys):
    """`skcae score ... | head -1`: the reader leaves, skcae stops with the
    status of a process SIGPIPE ended and no error message."""

    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["score", str(model), str(folders / "new"), "-q"]) == 141
    assert capsys.readouterr().err == ""


def test_a_network_too_large_for_memory_is_one_line(monkeypatch, capsys):
    def too_large(args, parser):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:121] data. DefaultCPUAllocator: "
            "can't allocate memory: you tried to allocate 3599999999964 bytes."
        )

    monkeypatch.setattr(skcae._cli, "run_fit", too_large)
    assert main(["fit", "x", "-o", "m.skcae"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("skcae fit: error: ") and err.count("\n") == 1
    assert "can't allocate memory" in err

    def other(args, parser):
        raise RuntimeError("a bug")

    monkeypatch.setattr(skcae._cli, "run_fit", other)
    with pytest.raises(RuntimeError, match="a bug"):  # not hidden
        main(["fit", "x", "-o", "m.skcae"])


def test_interrupt_exits_with_130(monkeypatch, capsys):
    def interrupted(args, parser):
        raise KeyboardInterrupt

    monkeypatch.setattr(skcae._cli, "run_score", interrupted)
    assert main(["score", "m", "x"]) == 130
    assert capsys.readouterr().err == "skcae: interrupted\n"


def test_fit_shows_the_epoch_table_without_colours(folders, tmp_path, capsys):
    argv = ["fit", str(folders / "normal"), "-o", str(tmp_path / "m"), *TINY_ARGS]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "train_loss" in captured.out and "\x1b[" not in captured.out
    assert "training on 90 gray images of 8x8 pixels" in captured.err
    assert "saved" in captured.err and "threshold" in captured.err


def test_fit_with_a_float_contamination_names_its_threshold_rule(
    folders, tmp_path, capsys
):
    """A float contamination's threshold is the share of the training set
    flagged, not a calibration split's: the summary names that share."""
    out = tmp_path / "m"
    argv = ["fit", str(folders / "normal"), "-o", str(out), *TINY_ARGS]
    assert main([*argv, "--contamination", "0.1"]) == 0
    err = capsys.readouterr().err
    assert "0.1 of the training images flagged" in err
    assert "calibration images" not in err


def run(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "skcae", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_help_shows_examples(tmp_path):
    help_ = run("--help", cwd=tmp_path)
    assert help_.returncode == 0 and help_.stderr == ""
    assert "python -m skcae fit images/normal -o model.skcae" in help_.stdout
    assert "python -m skcae score model.skcae images/new" in help_.stdout


@pytest.mark.slow
def test_in_a_subprocess_as_from_a_shell(folders, tmp_path):
    fit = run("fit", str(folders / "normal"), "-o", "m.skcae", *TINY_ARGS, cwd=tmp_path)
    assert fit.returncode == 0, fit.stderr
    assert "\x1b[" not in fit.stdout and "\r" not in fit.stderr  # piped: plain
    score = run(
        "score", "m.skcae", str(folders / "new"), "--out", "s.csv", cwd=tmp_path
    )
    assert score.returncode == 0, score.stderr
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 31
    (tmp_path / "bad.png").write_text("no image")
    bad = run("score", "m.skcae", "bad.png", cwd=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("skcae score: error: Cannot read image file")
    usage = run("fit", cwd=tmp_path)
    assert usage.returncode == 2 and "usage: python -m skcae fit" in usage.stderr


def test_the_skcae_command_is_declared():
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="skcae")
    assert script.value == "skcae._cli:_entry_point"


@pytest.mark.slow
def test_fit_with_default_parameters(folders, tmp_path, capsys):
    """The defaults as a shell user meets them: no detector options at all."""
    model = tmp_path / "default.skcae"
    assert main(["fit", str(folders / "normal"), "-o", str(model), "-q"]) == 0
    det = skcae.load(model)
    defaults = ConvAutoencoderOutlierDetector().get_params()
    assert det.get_params() | {"callbacks": None} == defaults | {"callbacks": None}
    assert main(["score", str(model), str(folders / "new"), "-q"]) == 0
    rows = read_csv(capsys.readouterr().out)
    labels = np.array([int(r["label"]) for r in rows])
    assert (labels[20:] == -1).mean() >= 0.8  # the 1s are flagged


def test_score_shows_a_progress_bar_on_a_terminal(folders, model, capsys, monkeypatch):
    monkeypatch.setattr("skcae._console.is_interactive", lambda stream: True)
    assert main(["score", str(model), str(folders / "new")]) == 0
    err = capsys.readouterr().err
    assert "30/30" in err and "img/s" in err


def test_maps_never_overwrite_or_join_the_scored_images(
    folders, model, tmp_path, capsys
):
    new = tmp_path / "new"
    write_pngs(new, np.asarray(ImageFiles(folders / "new"))[:5])
    before = {p.name: p.read_bytes() for p in new.iterdir()}
    recursive = str(new / "**" / "*.png")
    for images, maps in ((new, new), (new, new / "maps"), (recursive, new / "m")):
        argv = ["score", str(model), str(images), "--out", str(tmp_path / "s.csv")]
        assert main([*argv, "--maps", str(maps), "-q"]) == 1
        err = capsys.readouterr().err
        assert "expected a folder apart from the images" in err, err
    assert {p.name: p.read_bytes() for p in new.iterdir()} == before
    assert not (tmp_path / "s.csv").exists()


def test_outputs_never_overwrite_an_input_image(folders, model, tmp_path, capsys):
    """-o and --out once replaced a training or scored image (exit status
    0), and --out could be one of the maps."""
    images = tmp_path / "images"
    write_pngs(images, np.asarray(ImageFiles(folders / "normal"))[:20])
    before = {p.name: p.read_bytes() for p in images.iterdir()}
    first = str(images / "000.png")
    fit = ["fit", str(images), *TINY_ARGS, "-q"]
    assert main([*fit, "-o", first]) == 1
    assert "would overwrite the input image" in capsys.readouterr().err
    assert main(["score", str(model), str(images), "--out", first, "-q"]) == 1
    assert "would overwrite the input image" in capsys.readouterr().err
    maps = tmp_path / "maps"
    maps.mkdir()
    argv = ["score", str(model), str(images), "--maps", str(maps), "-q"]
    assert main([*argv, "--out", str(maps / "000.png")]) == 1
    assert "would be overwritten by an anomaly map" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("x")
    assert main([*argv[:-3], "--maps", str(tmp_path / "a-file"), "-q"]) == 1
    assert "is a file; expected a folder" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in images.iterdir()} == before
    assert list(maps.iterdir()) == []


def test_colliding_map_names_are_an_error(folders, model, tmp_path, capsys):
    pair = tmp_path / "pair"
    write_pngs(pair, np.asarray(ImageFiles(folders / "new"))[:1])
    (pair / "000.png").rename(pair / "x.jpg.png")
    Image.open(pair / "x.jpg.png").save(pair / "x.jpg", format="PNG")
    argv = ["score", str(model), str(pair), "--maps", str(tmp_path / "maps"), "-q"]
    assert main(argv) == 1
    assert "would both write the map 'x.jpg.png'" in capsys.readouterr().err
    assert not (tmp_path / "maps").exists()


def test_output_paths_are_checked_before_any_work(folders, model, tmp_path, capsys):
    (tmp_path / "outdir").mkdir()
    fit = ["fit", str(folders / "normal"), *TINY_ARGS]
    for output, message in (
        (tmp_path / "outdir", "is a folder"),
        (tmp_path / "nodir" / "m.skcae", "does not exist"),
    ):
        assert main([*fit, "-o", str(output)]) == 1
        err = capsys.readouterr().err
        assert message in err and "training on" not in err, err  # not trained
    score = ["score", str(model), str(folders / "new"), "--out"]
    assert main([*score, str(tmp_path / "outdir")]) == 1
    assert "is a folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outdir"]  # no .part


def test_unwritable_outputs_are_refused_before_any_work(
    folders, model, tmp_path, capsys
):
    """A probe's fit trained fully, then failed: a folder nothing can be
    written in (even by root: /sys), a link into a missing folder, a folder
    where the sidecar goes; ``score --maps`` in /sys scored, then failed
    with an error that did not name --maps."""
    fit = ["fit", str(folders / "normal"), *TINY_ARGS, "-o"]
    (tmp_path / "dangling.skcae").symlink_to(tmp_path / "nowhere" / "x.skcae")
    (tmp_path / "m.skcae.json").mkdir()
    for output, message in (
        ("/sys/m.skcae", "cannot write in the folder /sys"),
        (tmp_path / "dangling.skcae", f"{tmp_path / 'nowhere'} does not exist"),
        (tmp_path / "m.skcae", "m.skcae.json, the JSON file fit writes beside"),
    ):
        assert main([*fit, str(output)]) == 1
        err = capsys.readouterr().err
        assert message in err and "training on" not in err, err
    assert not (tmp_path / "m.skcae").exists()
    score = ["score", str(model), str(folders / "new")]
    for option, message in (
        ("--out", "--out /sys/s.csv: cannot write in the folder /sys"),
        ("--maps", "--maps /sys/maps: cannot create the folder"),
    ):
        target = "/sys/s.csv" if option == "--out" else "/sys/maps"
        assert main([*score, option, target]) == 1
        err = capsys.readouterr().err
        assert message in err and "scoring" not in err, err  # nothing scored


def test_a_sidecar_without_a_field_names_it(folders, model, tmp_path, capsys):
    copy = tmp_path / "m.skcae"
    copy.write_bytes(model.read_bytes())
    for text, message in (
        ('{"garbage": 1}', "it has no 'size', 'mode', 'resize', 'convert' field"),
        ("[]", "it holds a JSON list, not an object"),
    ):
        (tmp_path / "m.skcae.json").write_text(text)
        assert main(["score", str(copy), str(folders / "new")]) == 1
        err = capsys.readouterr().err
        assert message in err, err


def test_model_names_are_checked_before_the_folder(
    folders, tmp_path, capsys, monkeypatch
):
    """In a folder nothing can be written in, -o - and -o m.json got the
    folder's error, not their own."""
    monkeypatch.chdir("/sys")
    fit = ["fit", str(folders / "normal"), *TINY_ARGS, "-o"]
    for output, message in (
        ("-", "would write a model file named '-'"),
        ("m.json", "ends in .json"),
    ):
        assert main([*fit, output]) == 1
        err = capsys.readouterr().err
        assert message in err, err


def test_maps_as_a_link_to_nothing_is_refused(folders, model, tmp_path, capsys):
    (tmp_path / "maps").symlink_to(tmp_path / "nowhere")
    argv = ["score", str(model), str(folders / "new"), "--maps", str(tmp_path / "maps")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "maps is a link to nothing; expected a folder" in err, err


def test_a_sidecar_with_an_infinite_size_is_one_line(folders, model, tmp_path, capsys):
    copy = tmp_path / "m.skcae"
    copy.write_bytes(model.read_bytes())
    sidecar = '{"format": "skcae-cli-images", "version": 1, "size": [1e400, 4],'
    sidecar += ' "mode": "L", "resize": true, "convert": false}'
    (tmp_path / "m.skcae.json").write_text(sidecar)
    assert main(["score", str(copy), str(folders / "new")]) == 1
    err = capsys.readouterr().err
    assert "cannot read" in err and "Traceback" not in err and err.count("\n") == 1


def test_a_failed_score_keeps_the_older_csv(folders, model, tmp_path, capsys):
    images = write_pngs(tmp_path / "imgs", np.asarray(ImageFiles(folders / "new")))
    out = tmp_path / "out" / "s.csv"
    out.parent.mkdir()
    argv = ["score", str(model), str(images), "--out", str(out), "-q"]
    assert main(argv) == 0
    before = out.read_bytes()
    (images / "029.png").write_bytes(b"not a png")  # the last file fails
    assert main(argv) == 1
    assert "029.png" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert [p.name for p in out.parent.iterdir()] == ["s.csv"]  # nothing partial


@pytest.mark.parametrize("text, lr", [("auto", "auto"), ("0.002", 0.002)])
def test_lr_option_takes_auto_or_a_number(text, lr):
    from skcae._cli_args import build_parser, estimator_params

    args = build_parser().parse_args(["fit", "x", "-o", "m", "--lr", text])
    assert estimator_params(args)["lr"] == lr
    # left out, the detector keeps its default (lr="auto")
    assert "lr" not in estimator_params(
        build_parser().parse_args(["fit", "x", "-o", "m"])
    )


def test_score_never_overwrites_the_model_or_its_sidecar(
    folders, model, tmp_path, capsys
):
    """--out at the model (or its .json sidecar) once replaced it with the
    CSV, exit status 0, and every later score failed to read it."""
    copy = tmp_path / "m.skcae"
    copy.write_bytes(model.read_bytes())
    (tmp_path / "m.skcae.json").write_text((folders / "model.skcae.json").read_text())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    os.link(copy, tmp_path / "hard-link")  # the model under another name
    before["hard-link"] = copy.read_bytes()
    for out, what in (
        (copy, "the model"),
        (tmp_path / "m.skcae.json", "sidecar"),
        (tmp_path / "hard-link", "the model"),
    ):
        argv = ["score", str(copy), str(folders / "new"), "--out", str(out), "-q"]
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "would overwrite" in err and what in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_the_csv_ends_lines_with_a_newline_alone(folders, model, tmp_path, capsys):
    """csv's default "\\r\\n" left a "\\r" after every label: grep ',-1$'
    and awk '$3 == -1' counted no outliers."""
    out = tmp_path / "scores.csv"
    assert main(["score", str(model), str(folders / "new"), "--out", str(out)]) == 0
    data = out.read_bytes()
    assert b"\r" not in data
    lines = data.decode().splitlines()
    n_outliers = sum(line.endswith(",-1") for line in lines)
    assert f"{n_outliers} outliers" in capsys.readouterr().err
    assert len(lines) == 31 and n_outliers > 0


def test_warnings_are_one_line_with_advice_for_the_shell(folders, tmp_path, capsys):
    """A model fitted in Python on floats in [0, 16] scoring 8-bit image
    files: the warning about units was Python's two-line UserWarning, with
    advice (scale X) that the command line cannot follow, and -q hid
    nothing of it; it is one line now, still printed with -q."""
    images = np.asarray(ImageFiles(folders / "normal")) / 15.0
    det = ConvAutoencoderOutlierDetector(channels=(4,), latent_dim=2, max_epochs=1)
    path = tmp_path / "floats.skcae"
    skcae.save(det.fit(images), path)
    assert main(["score", str(path), str(folders / "new"), "-q"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("skcae score: warning: X's values")
    assert "'skcae fit'" in err[0] and "scale X like" not in err[0]


def test_a_model_of_signals_is_not_offered_a_resize(folders, tmp_path, capsys):
    """A model fitted on flat rows without image_shape reads 1-D signals;
    the command line told the user to resize 8x8 images to 1x64."""
    rows = np.asarray(ImageFiles(folders / "normal")).reshape(90, 64)
    det = ConvAutoencoderOutlierDetector(channels=(4,), latent_dim=2, max_epochs=1)
    path = tmp_path / "signals.skcae"
    skcae.save(det.fit(rows), path)
    assert main(["score", str(path), str(folders / "new"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "1-D signals of 64 values" in err and "--size 1 64" not in err


def test_score_refuses_n_jobs_zero_as_fit_does(folders, model, capsys):
    with pytest.raises(SystemExit) as info:
        main(["score", str(model), str(folders / "new"), "--n-jobs", "0"])
    assert info.value.code == 2
    assert "n_jobs" in capsys.readouterr().err


def test_units_advice_follows_where_the_model_came_from(folders, tmp_path, capsys):
    """A model of 'skcae fit' (with its sidecar) was told it came from
    Python and to fit one with 'skcae fit'."""
    images = np.asarray(ImageFiles(folders / "normal"))
    dim = tmp_path / "dim"
    write_pngs(dim, (100 + images // 120).astype(np.uint8))  # values 100-102
    model = tmp_path / "dim.skcae"
    assert main(["fit", str(dim), "-o", str(model), "-q", *TINY_ARGS]) == 0
    capsys.readouterr()
    assert main(["score", str(model), str(folders / "new"), "-q"]) == 0
    err = capsys.readouterr().err
    assert "skcae score: warning:" in err and "brightness or contrast" in err
    assert "in Python" not in err


def test_a_model_of_signals_says_so_before_the_colour_mode(folders, tmp_path, capsys):
    rows = np.asarray(ImageFiles(folders / "normal")).reshape(90, 64)
    det = ConvAutoencoderOutlierDetector(channels=(4,), latent_dim=2, max_epochs=1)
    path = tmp_path / "signals.skcae"
    skcae.save(det.fit(rows), path)
    colour = tmp_path / "colour"
    write_pngs(colour, np.stack([np.asarray(ImageFiles(folders / "new"))] * 3, -1))
    assert main(["score", str(path), str(colour), "-q"]) == 1
    err = capsys.readouterr().err
    assert "1-D signals of 64 values" in err and "--mode" not in err


def test_maps_never_land_in_a_folder_a_pattern_searches(
    folders, model, tmp_path, capsys
):
    """A plain pattern searches the folders it matches: maps written into
    one of them would be scored as images by the next run."""
    new1 = tmp_path / "new1"
    write_pngs(new1, np.asarray(ImageFiles(folders / "new"))[:5])
    pattern = str(tmp_path / "new*")
    argv = ["score", str(model), pattern, "--maps", str(new1 / "maps"), "-q"]
    assert main(argv) == 1
    assert "lies in the scored folder" in capsys.readouterr().err
    assert not (new1 / "maps").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="byte file names")
def test_out_holds_names_that_are_not_utf8(model, tmp_path):
    """A file name in Latin-1 (an archive from elsewhere): stdout wrote its
    row, --out failed after scoring every file with a bare codec error (a
    probe); the CSV holds its bytes, as stdout does."""
    folder = os.fsencode(tmp_path / "new")
    os.makedirs(folder)
    Image.new("L", (8, 8)).save(os.path.join(folder, b"caf\xe9.png"))
    Image.new("L", (8, 8), 200).save(os.path.join(folder, b"ok.png"))
    out = tmp_path / "s.csv"
    argv = ["score", str(model), os.fsdecode(folder), "--out", str(out), "-q"]
    assert main(argv) == 0
    data = out.read_bytes()
    assert b"caf\xe9.png," in data and b"ok.png," in data
    assert len(data.splitlines()) == 3


def test_maps_replace_earlier_maps_and_no_other_file(folders, model, tmp_path, capsys):
    """--maps into a folder that holds other images: a 64x64 photo named as
    a scored file was replaced by its 8x8 map (a probe). A later run may
    replace the maps an earlier one wrote (marked in the PNG), no other
    file."""
    maps = tmp_path / "maps"
    argv = ["score", str(model), str(folders / "new"), "--maps", str(maps), "-q"]
    assert main(argv) == 0
    assert main(argv) == 0  # the maps of the first run: replaced
    photo = maps / "001.png"
    Image.new("RGB", (64, 64), (10, 20, 30)).save(photo)
    before = photo.read_bytes()
    out = tmp_path / "s.csv"
    assert main([*argv, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "001.png', which is not an anomaly map skcae wrote" in err
    assert photo.read_bytes() == before and not out.exists()
