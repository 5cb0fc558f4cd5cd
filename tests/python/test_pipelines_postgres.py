"""Pipelines on a real PostgreSQL server from Python: mlcore.run(..., home="postgresql://..."),
another process inspecting the run through MLCORE_STORE and the CLI's --store, and a model
registered from that run on the same database."""

import os
import subprocess
import sys
import textwrap

import pytest

from mlcore import pipelines as mp
from mlcore.pipelines import _run
from postgres_cluster import pg_cluster, pg_url  # noqa: F401 - fixtures


@mp.component
def double(x: int) -> int:
    return 2 * x


@mp.component
def add_one(y: int) -> int:
    return y + 1


@mp.pipeline(name="pg-two-steps")
def two_steps(x: int = 3):
    add_one(y=double(x=x).output)


@pytest.fixture
def closes_clients(pg_url):
    """Drops this process's clients of the test's database before the session's cluster stops:
    a client left open would reconnect to the stopped server at exit."""
    yield
    _run._in_flight.clear()
    with _run._clients_lock:
        for key in [k for k in _run._clients if k[0] == pg_url]:
            del _run._clients[key]


def test_run_with_a_postgres_home_and_inspect_it_from_another_process(pg_url, tmp_path,
                                                                      monkeypatch,
                                                                      closes_clients):
    monkeypatch.setenv("MLCORE_HOME", str(tmp_path))  # files: artifacts, task logs
    run = mp.run(two_steps, {"x": 5}, home=pg_url, wait=True)
    assert run.status == "succeeded", run.error
    assert [t.state for t in run.tasks] == ["succeeded", "succeeded"]
    assert not (tmp_path / "mlcore.db").exists()  # the records are on the server
    script = textwrap.dedent("""
        import sys
        from mlcore import pipelines as mp
        r = mp.get_run(sys.argv[1])
        print(r.status, len(r.tasks))
    """)
    env = dict(os.environ, MLCORE_STORE=pg_url, MLCORE_HOME=str(tmp_path / "elsewhere"))
    seen = subprocess.run([sys.executable, "-c", script, run.id], env=env, capture_output=True,
                          text=True, timeout=120)
    assert seen.returncode == 0, seen.stderr
    assert seen.stdout.split() == ["succeeded", "2"]
    env.pop("MLCORE_STORE")
    listed = subprocess.run([sys.executable, "-m", "mlcore", "runs", "list", "--store", pg_url],
                            env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert run.id[:8] in listed.stdout
    assert "pg-two-steps" in listed.stdout or "succeeded" in listed.stdout
