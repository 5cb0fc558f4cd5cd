"""Arrays in, Tensors out: how numpy arrays, DLPack producers and Tensors become the Tensors the
C++ models take (shared by model.py, graph.py and data.py, which import it and not each other
for it)."""

import numpy as np

from .. import _mlcore

_FLOAT_TARGET_LOSSES = {"binary_cross_entropy", "bce", "mse", "mean_squared_error"}


def _as_tensor(data, dtype=None):
    """A CPU mlcore Tensor for numpy arrays, DLPack producers and Tensors (copying only to make
    the data contiguous or to convert ``dtype``)."""
    if isinstance(data, _mlcore.Tensor):
        if data.device != "cpu":
            data = data.to("cpu")
        if dtype is None or data.dtype == np.dtype(dtype).name:
            return data
        data = np.asarray(data)
    elif not isinstance(data, np.ndarray) and hasattr(data, "__dlpack__"):
        t = _mlcore.from_dlpack(data)
        return _as_tensor(t, dtype)
    array = np.ascontiguousarray(data, dtype=dtype)
    if np.ndim(data) == 0:
        array = array.reshape(())  # ascontiguousarray makes scalars 1-d
    return _mlcore.from_numpy(array)


def _input_dtype(dtype):
    """The dtype a model input of numpy dtype ``dtype`` is passed on as: floats as float32,
    int32/int64 unchanged (indices for an Embedding), other integers and bools as int64. The
    C++ model then checks it against the layer that consumes the input (ValueError naming it);
    anything else goes through unchanged, so that check names it."""
    if dtype.kind == "f":
        return np.float32
    if dtype.kind in "iub" and dtype not in (np.int32, np.int64):
        return np.int64
    return None


def _input_tensor(data):
    """One model input as a CPU Tensor (see ``_input_dtype``)."""
    if isinstance(data, _mlcore.Tensor) or (not isinstance(data, np.ndarray) and
                                            hasattr(data, "__dlpack__")):
        t = _as_tensor(data)
        try:
            dtype = np.dtype(t.dtype)
        except TypeError:  # bfloat16 and other dtypes numpy lacks: the C++ check names them
            return t
        return _as_tensor(t, _input_dtype(dtype))
    array = np.asarray(data)
    return _as_tensor(array, _input_dtype(array.dtype))


def _targets(y, loss):
    if loss in _FLOAT_TARGET_LOSSES:
        return _as_tensor(y, np.float32)
    array = y if isinstance(y, np.ndarray) else None
    if array is not None and array.dtype.kind in "iub" and array.dtype not in (np.int32,
                                                                                np.int64):
        return _as_tensor(array, np.int64)
    return _as_tensor(y)  # other dtypes go through unchanged, so the C++ check names them


def _sample_weight(w):
    """Keras's sample_weight as a float32 [N] Tensor (None stays None); the C++ side checks
    its length and values (ValueError naming the index)."""
    return None if w is None else _as_tensor(w, np.float32)


def _class_weight(cw):
    """Keras's class_weight ({class id: weight}) with int keys and float weights."""
    if cw is None:
        return {}
    if not isinstance(cw, dict):
        raise ValueError(f"class_weight must be a dict {{class id: weight}}, got {type(cw)}")
    out = {}
    for key, weight in cw.items():
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)):
            raise ValueError(f"class_weight key {key!r} is not an integer class id")
        out[int(key)] = float(weight)
    return out


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]
