"""A process's place in a distributed job, read from the environment that started it:
torchrun / ``mlcore launch``, a PyTorchJob pod, TFJob's TF_CONFIG or MPIJob (see
mlcore/dist/env.h). WORLD_SIZE is checked against the other variables, never assumed.

    env = mlcore.dist.read_env()      # DistEnv: rank, world_size, local_rank, init_method, ...
"""

from __future__ import annotations

import os

from .. import _mlcore


def read_env(env=None, cores=0):
    """DistEnv from ``env`` (a dict of variables) or this process's environment. ValueError
    naming the variable for a malformed or contradictory one."""
    return _mlcore.dist.parse_env(None if env is None else dict(env), int(cores))


def apply_thread_default(env):
    """Exports MLCORE_NUM_THREADS as this rank's share of the cores unless it is set, for the
    CPU pool of a process that has not computed anything yet."""
    os.environ.setdefault("MLCORE_NUM_THREADS", str(env.num_threads))
