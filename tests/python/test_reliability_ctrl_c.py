"""Ctrl-C (SIGINT) stops model.fit, run.wait() and study.optimize(n_parallel=2) promptly with
KeyboardInterrupt, and what was recorded says so (issue 12, hangs 2). Each case is a real
subprocess that prints "ready" once it is busy; the test sends SIGINT and checks the exit, the
time it took and the store."""

import os
import signal
import subprocess
import sys
import textwrap
import time

from mlcore import hpo
from mlcore import pipelines as mp

PROMPT = 5.0  # seconds from SIGINT to exit: generous for a loaded 2-core machine

FIT = """
    import sys
    import numpy as np
    from mlcore import nn, optim

    class Ready:
        def on_epoch_end(self, epoch, logs):
            if epoch == 0:
                print("ready", flush=True)
            return False

    model = nn.Sequential([nn.Dense(256), nn.ReLU(), nn.Dense(10)])
    model.build([64], seed=1)
    model.compile(optimizer=optim.SGD(0.01))
    x = np.random.default_rng(0).random((4096, 64), dtype=np.float32)
    y = np.zeros(4096, dtype=np.int64)
    try:
        model.fit(x, y, epochs=100000, batch_size=32, callbacks=[Ready()])
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(3)
"""

WAIT = """
    import os
    import sys
    import time
    from mlcore import pipelines as mp

    @mp.component(caching=False)
    def spin(marker: str) -> int:
        open(marker, "w").close()  # a task's prints go to its log, not to this process's stdout
        while True:
            time.sleep(0.01)

    @mp.pipeline
    def p(marker: str):
        spin(marker=marker)

    marker = sys.argv[0] + ".running"
    run = mp.run(p, {"marker": marker})
    while not os.path.exists(marker):
        time.sleep(0.01)
    print("ready", flush=True)
    try:
        run.wait()
    except KeyboardInterrupt:
        print("interrupted", run.id, flush=True)
        sys.exit(3)
"""

# The end of the study scripts: optimize two trials at a time until Ctrl-C.
OPTIMIZE_TWO_AT_ONCE = """
    try:
        study.optimize(objective, n_trials=50, n_parallel=2)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(3)
"""

OPTIMIZE = """
    import sys
    import time
    from mlcore import hpo

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        if trial.number == 1:
            print("ready", flush=True)
        deadline = time.time() + 600
        while time.time() < deadline:
            time.sleep(0.01)
        return x

    study = hpo.create_study(name="ctrl-c")
""" + OPTIMIZE_TWO_AT_ONCE


def _ready_line(p):
    assert p.stdout.readline().strip() == "ready", p.stderr.read()


def interrupt(tmp_path, script, wait_ready=_ready_line):
    """Runs script as tmp_path/script.py, sends it SIGINT once wait_ready(process) returns (by
    default: once it prints "ready"), and checks it exits 3 promptly; returns its stdout."""
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(script))
    env = dict(os.environ)  # the test's own MLCORE_HOME, so the test reads what it recorded
    p = subprocess.Popen([sys.executable, str(path)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(p)
        time.sleep(0.3)
        start = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        took = time.monotonic() - start
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 3, (p.returncode, err[-3000:])
    assert took < PROMPT, took
    return out


def test_ctrl_c_stops_fit_after_the_current_batch(tmp_path):
    out = interrupt(tmp_path, FIT)
    assert "interrupted" in out


def test_ctrl_c_in_run_wait_cancels_the_run_and_records_it(tmp_path):
    out = interrupt(tmp_path, WAIT)
    run = mp.get_run(out.split()[-1])
    assert run.status == "failed", run.error
    assert "cancelled" in run.error
    assert run.task("spin").state == "failed"


def test_ctrl_c_stops_a_parallel_study_with_its_trials_recorded(tmp_path):
    interrupt(tmp_path, OPTIMIZE)
    study = hpo.load_study("ctrl-c", recover_stale_trials=False)
    states = [t.state for t in study.trials]
    assert len(states) == 2, states
    assert all(s == "failed" for s in states), states
    assert all("interrupted" in t.error for t in study.trials)


COMMAND_STUDY = """
    import os
    import sys
    from mlcore import hpo

    pids = sys.argv[0] + ".pids"
    # Each trial's command records its pid, prints "ready" once two run, then sleeps for ever.
    command = (f"echo $$ >> {pids}; "
               f"[ $(wc -l < {pids}) -ge 2 ] && echo ready >&2; sleep 600")
    study = hpo.create_study(name="ctrl-c-command")
    objective = hpo.CommandObjective(command, "loss", {"x": hpo.FloatDistribution(0, 1)})
""" + OPTIMIZE_TWO_AT_ONCE


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie waiting for its reaper is dead
        return f.read().split(")")[-1].split()[0] != "Z"


def test_ctrl_c_stops_a_command_study_kills_its_commands_and_records_them(tmp_path):
    pids = tmp_path / "script.py.pids"

    def two_commands_run(p):
        deadline = time.monotonic() + 60
        while not (pids.exists() and len(pids.read_text().split()) >= 2):
            assert time.monotonic() < deadline and p.poll() is None, p.stderr.read()
            time.sleep(0.05)

    out = interrupt(tmp_path, COMMAND_STUDY, two_commands_run)
    assert "interrupted" in out
    for pid in map(int, pids.read_text().split()):
        assert not _pid_alive(pid), f"trial command {pid} still runs"
    study = hpo.load_study("ctrl-c-command", recover_stale_trials=False)
    assert [t.state for t in study.trials] == ["failed", "failed"]
    assert all("interrupted" in t.error for t in study.trials), [t.error for t in study.trials]


PIPELINE_STUDY = """
    import os
    import sys
    import time
    from mlcore import hpo
    from mlcore import pipelines as mp

    @mp.component(caching=False)
    def spin(x: float, marker: str) -> float:
        open(marker, "w").close()
        while True:
            time.sleep(0.01)

    @mp.pipeline
    def p(x: float, marker: str):
        spin(x=x, marker=marker)

    marker = sys.argv[0] + ".running"
    objective = hpo.pipeline_objective(p, "output", {"x": hpo.FloatDistribution(0, 1)},
                                       arguments={"marker": marker})
    study = hpo.create_study(name="ctrl-c-pipeline")
    import threading

    def ready():
        while not os.path.exists(marker):
            time.sleep(0.01)
        print("ready", flush=True)

    threading.Thread(target=ready, daemon=True).start()
    try:
        study.optimize(objective, n_trials=10)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(3)
"""


def test_ctrl_c_stops_a_pipeline_study_cancels_its_run_and_records_it(tmp_path):
    interrupt(tmp_path, PIPELINE_STUDY)
    study = hpo.load_study("ctrl-c-pipeline", recover_stale_trials=False)
    [trial] = study.trials
    assert trial.state == "failed" and "interrupted" in trial.error, trial.error
    run = mp.get_run(trial.user_attrs["pipeline_run_id"])
    assert run.status == "failed", run.status
