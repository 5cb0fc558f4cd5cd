"""Tensor constructors that copy or convert, beside the zero-copy ones of the C++ core."""

import numpy as np

from ._mlcore import Tensor, from_dlpack, from_numpy


def tensor(data, dtype=None, device="cpu") -> Tensor:
    """A new tensor holding a copy of ``data`` (a list, scalar, numpy array or DLPack tensor).

    Unlike ``from_numpy`` it never shares memory, so non-contiguous or read-only input is fine.
    ``dtype`` is an mlcore dtype name ("float32", "bfloat16", ...); default: the input's.
    """
    if hasattr(data, "__dlpack__") and not isinstance(data, np.ndarray):
        source = from_dlpack(data)
    else:
        array = np.array(data, dtype=_numpy_dtype(dtype) if dtype else None, copy=True, order="C")
        if array.dtype == np.float64 and dtype is None and not isinstance(data, np.ndarray):
            array = array.astype(np.float32)  # Python floats default to float32, as in PyTorch
        source = from_numpy(array)
    if dtype is not None and source.dtype != dtype:
        from ._mlcore import ops

        source = ops.cast(source, dtype)
    return source.to(device)


def as_tensor(data, device="cpu") -> Tensor:
    """A tensor sharing memory with ``data`` where possible (CPU numpy array or DLPack
    producer), copying only when it must (another device, non-contiguous, read-only, lists)."""
    if isinstance(data, Tensor):
        return data if data.device == device else data.to(device)
    try:
        if isinstance(data, np.ndarray):
            t = from_numpy(data)
        elif hasattr(data, "__dlpack__"):
            t = from_dlpack(data)
        else:
            return tensor(data, device=device)
    except ValueError:
        return tensor(data, device=device)
    return t if t.device == device else t.to(device)


def _numpy_dtype(name):
    if name == "bfloat16":
        return np.float32  # numpy has no bfloat16: stage in float32, then cast in mlcore
    return np.dtype(name)


def _numpy(self) -> np.ndarray:
    """A numpy array: a zero-copy view for CPU tensors, a host copy for CUDA tensors."""
    source = self if self.device == "cpu" else self.to("cpu")
    return np.asarray(source)


def _item(self):
    if self.size != 1:
        raise ValueError(f"item() needs a tensor of one element, this one has {self.size}")
    return _numpy(self).reshape(()).item()


Tensor.numpy = _numpy
Tensor.item = _item
Tensor.tolist = lambda self: _numpy(self).tolist()
Tensor.cpu = lambda self: self if self.device == "cpu" else self.to("cpu")
Tensor.cuda = lambda self, index=0: self.to(f"cuda:{index}")
Tensor.__float__ = lambda self: float(_item(self))
Tensor.__int__ = lambda self: int(_item(self))


def _array(self, dtype=None, copy=None):
    # numpy asks the buffer protocol first and comes here only when it fails: a CUDA tensor or
    # bfloat16. Say so instead of letting numpy wrap the tensor in an object array.
    if self.device != "cpu":
        raise ValueError(f"tensor on {self.device} cannot be viewed as a numpy array; "
                         "call .cpu() (or .numpy(), which copies) first")
    if self.dtype == "bfloat16":
        raise TypeError("bfloat16 has no numpy dtype; cast it first: "
                        "mlcore.ops.cast(t, 'float32')")
    array = np.asarray(memoryview(self))
    return array if dtype is None else array.astype(dtype, copy=bool(copy))


Tensor.__array__ = _array
