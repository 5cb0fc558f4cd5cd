"""Starting a worker group: ``mlcore launch`` and its Python face.

    mlcore launch --nproc-per-node 2 train.py --epochs 3
    mlcore.dist.launch(["python", "train.py"], nproc_per_node=2)

The group runs in C++ (``mlcore._mlcore.dist.launch``): one process per local rank with
torchrun's environment, output lines prefixed with ``[rank N]``, the group stopped as a whole
when a worker fails, and restarted up to ``max_restarts`` times. In a PyTorchJob pod the
operator's PET_NNODES, PET_NPROC_PER_NODE, PET_NODE_RANK, PET_MAX_RESTARTS and MASTER_ADDR /
MASTER_PORT are the defaults, as torchrun reads them.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from .. import _mlcore


def _core():
    return _mlcore.dist


def _env_value(names, default):
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return default


def _nnodes(value):
    """``"N"`` or torchrun's elastic ``"MIN:MAX"`` as (min, max) node counts."""
    text = str(value)
    low, _, high = text.partition(":")
    try:
        low, high = int(low), int(high or low)
    except ValueError:
        raise ValueError(f"--nnodes {value!r} is not N or MIN:MAX") from None
    if not 1 <= low <= high:
        raise ValueError(f"--nnodes {value!r}: need 1 <= MIN <= MAX")
    return low, high


def _rdzv_conf(text):
    """torchrun's ``--rdzv-conf key=value,...``: last_call_timeout and join_timeout (seconds)
    are used, other keys are accepted and ignored (they tune torch's own backends)."""
    out = {}
    for item in filter(None, str(text or "").split(",")):
        key, _, value = item.partition("=")
        if key in ("last_call_timeout", "join_timeout"):
            try:
                out[key] = float(value)
            except ValueError:
                raise ValueError(f"--rdzv-conf {key}={value!r} is not a number") from None
    return out


def _nproc(value):
    text = str(value)
    if text in ("auto", "cpu"):
        return 1
    if text == "gpu":
        from .. import cuda

        return max(1, cuda.device_count())
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--nproc-per-node {value!r} is not a number, auto, cpu or gpu") from None


def defaults_from_env():
    """The launcher's defaults in this environment, as strings: the PyTorchJob operator's PET_*
    and MASTER_* variables where set (as torchrun reads them), else one node on 127.0.0.1."""
    # An elastic PyTorchJob names its rendezvous point in PET_RDZV_ENDPOINT ("host:port").
    rdzv_host, _, rdzv_port = os.environ.get("PET_RDZV_ENDPOINT", "").rpartition(":")
    return {
        "nproc_per_node": _env_value(["PET_NPROC_PER_NODE"], "1"),
        "nnodes": _env_value(["PET_NNODES"], "1"),
        # A pod's RANK is its node rank until a launcher assigns per-process ranks.
        "node_rank": _env_value(["PET_NODE_RANK"] + ([] if "LOCAL_RANK" in os.environ
                                                     else ["RANK"]), "0"),
        "master_addr": _env_value(["PET_MASTER_ADDR", "MASTER_ADDR"], rdzv_host or "127.0.0.1"),
        "master_port": _env_value(["PET_MASTER_PORT", "MASTER_PORT"], rdzv_port or "0"),
        "max_restarts": _env_value(["PET_MAX_RESTARTS"], "0"),
        "rdzv_endpoint": os.environ.get("PET_RDZV_ENDPOINT", ""),
        "rdzv_id": _env_value(["PET_RDZV_ID"], "default"),
        "rdzv_backend": _env_value(["PET_RDZV_BACKEND"], "c10d"),
        "rdzv_conf": os.environ.get("PET_RDZV_CONF", ""),
    }


def launch(command, nproc_per_node=1, nnodes=1, node_rank=0, master_addr="127.0.0.1",
           master_port=0, max_restarts=0, stop_grace=None, threads_per_worker=0, env=None,
           min_nodes=None, rdzv_endpoint="", rdzv_id="default", local_addr="",
           rdzv_last_call=None, rdzv_timeout=None):
    """Runs ``command`` (an argv list) as a group of ``nproc_per_node`` workers on this node and
    returns the LaunchResult (``ok``, ``exit_code``, ``failed_rank``, ``restarts``, ``rounds``,
    ``world_size``, ``describe()``). Ctrl-C stops the group. ``min_nodes`` < ``nnodes`` makes the
    group elastic: launchers meet at ``rdzv_endpoint`` (default master_addr:master_port) and the
    group re-forms when nodes leave or join. See mlcore/dist/launch.h for each option."""
    o = _core().LaunchOptions()
    o.command = [str(c) for c in command]
    o.nproc_per_node = int(nproc_per_node)
    o.nnodes = int(nnodes)
    o.min_nodes = int(nnodes if min_nodes is None else min_nodes)
    o.rdzv_endpoint = str(rdzv_endpoint or "")
    o.rdzv_id = str(rdzv_id)
    o.local_addr = str(local_addr or "")
    if rdzv_last_call is not None:
        o.rdzv_last_call = float(rdzv_last_call)
    if rdzv_timeout is not None:
        o.rdzv_timeout = float(rdzv_timeout)
    o.node_rank = int(node_rank)
    o.master_addr = str(master_addr)
    o.master_port = int(master_port)
    o.max_restarts = int(max_restarts)
    if stop_grace is not None:
        o.stop_grace = float(stop_grace)
    o.threads_per_worker = int(threads_per_worker)
    o.env = {str(k): str(v) for k, v in (env or {}).items()}
    cancel = _core().CancelFlag()
    box = {}

    def run():
        try:
            box["result"] = _core().launch(o, cancel)
        except BaseException as e:  # handed to the caller's thread
            box["error"] = e

    # The group runs on a thread so that this one stays free for Ctrl-C (and SIGTERM when the
    # launcher itself is asked to stop, as a pod is), which cancel the group.
    thread = threading.Thread(target=run, name="mlcore-launch", daemon=True)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    try:
        thread.start()
        while thread.is_alive():
            try:
                thread.join(0.2)
            except KeyboardInterrupt:
                cancel.set()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if "error" in box:
        raise box["error"]
    return box["result"]


def worker_command(script, args=(), module=False, no_python=False):
    """The argv each worker runs: ``python -u script args``, ``python -u -m module args``, or
    the program itself with ``no_python``."""
    if no_python:
        return [script, *args]
    if module:
        return [sys.executable, "-u", "-m", script, *args]
    return [sys.executable, "-u", script, *args]
