"""``python -m lrmatrix``: same as the console script."""

from __future__ import annotations

import sys

from lrmatrix.cli.main import main

sys.exit(main())
