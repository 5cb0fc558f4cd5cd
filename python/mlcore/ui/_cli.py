"""The `mlcore ui` verb (registered by mlcore._cli through register()).

    ui [--host 127.0.0.1] [--port 8265] [--home DIR] [--token T | --token-file F] [--log-dir D]...

Serves the dashboard until interrupted; read-only unless a token is given.
"""

from __future__ import annotations

import os
import signal
import threading


def _run(args) -> int:
    from . import start

    token = args.token or os.environ.get("MLCORE_UI_TOKEN") or ""
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as f:
            token = f.read().strip()
    # The handlers come first: a stop that arrives as soon as the URL is printed still drains.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server = start(args.home, args.port, host=args.host, token=token or None,
                   log_dirs=args.log_dir or (), threads=args.threads)
    print(f"mlcore ui: serving {server.dashboard.home} on {server.url}"
          + ("" if token else " (read-only)"), flush=True)
    while not stop.wait(0.5):
        pass
    server.stop()
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("ui", help="serve the dashboard (runs, studies, training, models, "
                                         "servers, resources)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8265, help="port (default: 8265; 0: any free one)")
    p.add_argument("--home", default=None, help="the store's directory (default: $MLCORE_HOME)")
    p.add_argument("--token", default=None,
                   help="allow changes (alias promotion) with this bearer token "
                        "(or $MLCORE_UI_TOKEN)")
    p.add_argument("--token-file", default=None, help="read the token from this file")
    p.add_argument("--log-dir", action="append", default=None,
                   help="where TensorBoard event files are (repeatable; default: <home>/logs)")
    p.add_argument("--threads", type=int, default=2, help="HTTP threads (default: 2)")
    p.set_defaults(handler=_run)
