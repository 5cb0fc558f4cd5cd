"""mlcore.dist: data-parallel training across processes and machines.

The communicator (gloo for CPU tensors, with a shared-memory path for ranks on one host; nccl for
CUDA tensors), its rendezvous stores and the torch.distributed-style functions live here; see
docs/dist.md. Arrays may be numpy, mlcore tensors or any DLPack tensor, updated in place.
"""

from ._comm import (  # noqa: F401 (re-exports)
    DEFAULT_TIMEOUT,
    Communicator,
    FileStore,
    Store,
    TcpStore,
    Work,
    all_gather,
    all_reduce,
    all_to_all,
    barrier,
    broadcast,
    default_group,
    destroy_process_group,
    get_rank,
    get_world_size,
    init_process_group,
    is_initialized,
    recv,
    reduce,
    reduce_scatter,
    send,
)
from .data_parallel import DataParallel, init_from_env  # noqa: F401
from .env import read_env  # noqa: F401
from .launcher import launch  # noqa: F401
from .sampler import DistributedSampler, shard, shard_arrays  # noqa: F401
from .sync_batch_norm import SyncBatchNorm1d, SyncBatchNorm2d, convert_sync_batchnorm  # noqa: F401
