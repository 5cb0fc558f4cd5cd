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
    try:
        study.optimize(objective, n_trials=50, n_parallel=2)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(3)
"""


def interrupt(tmp_path, script):
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(script))
    env = dict(os.environ)  # the test's own MLCORE_HOME, so the test reads what it recorded
    p = subprocess.Popen([sys.executable, str(path)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
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
