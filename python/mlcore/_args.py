"""Checks of integer arguments before they reach the C++ core, so that a wrong one gives one
clear error naming the argument (pybind11 would print its whole signature instead)."""

import operator

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1


def check_int(name, value, low=0, high=INT64_MAX, *, allow_none=False):
    """``value`` as an int in [low, high]: TypeError for a non-integer (a bool, a float, a
    string), ValueError naming ``name`` and the range for one outside it."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool ({value!r})")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__} ({value!r})") \
            from None
    if number < low:
        raise ValueError(f"{name} must be >= {low}, got {number}")
    if number > high:
        raise ValueError(f"{name} must be <= {high}, got {number}")
    return number
