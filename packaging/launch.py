"""Entry point of the desktop bundle: the ``heartops`` command line (``heartops demo`` by default).

A desk's menu entry runs the bundle without arguments; that opens the board.
"""

import sys

from heartops.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["demo"]))
