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
import textwrap
import time

MLCORE_THREE = textwrap.dedent("""
    import sys
    import mlcore

    @mlcore.component
    def a() -> int:
        return 1

    @mlcore.component
    def b(x: int) -> int:
        return x + 1

    @mlcore.pipeline
    def three():
        return b(x=b(x=a().output).output).output

    run = mlcore.run(three, enable_caching=False).wait()
    assert run.outputs == {"output": 3}, run.error
""")

KFP_THREE = textwrap.dedent("""
    import sys
    from kfp import dsl, local
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=sys.argv[1])

    @dsl.component
    def a() -> int:
        return 1

    @dsl.component
    def b(x: int) -> int:
        return x + 1

    @dsl.pipeline
    def three() -> int:
        return b(x=b(x=a().output).output).output

    assert three().output == 3
""")

PIECES = {
    "interpreter alone": "pass",
    "numpy": "import numpy",
    "cuBLASLt (linked by libmlcore)": "import ctypes; ctypes.CDLL('libcublasLt.so.13')",
    "import mlcore._mlcore (extension + libs + numpy)": "import mlcore._mlcore",
    "import mlcore": "import mlcore",
    "import mlcore + mlcore.pipelines": "import mlcore.pipelines",
}


def once(argv, env):
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def best_of(argv, env, repeat):
    return min(once(argv, env) for _ in range(repeat))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, MLCORE_HOME=os.path.join(d, "home"))
        scripts = {}
        for name, text in (("mlcore", MLCORE_THREE), ("kfp", KFP_THREE)):
            scripts[name] = os.path.join(d, f"{name}_three.py")
            with open(scripts[name], "w") as f:
                f.write(text)
        try:
            import kfp  # noqa: F401
            have_kfp = True
        except ImportError:
            have_kfp = False
        # Interleaved, so a burst of load on a shared machine hits both sides alike.
        mlcore_t = kfp_t = float("inf")
        for _ in range(args.repeat):
            mlcore_t = min(mlcore_t, once([sys.executable, scripts["mlcore"]], env))
            if have_kfp:
                kfp_t = min(kfp_t, once([sys.executable, scripts["kfp"], os.path.join(d, "root")],
                                        env))
        kfp_t = kfp_t if have_kfp else None
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
