"""mlcore.nn.Dataset: a stream of training data that need not fit in memory.

    ds = (mlcore.nn.Dataset.from_tensors(x, y)
          .shuffle(1000, seed=0).batch(64).map(augment).prefetch(2))
    model.fit(ds, epochs=10)

The stages run in C++ (``mlcore._mlcore.nn_models.Dataset``); ``prefetch`` produces on a
background thread, which takes the GIL only while a Python generator or map function runs.
Elements are ``(x, y)``: each a numpy array, or a tuple of arrays for several model inputs or
outputs.
"""

import numpy as np

from .. import _mlcore
from ._arrays import _as_tensor, _input_tensor


def _core():
    return _mlcore.nn_models


def _target_tensor(a):
    a = a if isinstance(a, (np.ndarray, _mlcore.Tensor)) else np.asarray(a)
    if isinstance(a, np.ndarray):
        if a.dtype.kind in "iub" and a.dtype not in (np.int32, np.int64):
            return _as_tensor(a, np.int64)
        if a.dtype.kind == "f" and a.dtype != np.float32:
            return _as_tensor(a, np.float32)
    return _as_tensor(a)


def _pack(value, convert):
    """An array, or a tuple/list of arrays, as a list of Tensors."""
    if isinstance(value, (tuple, list)):
        return [convert(v) for v in value]
    return [convert(value)]


def _unpack(tensors):
    """A list of Tensors as one numpy array, or a tuple of them when there are several."""
    arrays = tuple(np.asarray(t) for t in tensors)
    return arrays[0] if len(arrays) == 1 else arrays


class Dataset:
    """A chain of stages over examples (or batches); every method returns a new Dataset."""

    def __init__(self, core, size=None):
        self._core = core
        self.size = size  # the example count, when known (from_tensors)

    @staticmethod
    def from_tensors(x, y):
        """Examples are the rows of ``x`` and ``y`` (arrays, or tuples of arrays for several
        inputs / outputs, all with the same number of rows). Floating inputs become float32;
        integer inputs stay int32/int64 (indices for an Embedding; other integer types become
        int64); integer labels become int64."""
        xs, ys = _pack(x, _input_tensor), _pack(y, _target_tensor)
        return Dataset(_core().Dataset.from_tensors(xs, ys), xs[0].shape[0])

    @staticmethod
    def from_generator(fn, batched=False):
        """``fn()`` returns an iterable of ``(x, y)``; it is called again for every epoch. With
        ``batched`` the items are whole batches (a leading batch axis) and need no ``batch``."""

        def start():
            for item in fn():
                x, y = item
                yield (_pack(x, _input_tensor), _pack(y, _target_tensor))

        return Dataset(_core().Dataset.from_generator(start, batched))

    def shuffle(self, buffer_size, seed=0):
        """Shuffles through a buffer of ``buffer_size`` elements, reseeded every epoch from
        (seed, epoch): the same seed gives the same order."""
        return Dataset(self._core.shuffle(int(buffer_size), int(seed)), self.size)

    def batch(self, batch_size, drop_remainder=False):
        """Stacks consecutive examples into batches (the last one smaller unless
        ``drop_remainder``)."""
        return Dataset(self._core.batch(int(batch_size), bool(drop_remainder)), self.size)

    def map(self, fn):
        """Applies ``fn(x, y) -> (x, y)`` to every element (numpy arrays in and out)."""

        def apply(xs, ys):
            x, y = fn(_unpack(xs), _unpack(ys))
            return (_pack(x, _input_tensor), _pack(y, _target_tensor))

        return Dataset(self._core.map(apply), self.size)

    def prefetch(self, buffer_size=2):
        """Produces up to ``buffer_size`` elements ahead on a background thread."""
        return Dataset(self._core.prefetch(int(buffer_size)), self.size)

    @property
    def batched(self):
        return self._core.batched

    def iterate(self, epoch=0):
        """One pass as ``(x, y)`` numpy pairs; ``epoch`` selects the shuffle order."""
        it = self._core.iterate(int(epoch))
        try:
            for xs, ys in it:
                yield _unpack(xs), _unpack(ys)
        finally:
            it.close()

    def __iter__(self):
        return self.iterate(0)

    def __repr__(self):
        return f"Dataset(batched={self.batched})"
