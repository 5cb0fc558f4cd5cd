"""The `mlcore serve` verb: an inference server over a model repository, until interrupted.

    mlcore serve --model-repository DIR [--http-port 8080] [--host 127.0.0.1]
                 [--grpc-port P] [--model NAME=CHECKPOINT]... [--poll-interval S]
                 [--auth-token-file FILE]
"""

from __future__ import annotations

import signal
import sys
import threading


def register(subparsers) -> None:
    p = subparsers.add_parser("serve", help="serve models over HTTP (KServe V1 / V2)")
    p.add_argument("--model-repository", default=None,
                   help="<repo>/<model>/<version>/ folders, each model with an optional config.json")
    p.add_argument("--model", action="append", default=[], metavar="NAME=CHECKPOINT",
                   help="serve one checkpoint directory as NAME (repeatable)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--http-port", type=int, default=8080)
    p.add_argument("--grpc-port", type=int, default=None)
    p.add_argument("--http-threads", type=int, default=0)
    p.add_argument("--poll-interval", type=float, default=None,
                   help="rescan the repository every this many seconds")
    p.add_argument("--auth-token-file", default=None,
                   help="require 'Authorization: Bearer <token>' (the file's text)")
    p.set_defaults(handler=_serve)


def _serve(args) -> int:
    from . import Server

    token = None
    if args.auth_token_file:
        with open(args.auth_token_file, encoding="utf-8") as f:
            token = f.read().strip()
    server = Server(http_port=args.http_port, grpc_port=args.grpc_port, host=args.host,
                    http_threads=args.http_threads, auth_token=token,
                    model_repository=args.model_repository, poll_interval=args.poll_interval)
    for spec in args.model:
        name, sep, path = spec.partition("=")
        if not sep:
            print(f"mlcore serve: --model takes NAME=CHECKPOINT, not {spec!r}", file=sys.stderr)
            return 2
        server.add_model(name, path)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(f"mlcore serve: serving on {server.url}", flush=True)
    while not stop.wait(0.5):
        pass
    server.stop()
    return 0
