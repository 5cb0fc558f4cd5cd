"""numpy arrays to and from the (name, datatype, shape, bytes) tuples of the extension."""

from __future__ import annotations

import struct

import numpy as np

# V2 datatype -> numpy dtype (little endian). BF16 has no numpy type: a model sees it as float32
# (exact), and an output declared BF16 is rounded back to it.
_NUMPY = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
_DATATYPE = {v.str: k for k, v in _NUMPY.items() if k != "BF16"}
_DATATYPE[np.dtype(np.bool_).str] = "BOOL"


def datatype_of(array: np.ndarray) -> str:
    """The V2 datatype of a numpy array (object/str/bytes arrays are BYTES)."""
    if array.dtype.kind in "OSU":
        return "BYTES"
    key = array.dtype.newbyteorder("<").str if array.dtype.itemsize > 1 else array.dtype.str
    if key not in _DATATYPE:
        raise TypeError(f"numpy dtype {array.dtype} has no V2 datatype")
    return _DATATYPE[key]


def from_numpy(name: str, value, datatype: str = None) -> tuple:
    """A named tensor tuple from anything numpy.asarray takes, as `datatype` when given (else
    the array's own)."""
    array = np.asarray(value)
    if datatype == "BF16":
        bits = np.ascontiguousarray(array, dtype="<f4").view("<u4").astype(np.uint64)
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2")
        return (name, "BF16", list(array.shape), rounded.tobytes())
    datatype = datatype or datatype_of(array)
    if datatype == "BYTES":
        parts = []
        for item in array.reshape(-1):
            raw = item if isinstance(item, bytes) else str(item).encode("utf-8")
            parts.append(struct.pack("<I", len(raw)) + raw)
        return (name, "BYTES", list(array.shape), b"".join(parts))
    array = np.ascontiguousarray(array, dtype=_NUMPY[datatype])
    return (name, datatype, list(array.shape), array.tobytes())


def to_numpy(tensor: tuple) -> np.ndarray:
    """The numpy array of a named tensor tuple (BYTES: an object array of bytes)."""
    _, datatype, shape, data = tensor
    if datatype == "BYTES":
        items, pos = [], 0
        while pos < len(data):
            (n,) = struct.unpack_from("<I", data, pos)
            items.append(bytes(data[pos + 4:pos + 4 + n]))
            pos += 4 + n
        out = np.empty(len(items), dtype=object)
        out[:] = items
        return out.reshape(shape)
    if datatype == "BF16":
        bits = np.frombuffer(data, dtype="<u2").astype("<u4") << 16
        return bits.view("<f4").reshape(shape)
    return np.frombuffer(data, dtype=_NUMPY[datatype]).reshape(shape).copy()
