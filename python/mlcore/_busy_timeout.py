"""The SQLite busy timeout as the Python API and the command lines take it: seconds a store call
waits for another process's write lock (None: the store's default, 30 s)."""

import argparse
import math
from typing import Optional


def busy_timeout_seconds(busy_timeout: Optional[float]) -> Optional[float]:
    """Checks an API argument; NaN would reach C++ as no duration, so it is refused too."""
    if busy_timeout is None:
        return None
    if isinstance(busy_timeout, bool) or not isinstance(busy_timeout, (int, float)):
        raise TypeError(f"busy_timeout must be a number of seconds or None, not "
                        f"{type(busy_timeout).__name__}")
    if math.isnan(busy_timeout) or busy_timeout < 0:
        raise ValueError(f"busy_timeout must be a non-negative number of seconds, got "
                         f"{busy_timeout!r}")
    return float(busy_timeout)


def seconds_argument(text: str) -> float:
    """argparse type for --busy-timeout S."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a non-negative number of seconds, got "
                                         f"{text!r}")
    return value
