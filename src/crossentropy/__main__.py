"""``python -m crossentropy``: the same command line as the ``crossentropy`` script."""

import sys

from crossentropy.cli import main

if __name__ == "__main__":
    sys.exit(main())
