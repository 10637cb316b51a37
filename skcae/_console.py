"""What ``verbose`` writes: colours and progress bars only on a terminal.

skorch's :class:`~skorch.callbacks.PrintLog` marks each epoch's best losses
with ANSI colour codes, and its :class:`~skorch.callbacks.ProgressBar`
redraws a line with carriage returns. Both are meant for a terminal (or a
notebook, which renders them); written to a file or a pipe they are noise
(``\\x1b[32m0.9738\\x1b[0m``). Here the colours are kept only when the
output is a terminal or a notebook and ``NO_COLOR`` is not set
(https://no-color.org), and the progress bar is shown only when stderr is
one; the epoch table itself is always printed.
"""

import os
import sys

from skorch.callbacks import PrintLog
from skorch.utils import Ansi


def is_interactive(stream):
    """Whether ``stream`` is a terminal or a Jupyter notebook's output."""
    if type(stream).__module__.startswith("ipykernel"):
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # closed or not a file
        return False


def colours_allowed(stream):
    """Whether ANSI colours may be written to ``stream``."""
    return not os.environ.get("NO_COLOR") and is_interactive(stream)


def shows_progress():
    """Whether a progress bar (on stderr) is shown at all."""
    return is_interactive(sys.stderr)


class PlainPrintLog(PrintLog):
    """skorch's PrintLog, whose colours appear only on a terminal.

    With another ``sink`` than :func:`print` (a logger) it never colours.
    """

    _colour = False

    def on_epoch_end(self, net, **kwargs):
        self._colour = self.sink is print and colours_allowed(sys.stdout)
        super().on_epoch_end(net, **kwargs)

    def format_row(self, row, key, color):
        if self._colour:
            return super().format_row(row, key, color)
        text = super().format_row(row, key, "")
        return text.replace(Ansi.ENDC.value, "") if isinstance(text, str) else text
