"""mlcore.ui without a browser: the Python calls, the server's JSON and refusals, and the
`mlcore ui` command as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

import mlcore
from mlcore import pipelines as mp
from mlcore.pipelines import Dataset, Output


@mp.component
def make(data: Output[Dataset]):
    with open(data.path, "w") as f:
        f.write("x")


@mp.pipeline
def tiny():
    make()


def _get(url, headers=None, data=None):
    request = urllib.request.Request(url, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_python_calls_and_http(_isolated_home):
    run = mp.run(tiny, experiment="e1").wait()
    assert run.status == "succeeded", run.error
    d = mlcore.ui.Dashboard(_isolated_home)
    runs = d.runs(experiment="e1")
    assert runs["total"] == 1 and runs["runs"][0]["id"] == run.id
    assert 'data-state="succeeded"' in d.run_dag(run.id)
    with pytest.raises(KeyError, match="no-such"):
        d.run("no-such")
    artifact = d.run(run.id)["tasks"][0]["artifacts"][0]["artifact_id"]
    assert d.artifact_bytes(artifact) == b"x"
    with pytest.raises(ValueError, match="relative"):
        d.artifact_bytes(artifact, "/etc/passwd")
    assert d.resources()["cpu_slots"] >= 1

    with mlcore.ui.start(home=_isolated_home, port=0) as server:
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/ui/")
        status, body = _get(server.url + "api/runs")
        assert status == 200 and json.loads(body)["total"] == 1
        status, body = _get(server.url)
        assert status == 200 and b"<html" in body
        assert _get(server.url + "api/runs/nope")[0] == 404
        assert _get(server.url + f"api/artifacts/{artifact}/download?path=..%2F..%2Fmlcore.db")[0] == 400
        assert _get(server.url + "api/models/m/aliases/a", data=b'{"version":1}')[0] == 403
    assert not server.running


def test_cli_serves_until_interrupted(_isolated_home):
    mp.run(tiny).wait()
    proc = subprocess.Popen([sys.executable, "-m", "mlcore", "ui", "--port", "0", "--home",
                             str(_isolated_home)], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ))
    try:
        line = proc.stdout.readline()
        assert "read-only" in line, line
        url = line.split(" on ")[1].split()[0]
        status, body = _get(url + "api/runs")
        assert status == 200 and json.loads(body)["total"] == 1
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0


def test_mlcore_server_mounts_the_dashboard_and_lists_itself(_isolated_home):
    import pathlib
    import signal
    import socket

    root = pathlib.Path(__file__).resolve().parents[2]
    binary = pathlib.Path(os.environ.get("MLCORE_SERVER_BINARY",
                                         root / "build" / "cmake" / "mlcore-server"))
    if not binary.exists():
        pytest.skip(f"{binary} is not built")
    mp.run(tiny).wait()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(binary), "--http-port", str(port), "--http-threads", "1",
                             "--home", str(_isolated_home), "--ui-home", str(_isolated_home)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert "serving on" in proc.stdout.readline()
        base = f"http://127.0.0.1:{port}/ui/api/"
        status, body = _get(base + "servers")
        assert status == 200
        [me] = [s for s in json.loads(body)["servers"] if s["pid"] == proc.pid]
        assert me["status"] == "running" and me["url"] == f"http://127.0.0.1:{port}"
        assert json.loads(_get(base + "runs")[1])["total"] == 1
        assert _get(f"http://127.0.0.1:{port}/v2/health/live")[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    servers = mlcore.ui.Dashboard(_isolated_home).servers()["servers"]
    assert [s["status"] for s in servers if s["pid"] == proc.pid] == ["stopped"]
