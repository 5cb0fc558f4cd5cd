"""A three-step pipeline from a fresh Python process to its result: mlcore against the kfp SDK's
local SubprocessRunner, side by side in one run, with where mlcore's time goes.

    PYTHONPATH=python .venv/bin/python benchmarks/python/bench_pipeline_kfp.py [--repeat N]

Each figure is the best of N fresh processes (the store and kfp's pipeline root are reused, as
a user's would be). The breakdown times the pieces of mlcore's fresh process separately, also
best of N: the interpreter alone, loading the extension with its shared libraries, and numpy.
"""

import argparse
import os
import subprocess
import sys
import tempfile

from _three_step import best_of, have_kfp, once, write_scripts

PIECES = {
    "interpreter alone": "pass",
    "numpy": "import numpy",
    "cuBLASLt (dlopen'ed on first GPU use, not at import)": "import ctypes; ctypes.CDLL('libcublasLt.so.13')",
    "import mlcore._mlcore (extension + libs + numpy)": "import mlcore._mlcore",
    "import mlcore": "import mlcore",
    "import mlcore + mlcore.pipelines": "import mlcore.pipelines",
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, MLCORE_HOME=os.path.join(d, "home"))
        scripts = write_scripts(d)
        kfp_there = have_kfp()
        # Interleaved, so a burst of load on a shared machine hits both sides alike.
        mlcore_t = kfp_t = float("inf")
        for _ in range(args.repeat):
            mlcore_t = min(mlcore_t, once([sys.executable, scripts["mlcore"]], env))
            if kfp_there:
                kfp_t = min(kfp_t, once([sys.executable, scripts["kfp"], os.path.join(d, "root")],
                                        env))
        kfp_t = kfp_t if kfp_there else None
        pieces = {}
        for label, code in PIECES.items():
            try:
                pieces[label] = best_of([sys.executable, "-c", code], env, args.repeat)
            except subprocess.CalledProcessError:
                pieces[label] = None

    print(f"three-step pipeline, a fresh Python process to its result (best of {args.repeat})")
    print(f"  mlcore (in-process components):   {mlcore_t * 1e3:8.1f} ms")
    if kfp_t is not None:
        print(f"  kfp local SubprocessRunner:       {kfp_t * 1e3:8.1f} ms   "
              f"(kfp/mlcore = {kfp_t / mlcore_t:.1f}x)")
    print("where a fresh mlcore process spends its time (each a separate fresh process):")
    for label, t in pieces.items():
        print(f"  {label:50s} {'n/a' if t is None else f'{t * 1e3:8.1f} ms'}")


if __name__ == "__main__":
    main()
