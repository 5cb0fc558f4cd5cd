"""The `mlcore` command: its subcommands come from the subpackages that have a command line.

A subpackage X joins by having a module mlcore/X/_cli.py with ``register(subparsers)``, which
adds its verbs to the `mlcore` parser's subparsers and gives each ``handler=fn`` (``fn(args)``
returns the exit status). Nothing here names a subpackage, so `mlcore launch` or `mlcore serve`
arrive with their own _cli.py. Options before the verb (``--namespace``) are shared by all.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys


def command_modules():
    """The names of mlcore's subpackages that have a command line, in name order. Looked up on
    disk, so a subpackage without one is not imported."""
    root = os.path.dirname(os.path.abspath(__file__))
    return sorted(info.name for info in pkgutil.iter_modules([root])
                  if info.ispkg and os.path.exists(os.path.join(root, info.name, "_cli.py")))


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="mlcore", description="mlcore: pipelines, hyperparameter search and their records",
        epilog="Exit status 2 is a user error, named in one line on stderr (set "
               "MLCORE_TRACEBACK=1 to see the Python traceback instead).")
    parser.add_argument("--version", action="version", version=f"mlcore {__version__}")
    parser.add_argument("--namespace", default="default",
                        help="the records' namespace (default: default)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in command_modules():
        importlib.import_module(f"mlcore.{name}._cli").register(sub)
    return parser


# What a user's input causes (an unknown run, a bad parameter, a missing file): one line and exit
# status 2, as argparse does for bad arguments, instead of a traceback.
USER_ERRORS = (ValueError, LookupError, FileNotFoundError, PermissionError, IsADirectoryError,
               NotADirectoryError)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except TimeoutError as e:  # another process held the store's write lock too long
        print(f"mlcore: {e}", file=sys.stderr)
        return 1
    except USER_ERRORS as e:
        if os.environ.get("MLCORE_TRACEBACK"):
            raise
        message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        verb = " ".join(filter(None, (args.command, getattr(args, "verb", None))))
        print(f"mlcore {verb}: {message}", file=sys.stderr)
        return 2
