"""`python -m mlcore ...` is the `mlcore` command (see _cli.py: every subpackage's verbs)."""

import sys

from ._cli import main

sys.exit(main())
