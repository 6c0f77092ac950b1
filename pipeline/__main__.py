"""``python -m pipeline`` is the ``cordotomy`` command."""

import sys

from pipeline.cli import main

sys.exit(main())
