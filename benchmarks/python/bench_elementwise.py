"""mlcore.ops against numpy, side by side, on the same float32 inputs.

Each row times one operation both ways (best of N runs of time.perf_counter) and prints the
ratio numpy_time / mlcore_time: above 1 means mlcore is faster. Both the allocating forms
(mlcore.ops.add(a, b) vs np.add(a, b)) and the into-existing forms (out=) are measured, since
the first also pays for fresh memory.

    python benchmarks/python/bench_elementwise.py [--repeat 20] [--sizes 1e5 1e6 1e7]
"""

import argparse

import numpy as np

import mlcore
from _timing import best_seconds


def cases(n):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(n, dtype=np.float32)
    b = rng.standard_normal(n, dtype=np.float32)
    out_np = np.empty_like(a)
    out_ml = np.empty_like(a)
    ta, tb, tout = mlcore.from_numpy(a), mlcore.from_numpy(b), mlcore.from_numpy(out_ml)
    ops = mlcore.ops
    # (name, bytes moved per call, numpy callable, mlcore callable)
    return [
        ("add", 12 * n, lambda: np.add(a, b), lambda: ops.add(ta, tb)),
        ("add out=", 12 * n, lambda: np.add(a, b, out=out_np), lambda: ops.add(ta, tb, out=tout)),
        ("mul out=", 12 * n, lambda: np.multiply(a, b, out=out_np),
         lambda: ops.mul(ta, tb, out=tout)),
        ("sum", 4 * n, lambda: np.sum(a), lambda: ops.sum(ta)),
        ("sum (f64 acc)", 4 * n, lambda: np.sum(a, dtype=np.float64), lambda: ops.sum(ta)),
    ], (a, b, out_np, out_ml)


def check_same_results(n):
    a = np.random.default_rng(1).standard_normal(n, dtype=np.float32)
    b = np.random.default_rng(2).standard_normal(n, dtype=np.float32)
    ta, tb = mlcore.from_numpy(a), mlcore.from_numpy(b)
    np.testing.assert_array_equal(np.asarray(mlcore.ops.add(ta, tb)), np.add(a, b))
    np.testing.assert_allclose(float(np.asarray(mlcore.ops.sum(ta))),
                               float(np.sum(a, dtype=np.float64)), rtol=1e-6)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e5, 1e6, 1e7])
    args = parser.parse_args()

    print(f"mlcore {mlcore.__version__} ({mlcore.num_threads()} threads), numpy {np.__version__}")
    check_same_results(100_003)
    header = f"{'op':<14}{'n':>10}{'numpy ms':>11}{'mlcore ms':>11}{'numpy GB/s':>12}" \
             f"{'mlcore GB/s':>13}{'np/ml':>8}"
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        n = int(size)
        rows, _keep_alive = cases(n)
        for name, nbytes, np_fn, ml_fn in rows:
            t_np = best_seconds(np_fn, args.repeat)
            t_ml = best_seconds(ml_fn, args.repeat)
            print(f"{name:<14}{n:>10}{t_np * 1e3:>11.3f}{t_ml * 1e3:>11.3f}"
                  f"{nbytes / t_np / 1e9:>12.1f}{nbytes / t_ml / 1e9:>13.1f}{t_np / t_ml:>8.2f}")


if __name__ == "__main__":
    main()
