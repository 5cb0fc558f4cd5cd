"""Run heartbeats from Python on a real PostgreSQL server: a driver process killed -9 on
"another machine" (its run's owner_host rewritten) is interrupted by this process's client once
its heartbeat is older than run_heartbeat_timeout, and resumed here to success."""

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from mlcore import pipelines as mp
from mlcore._mlcore import pipeline as _cpp
from mlcore.pipelines import _run
from postgres_cluster import pg_cluster, pg_url  # noqa: F401 - fixtures

# Imported by this process and by the driver, so that both have the same pipeline (digest).
HELD = textwrap.dedent("""
    import os
    import time

    from mlcore import pipelines as mp

    @mp.component
    def first(x: int) -> int:
        open(os.path.join(os.environ["MLCORE_HOME"], "first.calls"), "a").write("x")
        return x + 1

    @mp.component
    def hold(y: int) -> int:
        home = os.environ["MLCORE_HOME"]
        open(os.path.join(home, "hold.started"), "a").write("x")
        while not os.path.exists(os.path.join(home, "release")):
            time.sleep(0.05)
        return y * 10

    @mp.pipeline(name="py-held")
    def held(x: int = 1):
        return hold(y=first(x=x).output).output
""")

DRIVER = textwrap.dedent("""
    import sys
    from mlcore import pipelines as mp
    from mlcore._mlcore import pipeline as _cpp
    from mlcore.pipelines import _run
    sys.path.insert(0, sys.argv[2])
    import held_pipe
    url = sys.argv[1]
    _run._clients[(url, "default")] = _cpp.Client(url, "default", run_heartbeat_interval=0.1)
    run = mp.run(held_pipe.held, {"x": 4}, home=url, enable_caching=False)
    print(run.id, flush=True)
    run.wait()
""")


def _psql(url, sql):
    """Runs `sql` with psql (the server's client, installed with it); its output, unaligned."""
    done = subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-Atc", sql, url],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def held(tmp_path, monkeypatch, pg_url):
    monkeypatch.setenv("MLCORE_HOME", str(tmp_path))
    (tmp_path / "held_pipe.py").write_text(HELD)
    spec = importlib.util.spec_from_file_location("held_pipe", tmp_path / "held_pipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    _run._in_flight.clear()
    with _run._clients_lock:
        for key in [k for k in _run._clients if k[0] == pg_url]:
            del _run._clients[key]


def test_run_of_a_driver_killed_elsewhere_is_interrupted_then_resumed(held, pg_url, tmp_path):
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, pg_url, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        run_id = driver.stdout.readline().strip()
        assert run_id, "the driver printed no run id"
        # Killed in hold, once first's success is on the server (it is group-committed: lost
        # in a crash just before, first would run again on resume).
        assert run_id.isalnum(), run_id
        deadline = time.monotonic() + 60
        while not (tmp_path / "hold.started").exists() or _psql(
                pg_url, f"SELECT state FROM pipeline_tasks WHERE run_id = '{run_id}' AND "
                "name = 'first'") != "succeeded":
            assert time.monotonic() < deadline and driver.poll() is None
            time.sleep(0.05)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    _psql(pg_url, f"UPDATE pipeline_runs SET owner_host = 'another-machine' WHERE id = '{run_id}'")
    client = _cpp.Client(pg_url, "default", run_heartbeat_timeout=1.0)
    _run._clients[(pg_url, "default")] = client
    assert mp.get_run(run_id, home=pg_url).status == "running"  # heartbeat still fresh
    ended, deadline = 0, time.monotonic() + 30
    while ended == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
        ended = client.recover_interrupted()
    assert ended == 1
    run = mp.get_run(run_id, home=pg_url)
    assert run.status == "interrupted"
    assert "stopped its heartbeat" in run.error and "another-machine" in run.error
    (tmp_path / "release").write_text("")
    resumed = mp.run(held.held, home=pg_url, resume=run_id, enable_caching=False, wait=True)
    assert resumed.id == run_id
    assert resumed.status == "succeeded", resumed.error
    assert 50 in resumed.outputs.values()
    assert (tmp_path / "hold.started").read_text() == "xx"  # killed once, resumed once
    assert (tmp_path / "first.calls").read_text() == "x"  # kept its output
