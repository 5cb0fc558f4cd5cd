"""Zero-copy interop: the time to view a numpy array as an mlcore Tensor and back, by size.

A view costs the same for 1 KB and 1 GB; a copy (np.copy, shown for contrast) grows with size.
Run: python benchmarks/python/bench_interop.py [--max-bytes N]
"""

import argparse
import time

import numpy as np

import mlcore


def best_of(fn, repeat=7, number=200):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-bytes", type=int, default=1 << 30)
    args = parser.parse_args()

    sizes = [s for s in (1 << 10, 1 << 20, 64 << 20, 1 << 30) if s <= args.max_bytes]
    rows = []
    for nbytes in sizes:
        a = np.ones(nbytes // 4, dtype=np.float32)
        t = mlcore.from_numpy(a)
        from_numpy = best_of(lambda: mlcore.from_numpy(a))
        to_numpy = best_of(lambda: np.asarray(t))
        from_dlpack = best_of(lambda: mlcore.from_dlpack(a))
        to_dlpack = best_of(lambda: np.from_dlpack(t))
        copy = best_of(lambda: np.copy(a), repeat=3, number=1 if nbytes > (1 << 24) else 20)
        rows.append((nbytes, from_numpy, to_numpy, from_dlpack, to_dlpack, copy))
        del a, t

    print(f"{'size':>10} {'from_numpy':>12} {'np.asarray':>12} {'from_dlpack':>12} "
          f"{'np.from_dlpack':>15} {'np.copy':>12}")
    for nbytes, *times in rows:
        label = f"{nbytes >> 20} MiB" if nbytes >= 1 << 20 else f"{nbytes >> 10} KiB"
        print(f"{label:>10} " + " ".join(f"{t * 1e6:>10.2f}us" for t in times[:3])
              + f" {times[3] * 1e6:>13.2f}us {times[4] * 1e6:>10.1f}us")
    first, last = rows[0], rows[-1]
    names = ["from_numpy", "np.asarray", "from_dlpack", "np.from_dlpack"]
    ratios = ", ".join(f"{n} {last[i + 1] / first[i + 1]:.2f}x" for i, n in enumerate(names))
    print(f"largest/smallest time ratio (1.0 = independent of size): {ratios}; "
          f"np.copy {last[5] / first[5]:.0f}x")


if __name__ == "__main__":
    main()
