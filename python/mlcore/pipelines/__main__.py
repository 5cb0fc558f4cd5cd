"""python -m mlcore.pipelines: the `mlcore` command (kept for existing scripts)."""

import sys

from .._cli import main

sys.exit(main())
