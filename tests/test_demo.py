import re

import pytest

from skcae import demo
from skcae._detector import ConvAutoencoderOutlierDetector

HEADER = f"{'digit':>5}  {'skcae':>7}  {'IsolationForest':>15}  {'skcae fit s':>11}"
FIT_LINE = re.compile(r"^skcae fit: \d+\.\d s per digit \(torch threads: (\d+)\)$")


@pytest.fixture
def quick_detector(monkeypatch):
    """The demo's detector with one epoch, so that a run takes about a second."""

    def one_epoch(**kwargs):
        return ConvAutoencoderOutlierDetector(max_epochs=1, **kwargs)

    monkeypatch.setattr(demo, "ConvAutoencoderOutlierDetector", one_epoch)


def test_main_one_digit(quick_detector, capsys):
    assert demo.main(["--digit", "1", "--seed", "3"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert lines[0].startswith("One-class digits (sklearn load_digits, 8x8)")
    assert HEADER in lines
    rows = lines[lines.index(HEADER) + 1 :]
    assert len(rows) == 2, captured.out  # one digit, no mean row
    assert re.fullmatch(r"\s{4}1\s+[01]\.\d{3}\s+[01]\.\d{3}\s+\d+\.\d", rows[0])
    match = FIT_LINE.match(rows[1])
    assert match, rows[1]
    # the root conftest.py pins torch to one thread; n_jobs=None never exceeds it
    assert match.group(1) == "1"


def test_run_digit_records_threads(quick_detector):
    images, target = demo.load_digits_images(return_X_y=True)
    results = demo.run_digit(0, images, target, random_state=0)
    assert set(results) == {"skcae", "IsolationForest", "torch_threads"}
    for name in ("skcae", "IsolationForest"):
        auroc, seconds = results[name]
        assert 0.0 <= auroc <= 1.0 and seconds >= 0.0
    assert results["torch_threads"] == [1]


def test_main_all_digits_table(monkeypatch, capsys):
    """--digit all: one row per digit, a mean row and the fit-time line."""
    calls = []

    def fake_run_digit(digit, images, target, *, random_state):
        calls.append((digit, random_state))
        return {
            "skcae": (0.9, 2.0),
            "IsolationForest": (0.7, 0.1),
            "torch_threads": [1, 2] if digit == 3 else [2],
        }

    monkeypatch.setattr(demo, "run_digit", fake_run_digit)
    assert demo.main(["--digit", "all", "--seed", "5"]) == 0
    assert calls == [(d, 5) for d in range(10)]
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2] == f"{'mean':>5}  {0.9:>7.3f}  {0.7:>15.3f}"
    assert lines[-1] == "skcae fit: 2.0 s per digit (torch threads: 1-2)"
    assert sum(line.endswith("2.0") for line in lines) == 10


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--digit", "11"], "argument --digit: invalid choice: '11'"),
        (["--digit", "seven"], "argument --digit: invalid choice: 'seven'"),
        (["--digit", "1.0"], "argument --digit: invalid choice: '1.0'"),
        (["--digit", ""], "argument --digit: invalid choice: ''"),
        (["--digit"], "argument --digit: expected one argument"),
        (["--seed", "x"], "argument --seed: invalid int value: 'x'"),
        (["--seed", "1.5"], "argument --seed: invalid int value: '1.5'"),
        (["--seed", "-1"], r"argument --seed: -1 is out of range"),
        (["--seed", str(2**32)], r"out of range \(expected a seed in \[0, 4294967295"),
        (["--digits", "1"], "unrecognized arguments: --digits 1"),
    ],
)
def test_main_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as excinfo:
        demo.main(argv)
    assert excinfo.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("usage: python -m skcae.demo")
    assert re.search(message, captured.err), captured.err
    assert "Traceback" not in captured.err


def test_help_lists_choices(capsys):
    with pytest.raises(SystemExit) as excinfo:
        demo.main(["--help"])
    assert excinfo.value.code == 0
    assert "{0,1,2,3,4,5,6,7,8,9,all}" in capsys.readouterr().out
