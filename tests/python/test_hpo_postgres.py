"""HPO on a real PostgreSQL server from Python: create_study(storage="postgresql://..."),
several worker processes on one study, `mlcore hpo list --storage URL`, and connection errors
that name the host and never the password."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from mlcore import hpo
from postgres_cluster import pg_cluster, pg_url  # noqa: F401 - fixtures

PASSWORD = "mlcore-test-secret"


def objective(trial):
    x = trial.suggest_float("x", -3, 3)
    for step in range(3):
        trial.report(x * x + step, step)
    return x * x


def test_create_study_on_postgres_and_load_it_elsewhere(pg_url):
    study = hpo.create_study(name="pg", storage=pg_url, sampler="tpe", seed=1)
    study.optimize(objective, n_trials=15)
    assert PASSWORD not in study.storage and PASSWORD not in repr(study)
    again = hpo.load_study("pg", storage=pg_url)
    trials = again.trials
    assert [t.number for t in trials] == list(range(15))
    assert all(t.state == "complete" for t in trials)
    assert trials[0].intermediate_values == {0: trials[0].value, 1: trials[0].value + 1,
                                            2: trials[0].value + 2}
    assert again.best_value == min(t.value for t in trials)
    with pytest.raises(ValueError, match="already exists"):
        hpo.create_study(name="pg", storage=pg_url)


WORKER = textwrap.dedent("""
    import sys
    from mlcore import hpo
    study = hpo.load_study("shared", storage=sys.argv[1], sampler="random",
                           seed=int(sys.argv[2]))
    def f(trial):
        x = trial.suggest_float("x", 0, 1)
        for step in range(10):
            trial.report(x + step, step)
        return x
    study.optimize(f, n_trials=25)
""")


def test_four_worker_processes_share_one_study(pg_url, tmp_path):
    hpo.create_study(name="shared", storage=pg_url)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    workers = [subprocess.Popen([sys.executable, str(script), pg_url, str(i)]) for i in range(4)]
    assert [w.wait(timeout=300) for w in workers] == [0, 0, 0, 0]
    trials = hpo.load_study("shared", storage=pg_url).trials
    assert sorted(t.number for t in trials) == list(range(100))
    assert all(t.state == "complete" and len(t.intermediate_values) == 10 for t in trials)


def test_hpo_list_reads_a_postgres_store(pg_url):
    study = hpo.create_study(name="listed", storage=pg_url)
    study.optimize(objective, n_trials=4)
    out = subprocess.run([sys.executable, "-m", "mlcore.pipelines", "hpo", "list", "--storage",
                          pg_url], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if line.startswith("listed"))
    assert row.split()[2:4] == ["4", "4"]
    assert PASSWORD not in out.stdout + out.stderr
    assert "postgresql://mlcore:***@127.0.0.1" in out.stdout


def test_wrong_password_and_closed_port_are_prompt_clear_errors(pg_url):
    wrong = pg_url.replace(PASSWORD, "not-the-password")
    start = time.monotonic()
    with pytest.raises(Exception) as e:
        hpo.create_study(name="x", storage=wrong)
    assert "password authentication failed" in str(e.value)
    assert "127.0.0.1:" in str(e.value) and "not-the-password" not in str(e.value)
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(Exception) as e:
            hpo.create_study(name="x", storage=f"postgresql://u:pw123@127.0.0.1:{port}/d")
    assert f"127.0.0.1:{port}" in str(e.value) and "pw123" not in str(e.value)
    assert time.monotonic() - start < 20
