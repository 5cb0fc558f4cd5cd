"""The timing every side-by-side benchmark here shares: the fastest of N runs after a warm-up
run, because on a shared machine the slower runs measure the neighbours (and the first pays for
first-touch page faults and thread-pool start)."""

import time


def best_seconds(fn, repeat):
    """Seconds of the fastest of ``repeat`` calls of ``fn`` after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
