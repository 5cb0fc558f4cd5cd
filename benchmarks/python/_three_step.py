"""The three-step pipeline (a -> b -> b) both pipeline benchmarks time from a fresh process,
written once for mlcore and once for the kfp SDK's local SubprocessRunner, and the timer.

    mlcore script: python mlcore_three.py [inprocess|subprocess]
    kfp script:    python kfp_three.py PIPELINE_ROOT
"""

import os
import subprocess
import textwrap
import time

MLCORE_THREE = textwrap.dedent("""
    import sys
    import mlcore

    MODE = sys.argv[1] if len(sys.argv) > 1 else "inprocess"

    @mlcore.component(mode=MODE)
    def a() -> int:
        return 1

    @mlcore.component(mode=MODE)
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


def write_scripts(directory):
    """Writes both scripts into `directory`; returns {"mlcore": path, "kfp": path}."""
    paths = {}
    for name, text in (("mlcore", MLCORE_THREE), ("kfp", KFP_THREE)):
        paths[name] = os.path.join(directory, f"{name}_three.py")
        with open(paths[name], "w") as f:
            f.write(text)
    return paths


def have_kfp():
    try:
        import kfp  # noqa: F401
        return True
    except ImportError:
        return False


def once(argv, env):
    """Seconds one fresh process running `argv` takes to exit (it must succeed)."""
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def best_of(argv, env, repeat):
    return min(once(argv, env) for _ in range(repeat))
