"""`mlcore launch`: torchrun's command line over mlcore's launcher (see mlcore.dist.launch)."""

from __future__ import annotations

import argparse
import sys


def _launch(args) -> int:
    from . import launcher as L

    try:
        min_nodes, nnodes = L._nnodes(args.nnodes)
        nproc = L._nproc(args.nproc_per_node)
        conf = L._rdzv_conf(args.rdzv_conf)
        if args.rdzv_backend not in ("c10d", "static"):
            raise ValueError(f"--rdzv-backend {args.rdzv_backend!r}: mlcore's launchers meet in "
                             "a TCP store (c10d, or static for a fixed group); etcd is not used")
    except ValueError as e:
        print(f"mlcore launch: {e}", file=sys.stderr)
        return 2
    command = L.worker_command(args.script, args.script_args, module=args.module,
                               no_python=args.no_python)
    try:
        result = L.launch(command, nproc_per_node=nproc, nnodes=nnodes, node_rank=args.node_rank,
                          master_addr=args.master_addr, master_port=args.master_port,
                          max_restarts=args.max_restarts, stop_grace=args.stop_grace,
                          min_nodes=min_nodes, rdzv_endpoint=args.rdzv_endpoint,
                          rdzv_id=args.rdzv_id, local_addr=args.local_addr,
                          rdzv_last_call=conf.get("last_call_timeout"),
                          rdzv_timeout=conf.get("join_timeout"))
    except (ValueError, KeyError, RuntimeError) as e:
        print(f"mlcore launch: {e}", file=sys.stderr)
        return 2
    if not result.ok:
        restarts = f" after {result.restarts} restart(s)" if result.restarts else ""
        print(f"mlcore launch: {result.describe()}{restarts}", file=sys.stderr)
    return result.exit_code


def register(sub) -> None:
    from .launcher import defaults_from_env

    d = defaults_from_env()
    p = sub.add_parser(
        "launch", help="run a training script as a group of ranks (torchrun-compatible)",
        description="Start --nproc-per-node workers of SCRIPT on this node with torchrun's "
                    "environment. Defaults come from a PyTorchJob pod's PET_* variables.")
    p.add_argument("--nproc-per-node", "--nproc_per_node", default=d["nproc_per_node"],
                   help="workers on this node: a number, auto, cpu or gpu")
    p.add_argument("--nnodes", default=d["nnodes"],
                   help="nodes: N, or MIN:MAX for an elastic group that re-forms when nodes "
                        "leave or join")
    p.add_argument("--node-rank", "--node_rank", type=int, default=d["node_rank"])
    p.add_argument("--master-addr", "--master_addr", default=d["master_addr"])
    p.add_argument("--master-port", "--master_port", type=int, default=d["master_port"],
                   help="rank 0's store port (0: a free one; required with several nodes)")
    p.add_argument("--max-restarts", "--max_restarts", type=int, default=d["max_restarts"],
                   help="restart the whole group this often after a failure")
    p.add_argument("--stop-grace", type=float, default=None,
                   help="seconds between SIGTERM and SIGKILL for the others when one fails")
    p.add_argument("--rdzv-endpoint", "--rdzv_endpoint", default=d["rdzv_endpoint"],
                   help="elastic: host:port of the launchers' store (default: master addr:port)")
    p.add_argument("--rdzv-id", "--rdzv_id", default=d["rdzv_id"], help="elastic: the job's id")
    p.add_argument("--rdzv-backend", "--rdzv_backend", default=d["rdzv_backend"],
                   help="c10d (or static); accepted for torchrun compatibility")
    p.add_argument("--rdzv-conf", "--rdzv_conf", default=d["rdzv_conf"],
                   help="last_call_timeout=S,join_timeout=S (seconds)")
    p.add_argument("--local-addr", "--local_addr", default="",
                   help="elastic: the address other nodes reach this node's workers at")
    p.add_argument("-m", "--module", action="store_true",
                   help="SCRIPT is a module name, run as python -m")
    p.add_argument("--no-python", action="store_true", help="run SCRIPT as a program")
    p.add_argument("script")
    p.add_argument("script_args", nargs=argparse.REMAINDER)
    p.set_defaults(handler=_launch)
