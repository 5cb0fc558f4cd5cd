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


def test_dashboard_and_server_records_follow_a_postgres_store(pg_url, tmp_path, monkeypatch,
                                                             closes_clients):
    """The dashboard reads the store pipelines, studies and servers write to: with MLCORE_STORE
    set (or the home given as the URL) it shows the runs, studies and servers on the server,
    and no mlcore.db appears in the home."""
    import json
    import urllib.request

    import mlcore
    from mlcore import hpo

    monkeypatch.setenv("MLCORE_HOME", str(tmp_path))
    monkeypatch.setenv("MLCORE_STORE", pg_url)
    run = mp.run(two_steps, {"x": 2}, wait=True)
    assert run.status == "succeeded", run.error
    study = hpo.create_study("pg-dash", storage=pg_url, sampler="random", seed=0)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    with mlcore.serve.Server(http_port=0, grpc_port=None, home=str(tmp_path)) as server:
        d = mlcore.ui.Dashboard(str(tmp_path))
        [me] = [s for s in d.servers()["servers"] if s["url"] == server.url]
        assert me["status"] == "running"
        assert [r["id"] for r in d.runs()["runs"]] == [run.id]
        assert d.runs(min_duration=0.0)["total"] == 1 and d.runs(max_duration=-0.5)["total"] == 1
        assert [s["name"] for s in d.studies()["studies"]] == ["pg-dash"]
        trials = d.trials("pg-dash")
        assert trials["total"] == 3 and all("x" in t["params"] for t in trials["trials"])
        with mlcore.ui.start(home=str(tmp_path), port=0) as ui:
            with urllib.request.urlopen(ui.url + "api/runs", timeout=10) as r:
                assert json.loads(r.read())["runs"][0]["id"] == run.id
    assert not (tmp_path / "mlcore.db").exists()
    # The home given as the URL itself, without MLCORE_STORE: the same records.
    monkeypatch.delenv("MLCORE_STORE")
    d = mlcore.ui.Dashboard(pg_url)
    assert [r["id"] for r in d.runs()["runs"]] == [run.id]
    [seen] = d.studies()["studies"]
    assert (seen["name"], seen["trials"], seen["complete"]) == ("pg-dash", 3, 3)
    assert [s["status"] for s in d.servers()["servers"]] == ["stopped"]
    assert not (tmp_path / "mlcore.db").exists()
