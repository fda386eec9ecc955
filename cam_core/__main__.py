"""``python -m cam_core``: see :mod:`cam_core.cli`."""

import sys

from cam_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
