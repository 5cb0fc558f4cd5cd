"""Sharding data over the ranks of a data-parallel group (see mlcore/dist/sampler.h).

    sampler = mlcore.dist.DistributedSampler(len(x), shuffle=True, seed=0)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        idx = sampler.indices()          # this rank's samples, the same count on every rank

Every rank draws the same seeded permutation of the whole data and takes every world_size-th
sample from its rank on, padded (or cut with ``drop_last``) so that all ranks run the same
number of steps.
"""

from __future__ import annotations

import numpy as np

from .. import _mlcore


def _group(rank, world_size):
    """rank and world size, from the environment when not given."""
    if rank is None or world_size is None:
        env = _mlcore.dist.parse_env()
        rank = env.rank if rank is None else rank
        world_size = env.world_size if world_size is None else world_size
    return int(rank), int(world_size)


class DistributedSampler:
    """This rank's share of ``num_samples`` samples per epoch (rank and world size default to
    the job's environment)."""

    def __init__(self, num_samples, rank=None, world_size=None, shuffle=True, seed=0,
                 drop_last=False):
        rank, world_size = _group(rank, world_size)
        o = _mlcore.dist.DistributedSamplerOptions()
        o.num_samples, o.rank, o.world_size = int(num_samples), rank, world_size
        o.shuffle, o.seed, o.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self._core = _mlcore.dist.DistributedSampler(o)
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch):
        """The epoch whose permutation indices() and iteration draw (torch's set_epoch)."""
        self.epoch = int(epoch)

    def indices(self, epoch=None):
        """This rank's sample indices (int64 array) for ``epoch`` (default: set_epoch's)."""
        return self._core.indices(self.epoch if epoch is None else int(epoch))

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self):
        return self._core.shard_size

    @property
    def total_size(self):
        """Samples per epoch over the whole group (a multiple of world_size)."""
        return self._core.total_size


def shard_arrays(arrays, rank=None, world_size=None, epoch=0, shuffle=True, seed=0,
                 drop_last=False):
    """This rank's rows of each array (all with the same row count) for ``epoch``."""
    arrays = [np.asarray(a) for a in arrays]
    sampler = DistributedSampler(len(arrays[0]), rank, world_size, shuffle, seed, drop_last)
    idx = sampler.indices(epoch)
    return [a[idx] for a in arrays]


def shard(dataset, rank=None, world_size=None, drop_last=False):
    """An mlcore.nn.Dataset of this rank's share of ``dataset``'s examples: shard after a seeded
    shuffle (the same order on every rank) and before ``batch``. Every rank yields the same
    count (the last incomplete group of world_size examples is padded, or dropped)."""
    from ..nn.data import Dataset

    rank, world_size = _group(rank, world_size)
    core = _mlcore.dist.shard_dataset(dataset._core, rank, world_size, drop_last)
    size = None
    if dataset.size is not None:
        size = dataset.size // world_size if drop_last else -(-dataset.size // world_size)
    return Dataset(core, size)
