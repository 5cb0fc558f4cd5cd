"""The communicator's Python face: torch.distributed-style functions over mlcore's C++ groups.

Every call takes numpy arrays, mlcore tensors or DLPack tensors (torch) and works in place on
the caller's memory; ``timeout`` is in seconds (None: the group's timeout). The ``*_async``
forms return a Work whose ``wait(timeout=None)`` raises the collective's error. Errors: a
timeout is TimeoutError, a peer that is gone is RuntimeError; both name the collective, the
missing ranks and the timeout.
"""

import atexit
import os

from .. import _mlcore
from ._tensors import as_view, empty_like_gathered

_C = _mlcore.dist
Store = _C.Store
TcpStore = _C.TcpStore
FileStore = _C.FileStore
Work = _C.Work

DEFAULT_TIMEOUT = 300.0


class Communicator:
    """A process group's communicator (``init_process_group`` makes one)."""

    def __init__(self, native):
        self._c = native

    rank = property(lambda self: self._c.rank)
    world_size = property(lambda self: self._c.world_size)
    backend = property(lambda self: self._c.backend)
    # "shm" (ranks on one host share memory), "tcp" (Gloo's TCP pairs) or "nccl".
    transport = property(lambda self: self._c.transport)

    def __repr__(self):
        return (f"Communicator(rank={self.rank}, world_size={self.world_size}, "
                f"backend={self.backend!r}, transport={self.transport!r})")

    def all_reduce_async(self, tensor, op="sum", timeout=None):
        return self._c.all_reduce_async(as_view(tensor), op, timeout)

    def broadcast_async(self, tensor, src=0, timeout=None):
        return self._c.broadcast_async(as_view(tensor), src, timeout)

    def reduce_async(self, tensor, dst=0, op="sum", timeout=None):
        return self._c.reduce_async(as_view(tensor), dst, op, timeout)

    def all_gather_async(self, tensor, output, timeout=None):
        return self._c.all_gather_async(as_view(tensor), as_view(output, "output"), timeout)

    def reduce_scatter_async(self, input, output, op="sum", timeout=None):
        return self._c.reduce_scatter_async(as_view(input, "input"), as_view(output, "output"),
                                            op, timeout)

    def all_to_all_async(self, input, output, timeout=None):
        return self._c.all_to_all_async(as_view(input, "input"), as_view(output, "output"),
                                        timeout)

    def barrier_async(self, timeout=None):
        return self._c.barrier_async(timeout)

    def send_async(self, tensor, dst, tag=0, timeout=None):
        return self._c.send_async(as_view(tensor), dst, tag, timeout)

    def recv_async(self, tensor, src, tag=0, timeout=None):
        return self._c.recv_async(as_view(tensor), src, tag, timeout)

    # The blocking forms return the (updated in place) tensor for chaining.
    def all_reduce(self, tensor, op="sum", timeout=None):
        self._c.all_reduce(as_view(tensor), op, timeout)
        return tensor

    def broadcast(self, tensor, src=0, timeout=None):
        self.broadcast_async(tensor, src, timeout).wait()
        return tensor

    def reduce(self, tensor, dst=0, op="sum", timeout=None):
        self.reduce_async(tensor, dst, op, timeout).wait()
        return tensor

    def all_gather(self, tensor, output=None, timeout=None):
        """Every rank's ``tensor`` stacked along a new first axis (rank order) into ``output``."""
        if output is None:
            output = empty_like_gathered(tensor, self.world_size)
        self.all_gather_async(tensor, output, timeout).wait()
        return output

    def reduce_scatter(self, input, output, op="sum", timeout=None):
        self.reduce_scatter_async(input, output, op, timeout).wait()
        return output

    def all_to_all(self, input, output, timeout=None):
        self.all_to_all_async(input, output, timeout).wait()
        return output

    def barrier(self, timeout=None):
        self._c.barrier(timeout)

    def send(self, tensor, dst, tag=0, timeout=None):
        self.send_async(tensor, dst, tag, timeout).wait()

    def recv(self, tensor, src, tag=0, timeout=None):
        self.recv_async(tensor, src, tag, timeout).wait()
        return tensor


_default = None


def init_process_group(backend="auto", init_method=None, rank=-1, world_size=-1,
                       timeout=DEFAULT_TIMEOUT, same_host_shm=True, host="", host_id=""):
    """Joins a group as torch.distributed.init_process_group does and makes it the default.

    ``init_method``: "env://" (the default: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE),
    "tcp://host:port" (rank 0 hosts the store there) or "file:///path" (a fresh file on a
    shared file system). ``backend``: "gloo" (CPU), "nccl" (CUDA) or "auto".
    ``same_host_shm=False`` forces TCP between ranks on one host. ``host``: the address the
    other ranks reach this one at (default: 127.0.0.1 for a loopback rendezvous, else the host
    name). ``host_id``: which machine this rank counts as for shared memory (default: this one).
    """
    global _default
    if init_method is None:
        init_method = os.environ.get("MLCORE_INIT_METHOD", "env://")
    native = _C.init_process_group(backend, init_method, int(rank), int(world_size),
                                   float(timeout), bool(same_host_shm), host, host_id)
    comm = Communicator(native)
    _default = comm
    return comm


def is_initialized():
    return _default is not None


def default_group():
    if _default is None:
        raise RuntimeError("mlcore.dist: call init_process_group() first")
    return _default


def destroy_process_group():
    """Leaves the default group (its threads stop, its sockets and shared memory are freed)."""
    global _default
    _default = None


# The group's threads must stop while the interpreter still runs: a worker that drops a numpy
# array during interpreter shutdown cannot take the GIL.
atexit.register(destroy_process_group)


def get_rank():
    return default_group().rank


def get_world_size():
    return default_group().world_size


def all_reduce(tensor, op="sum", timeout=None):
    return default_group().all_reduce(tensor, op, timeout)


def broadcast(tensor, src=0, timeout=None):
    return default_group().broadcast(tensor, src, timeout)


def reduce(tensor, dst=0, op="sum", timeout=None):
    return default_group().reduce(tensor, dst, op, timeout)


def all_gather(tensor, output=None, timeout=None):
    return default_group().all_gather(tensor, output, timeout)


def reduce_scatter(input, output, op="sum", timeout=None):
    return default_group().reduce_scatter(input, output, op, timeout)


def all_to_all(input, output, timeout=None):
    return default_group().all_to_all(input, output, timeout)


def barrier(timeout=None):
    return default_group().barrier(timeout)


def send(tensor, dst, tag=0, timeout=None):
    return default_group().send(tensor, dst, tag, timeout)


def recv(tensor, src, tag=0, timeout=None):
    return default_group().recv(tensor, src, tag, timeout)
