"""Any array a user trains with, as an mlcore.Tensor view of the same memory (no copy).

numpy arrays go through the buffer (mlcore.from_numpy), mlcore tensors pass as they are, and
anything with ``__dlpack__`` (PyTorch, CuPy, JAX) goes through DLPack. A PyTorch tensor that
requires grad is detached first: detach() shares the memory, and DLPack refuses such tensors.
A view that would need a copy (non-contiguous or read-only memory) is an error, not a silent
copy whose result the caller would never see.
"""

import numpy as np

from .. import _mlcore


def as_view(x, what="tensor"):
    if isinstance(x, _mlcore.Tensor):
        return x
    if isinstance(x, np.ndarray):
        return _mlcore.from_numpy(x)
    if hasattr(x, "__dlpack__"):
        if getattr(x, "requires_grad", False) and hasattr(x, "detach"):
            x = x.detach()
        return _mlcore.from_dlpack(x)
    raise TypeError(
        f"{what} must be a numpy array, an mlcore.Tensor or a DLPack tensor (torch, cupy, jax), "
        f"not {type(x).__name__}"
    )


def empty_like_gathered(x, world_size):
    """An output for all_gather of ``x``: world_size stacked copies' room, same kind as x."""
    if isinstance(x, np.ndarray):
        return np.empty((world_size,) + x.shape, dtype=x.dtype)
    if hasattr(x, "new_empty"):  # torch
        return x.new_empty((world_size,) + tuple(x.shape))
    if isinstance(x, _mlcore.Tensor):
        return _mlcore.empty([world_size] + list(x.shape), x.dtype)
    raise TypeError(f"pass output= for all_gather of a {type(x).__name__}")
