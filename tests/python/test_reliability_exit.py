"""The interpreter exits cleanly right after a task stopped at its timeout (issue 12, crash 3).

The stopped task's thread may still be in Python (a time.sleep returning) while the
interpreter shuts down; Python then ends it with pthread_exit. That forced unwind used to be
swallowed by a catch (...) ("FATAL: exception not rethrown", SIGABRT, exit 134), about every
second run. Each script is run several times: each must exit 0."""

import os
import subprocess
import sys
import textwrap

import pytest

REPEATS = 6

COMPONENT_TIMEOUT = """
    import time
    from mlcore import pipelines as mp

    @mp.component(timeout=1, caching=False)
    def spin() -> int:
        while True:
            time.sleep(0.05)

    @mp.pipeline
    def p():
        spin()

    print(mp.run(p).wait().status)
"""

PIPELINE_OBJECTIVE_TIMEOUT = """
    import time
    from mlcore import hpo
    from mlcore import pipelines as mp

    @mp.component(caching=False)
    def spin(x: float) -> float:
        while True:
            time.sleep(0.05)

    @mp.pipeline
    def p(x: float = 0.0):
        spin(x=x)

    study = hpo.create_study()
    objective = hpo.pipeline_objective(p, "output", {"x": hpo.FloatDistribution(0, 1)}, timeout=1)
    study.optimize(objective, n_trials=1)
    print(study.trials[0].state)
"""


@pytest.mark.parametrize("script,expected", [(COMPONENT_TIMEOUT, "failed"),
                                             (PIPELINE_OBJECTIVE_TIMEOUT, "failed")],
                         ids=["component-timeout", "pipeline-objective-timeout"])
def test_exit_right_after_a_timed_out_task_is_clean(tmp_path, script, expected):
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(script))
    env = dict(os.environ, MLCORE_HOME=str(tmp_path / "home"))
    for attempt in range(REPEATS):
        p = subprocess.run([sys.executable, str(path)], env=env, capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, (attempt, p.returncode, p.stderr[-2000:])
        assert p.stdout.strip().splitlines()[-1] == expected
        assert "FATAL" not in p.stderr


def test_a_run_left_in_flight_at_exit_is_interrupted_on_the_next_open(tmp_path):
    from mlcore import pipelines as mp

    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(PIPELINE_OBJECTIVE_TIMEOUT))
    env = dict(os.environ, MLCORE_HOME=str(tmp_path / "home"))
    p = subprocess.run([sys.executable, str(path)], env=env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    runs = mp.client(str(tmp_path / "home")).list_runs()
    assert [r["state"] for r in runs] == ["interrupted"], runs
