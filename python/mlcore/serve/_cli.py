"""The `mlcore serve` verb: an inference server over a model repository, until interrupted.

    mlcore serve --model-repository DIR [--http-port 8080] [--host 127.0.0.1]
                 [--grpc-port P] [--model NAME=CHECKPOINT]... [--poll-interval S]
                 [--auth-token-file FILE]
    mlcore serve --registry [--home DIR] --model digits@production [--model NAME=REF]...

With --registry each --model is a reference into the model registry (`name`, `name/3`,
`name@alias`), served as the model's name (or NAME); an alias is followed when it moves.
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
                   help="serve one checkpoint directory as NAME (repeatable); with --registry "
                        "a registry reference NAME[@alias|/version], or SERVED=REFERENCE")
    p.add_argument("--registry", action="store_true",
                   help="--model names registry models, followed as their aliases move")
    p.add_argument("--home", default=None,
                   help="the store holding the registry (default: MLCORE_HOME or ~/.mlcore)")
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
    if args.home and not args.registry:
        print("mlcore serve: --home names the registry's store: add --registry", file=sys.stderr)
        return 2
    if args.registry and not args.model:
        print("mlcore serve: --registry needs at least one --model NAME[@alias|/version]",
              file=sys.stderr)
        return 2
    for spec in args.model:
        name, sep, path = spec.partition("=")
        try:
            if args.registry:
                server.add_registry_model(path if sep else spec, name=name if sep else None,
                                          home=args.home)
            elif not sep:
                print(f"mlcore serve: --model takes NAME=CHECKPOINT, not {spec!r}",
                      file=sys.stderr)
                return 2
            else:
                server.add_model(name, path)
        except (KeyError, ValueError, RuntimeError) as e:
            print(f"mlcore serve: {spec}: {e}", file=sys.stderr)
            return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(f"mlcore serve: serving on {server.url}", flush=True)
    if server.grpc_port >= 0:
        print(f"mlcore serve: gRPC on {args.host}:{server.grpc_port}", flush=True)
    while not stop.wait(0.5):
        pass
    server.stop()
    return 0
