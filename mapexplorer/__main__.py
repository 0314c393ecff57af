"""``python -m mapexplorer``."""

import sys

from mapexplorer.cli import main

sys.exit(main())
