"""Data-parallel training: ``model.fit(..., strategy=mlcore.dist.DataParallel())``.

    import mlcore, mlcore.dist as dist
    dp = dist.DataParallel()                  # joins the group from the environment
    model.fit(x, y, epochs=10, batch_size=32, strategy=dp, checkpoint_dir="ckpt")
    model.evaluate(x_test, y_test, strategy=dp)   # the whole test set's numbers, on every rank

Each rank trains on its shard of the data (``batch_size`` per rank), gradients are averaged
over the group in buckets that overlap the backward pass, and every rank logs the group's
numbers. ``checkpoint_dir``: rank 0 saves after every epoch; a restarted job (``mlcore launch
--max-restarts``) resumes from it on every rank. Custom loops and ``train_on_batch``:
``dp.prepare(model)`` once, then train as usual; ``with dp.no_sync():`` accumulates
micro-batches without reducing. The C++ class is mlcore::dist::DataParallel.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

from .. import _mlcore
from ..nn._arrays import _as_list
from ._comm import DEFAULT_TIMEOUT, default_group, init_process_group, is_initialized
from .env import apply_thread_default, read_env

MiB = 1 << 20


def init_from_env(backend="auto", timeout=DEFAULT_TIMEOUT):
    """Joins the group the environment describes (torchrun / ``mlcore launch``, a PyTorchJob pod,
    TF_CONFIG, MPIJob; see read_env) and makes it the default; a process without distributed
    variables gets a group of one. Also sets MLCORE_NUM_THREADS to this rank's share of the
    cores unless it is set."""
    env = read_env()
    apply_thread_default(env)
    if env.distributed:
        method = env.init_method
    else:
        method = "file://" + os.path.join(tempfile.mkdtemp(prefix="mlcore-single-"), "store")
    return init_process_group(backend, method, env.rank, env.world_size, timeout)


class DataParallel:
    """The data-parallel strategy over ``comm`` (default: the default group, joined from the
    environment when there is none yet).

    first_bucket_mb, bucket_mb: gradient bucket sizes (the first small so its allreduce starts
    early in the backward pass). drop_last: shard fit's arrays by dropping the last samples
    instead of padding with the first ones. timeout: seconds per collective (None: the
    communicator's). sync_batchnorm: connect the model's SyncBatchNorm layers to the group so
    they normalise with the whole group's batch statistics (False: per rank)."""

    def __init__(self, comm=None, first_bucket_mb=1.0, bucket_mb=25.0, timeout=None,
                 drop_last=False, sync_batchnorm=True):
        if comm is None:
            comm = default_group() if is_initialized() else init_from_env()
        self.comm = comm
        self._core = _mlcore.dist.DataParallel(comm._c, int(first_bucket_mb * MiB),
                                               int(bucket_mb * MiB), timeout, bool(drop_last),
                                               bool(sync_batchnorm))

    rank = property(lambda self: self._core.rank)
    world_size = property(lambda self: self._core.world_size)

    def __repr__(self):
        return f"DataParallel(rank={self.rank}, world_size={self.world_size})"

    def prepare(self, model):
        """Checks that every rank built the same model, copies rank 0's weights to all and
        routes the model's gradients through the reducer (for train_on_batch and custom loops;
        fit does this itself). Returns the model."""
        _ensure_built(model, None)
        self._core.prepare(model._model)
        return model

    @contextlib.contextmanager
    def no_sync(self):
        """Steps inside accumulate their gradients locally (summed) and reduce nothing; the first
        step after reduces the sum. Step the optimizer only after that one."""
        previous = self._core.sync
        self._core.sync = False
        try:
            yield
        finally:
            self._core.sync = previous

    def bucket_sizes(self):
        """Bytes per gradient bucket in launch order (after the first step)."""
        return list(self._core.bucket_sizes())

    def evaluate(self, model, x, y=None, batch_size=256):
        """The whole data's loss and metrics: each rank evaluates a disjoint share of the arrays
        (a Dataset: shard it with mlcore.dist.shard and evaluate each shard yourself)."""
        from ..nn.data import Dataset

        if isinstance(x, Dataset):
            raise ValueError("DataParallel.evaluate takes in-memory arrays, not a Dataset")
        return self._core.evaluate(model._model, _as_list(model._x(x)), _as_list(model._y(y)),
                                   int(batch_size))

    def save(self, model, directory):
        """Rank 0 writes the checkpoint (atomically); the others wait for it."""
        self._core.save(model._model, os.fspath(directory))

    def _before_fit(self, model, x, epochs, start, checkpoint_dir, callbacks):
        """What Model.fit(strategy=self) does first: build the model from the data when needed,
        resume from checkpoint_dir (epochs then counts all epochs, done ones included) and save
        there after each epoch. Returns (epochs to run, first epoch)."""
        _ensure_built(model, x)
        if checkpoint_dir is None:
            return epochs, start
        directory = os.fspath(checkpoint_dir)
        done = self._core.resume(model._model, directory)
        if done:
            start, epochs = done, max(0, epochs - done)
        callbacks.append(self._core.checkpoint_callback(directory))
        return epochs, start


def _ensure_built(model, x):
    """Builds a Sequential from one sample of ``x`` (an array, a list of arrays or a batched
    Dataset) when it is not built yet, so every rank has weights to compare and replace."""
    core = model._model
    if getattr(core, "built", True):
        return
    if x is None:
        raise ValueError("DataParallel: build the model first (model.build(input_shape))")
    from ..nn.data import Dataset

    if isinstance(x, Dataset):
        first = next(iter(x))[0]
        model.predict(first)
    else:
        model.predict(x[:1] if not isinstance(x, (list, tuple)) else [v[:1] for v in x])
