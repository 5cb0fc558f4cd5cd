"""mlcore.dist's sampler: disjoint shards, the same epoch order on every rank, equal step counts,
and Datasets sharded the same way."""

import numpy as np

import mlcore.dist as dist
import mlcore.nn as nn


def test_shards_are_disjoint_and_equal_and_reshuffle_per_epoch():
    samplers = [dist.DistributedSampler(10, rank=r, world_size=3, seed=1) for r in range(3)]
    shards = [s.indices(0) for s in samplers]
    assert all(len(s) == 4 for s in shards) and all(len(s_) == 4 for s_ in samplers)
    assert set(np.concatenate(shards)) == set(range(10))  # two samples padded in
    np.testing.assert_array_equal(np.concatenate(shards[:1] + shards[1:]).size, 12)
    samplers[0].set_epoch(1)
    assert list(samplers[0]) != list(shards[0])
    # Interleaved, the shards are the order Model.fit draws for the same seed and epoch.
    order = dist.DistributedSampler(12, rank=0, world_size=1, seed=1).indices(2)
    halves = [dist.DistributedSampler(12, rank=r, world_size=2, seed=1).indices(2)
              for r in range(2)]
    np.testing.assert_array_equal(np.stack(halves, axis=1).reshape(-1), order)


def test_drop_last_and_shard_arrays():
    x = np.arange(10, dtype=np.float32)
    parts = [dist.shard_arrays([x, x * 2], rank=r, world_size=4, drop_last=True, seed=3)
             for r in range(4)]
    assert all(len(p[0]) == 2 for p in parts)
    np.testing.assert_array_equal(parts[1][1], parts[1][0] * 2)
    assert len(set(np.concatenate([p[0] for p in parts]).tolist())) == 8


def test_rank_and_world_size_come_from_the_environment(monkeypatch):
    for k, v in {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
                 "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1234"}.items():
        monkeypatch.setenv(k, v)
    s = dist.DistributedSampler(6, shuffle=False)
    assert (s.rank, s.world_size) == (1, 2)
    assert list(s) == [1, 3, 5]


def test_dataset_shards_yield_equal_counts():
    x = np.arange(7, dtype=np.float32).reshape(7, 1)
    y = np.arange(7)
    ds = nn.Dataset.from_tensors(x, y).shuffle(7, seed=5)
    seen = []
    for r in range(3):
        part = dist.shard(ds, rank=r, world_size=3)
        assert part.size == 3
        batches = list(part.batch(2))
        assert [len(b[0]) for b in batches] == [2, 1]
        seen.extend(int(v) for b in batches for v in b[0][:, 0])
    assert set(seen) == set(range(7)) and len(seen) == 9
