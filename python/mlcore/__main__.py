"""`python -m mlcore ...` is the `mlcore` command (runs, pipelines, schedules, hpo)."""

import sys

from .pipelines._cli import main

sys.exit(main())
