"""verbose output: ANSI colours and the progress bar only on a terminal."""

import io

import pytest

from skcae import ConvAutoencoderOutlierDetector
from skcae._console import PlainPrintLog, colours_allowed, is_interactive

ESC = "\x1b["


def fit_verbose(zeros, tiny):
    ConvAutoencoderOutlierDetector(
        **{**tiny, "max_epochs": 3}, verbose=1, validation_fraction=0.25
    ).fit(zeros)


def test_no_colours_or_progress_bar_in_a_pipe(zeros, tiny, capsys, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    fit_verbose(zeros, tiny)  # pytest's captured streams are not terminals
    captured = capsys.readouterr()
    assert "train_loss" in captured.out and "valid_loss" in captured.out
    assert ESC not in captured.out and ESC not in captured.err
    assert "it/s" not in captured.err and "\r" not in captured.err
    assert len(captured.out.strip().splitlines()) == 2 + 3  # header, rule, epochs


def test_colours_on_a_terminal_unless_no_color(zeros, tiny, capsys, monkeypatch):
    monkeypatch.setattr("skcae._console.is_interactive", lambda stream: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    fit_verbose(zeros, tiny)
    captured = capsys.readouterr()
    assert ESC + "32m" in captured.out  # skorch marks the best train_loss green
    assert "it/s" in captured.err  # and shows its progress bar
    monkeypatch.setenv("NO_COLOR", "1")
    fit_verbose(zeros, tiny)
    assert ESC not in capsys.readouterr().out


def test_a_sink_other_than_print_gets_no_colours(monkeypatch):
    monkeypatch.setattr("skcae._console.is_interactive", lambda stream: True)
    log = PlainPrintLog(sink=print)
    log.initialize()
    row = {"epoch": 1, "train_loss": 0.5, "train_loss_best": True}
    log._colour = True
    assert ESC in log.table(row)
    log._colour = False
    assert ESC not in log.table(row) and "0.5000" in log.table(row)


class Closed(io.StringIO):
    def isatty(self):
        raise ValueError("I/O operation on closed file")


@pytest.mark.parametrize(
    "stream, expected",
    [(io.StringIO(), False), (Closed(), False), (object(), False)],
)
def test_is_interactive(stream, expected, monkeypatch):
    assert is_interactive(stream) is expected
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert colours_allowed(stream) is expected
