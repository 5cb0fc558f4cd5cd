"""CUDA devices as this build and this machine see them.

Every function answers on any machine: without a GPU, a driver or a CUDA build,
``is_available()`` is False and ``unavailable_reason()`` says why.
"""

from ._mlcore import cuda as _cuda

is_available = _cuda.is_available
device_count = _cuda.device_count
unavailable_reason = _cuda.unavailable_reason
device_properties = _cuda.device_properties
synchronize = _cuda.synchronize
empty_cache = _cuda.empty_cache


def device_name(index: int = 0) -> str:
    """The device's marketing name, e.g. 'NVIDIA H200'."""
    return device_properties(index)["name"]


def memory_info(index: int = 0) -> tuple:
    """(free_bytes, total_bytes) of device ``index``."""
    props = device_properties(index)
    return props["free_memory"], props["total_memory"]


__all__ = [
    "device_count",
    "device_name",
    "device_properties",
    "empty_cache",
    "is_available",
    "memory_info",
    "synchronize",
    "unavailable_reason",
]
