"""``python -m skcae``: the command line (see :mod:`skcae._cli`)."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
