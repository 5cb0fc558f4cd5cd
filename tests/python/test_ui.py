"""mlcore.ui without a browser: the Python calls, the server's JSON and refusals, the
`mlcore ui` command as a real process, command trials' logs (live while a trial runs, then
through FrozenTrial.log, the dashboard's calls and its HTTP API), and the dashboard mounted at /ui
by mlcore.serve.Server(ui_home=...)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request

import pytest

import mlcore
from mlcore import hpo
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


TRIAL = textwrap.dedent("""
    import os, sys, time
    n = os.environ["MLCORE_TRIAL_NUMBER"]
    print(f"trial {n} starting", flush=True)
    print(f"trial {n}: a warning", file=sys.stderr, flush=True)
    go = sys.argv[1]
    while go != "-" and not os.path.exists(go):
        time.sleep(0.05)
    print(f"epoch 1 loss={sys.argv[2]}", flush=True)
""")


def _wait_for(check, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_command_trial_logs_live_and_after(tmp_path, _isolated_home):
    script = tmp_path / "trial.py"
    script.write_text(TRIAL)
    go = tmp_path / "go"
    study = hpo.create_study(name="cmd-logs", direction="minimize", sampler="random", seed=0)
    objective = hpo.CommandObjective(command=f"{sys.executable} {script} {go} {{x}}",
                                     metric="loss", search_space={"x": hpo.FloatDistribution(0, 1)})
    worker = threading.Thread(target=lambda: study.optimize(objective, n_trials=1))
    worker.start()
    try:
        dash = mlcore.ui.Dashboard(_isolated_home)
        # While the trial runs its log already holds what it printed so far.
        def live():
            try:
                return "trial 0 starting" in dash.trial_log("cmd-logs", 0)
            except KeyError:  # the study has not asked for its trial yet
                return False

        _wait_for(live, "the live log")
        trial = dash.trial("cmd-logs", 0)
        assert trial["state"] == "running"
        assert trial["stderr"] == "trial 0: a warning\n"
        with mlcore.ui.start(home=_isolated_home, port=0) as server:
            status, body = _get(server.url + "api/studies/cmd-logs/trials/0/logs/stdout")
            assert status == 200 and body == b"trial 0 starting\n"
            assert _get(server.url + "api/studies/cmd-logs/trials/0/logs/nope")[0] == 400
            assert _get(server.url + "api/studies/cmd-logs/trials/5/logs/stdout")[0] == 404
        go.write_text("")
    finally:
        go.write_text("")
        worker.join(timeout=60)
    t = study.trials[0]
    assert t.state == "complete", t.error
    log_dir = _isolated_home / "hpo" / "logs" / "cmd-logs" / "trial-0"
    assert t.user_attrs["stdout_path"] == str(log_dir / "stdout.log")
    assert t.log() == f"trial 0 starting\nepoch 1 loss={t.params['x']}\n"
    assert t.log("stderr") == "trial 0: a warning\n"
    assert t.log(max_bytes=8) == t.log()[-8:]
    assert dash.trial("cmd-logs", 0)["stdout"] == t.log()


def test_cli_study_trials_keep_logs_and_bounded_files(tmp_path, _isolated_home):
    work = tmp_path / "work"
    work.mkdir()
    (work / "trial.py").write_text(TRIAL)
    (work / "spec.yaml").write_text(textwrap.dedent(f"""
        name: cli-logs
        direction: minimize
        sampler: random
        command: "{sys.executable} trial.py - {{x}}"
        metric: loss
        space:
          x: {{type: double, min: 0, max: 1}}
        n_trials: 2
    """))
    out = subprocess.run([sys.executable, "-m", "mlcore", "hpo", "run", "spec.yaml"], cwd=work,
                         env=os.environ.copy(), capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    dash = mlcore.ui.Dashboard(_isolated_home)
    for n in range(2):
        trial = dash.trial("cli-logs", n)
        assert trial["stdout"].startswith(f"trial {n} starting\nepoch 1 loss=")
        assert trial["stderr"] == f"trial {n}: a warning\n"

    # A chatty trial: its log rotates at max_log_bytes, the newest output stays in stdout.log.
    study = hpo.create_study(name="chatty", sampler="random", seed=0)
    chatty = hpo.CommandObjective(
        command="i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done; echo loss={x}",
        metric="loss", search_space={"x": hpo.FloatDistribution(0, 1)}, max_log_bytes=500)
    study.optimize(chatty, n_trials=1)
    log = study.trials[0].log()
    assert log.startswith("[mlcore: this log passed 500 bytes") and log.endswith("line 199\nloss=" +
                                                                                 f"{study.trials[0].params['x']}\n")
    assert os.path.getsize(study.trials[0].user_attrs["stdout_path"]) < 700
    # log_dir="" keeps nothing.
    quiet = hpo.CommandObjective(command="echo loss=1", metric="loss",
                                 search_space={"x": hpo.FloatDistribution(0, 1)}, log_dir="")
    study.optimize(quiet, n_trials=1)
    assert study.trials[1].log() is None and "stdout_path" not in study.trials[1].user_attrs


def test_python_server_mounts_the_dashboard(_isolated_home):
    study = hpo.create_study(name="mounted", direction="minimize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    with mlcore.serve.Server(http_port=0, ui_home=str(_isolated_home)) as server:
        status, body = _get(server.url + "/ui/api/studies")
        assert status == 200
        assert [s["name"] for s in json.loads(body)["studies"]] == ["mounted"]
        status, body = _get(server.url + "/ui/")
        assert status == 200 and b"<html" in body
        assert _get(server.url + "/ui/api/studies/nope/trials")[0] == 404
        assert _get(server.url + "/v2/health/live")[0] == 200  # inference beside it
        status, body = _get(server.url + "/ui/api/info")
        assert json.loads(body)["read_only"] is True
    # With a token the dashboard takes it for changes (and the inference endpoints ask for it).
    with mlcore.serve.Server(http_port=0, ui_home=str(_isolated_home), auth_token="tok") as server:
        status, body = _get(server.url + "/ui/api/info")
        assert status == 200 and json.loads(body)["read_only"] is False
    # Without a mount there is no /ui.
    with mlcore.serve.Server(http_port=0) as server:
        assert _get(server.url + "/ui/api/studies")[0] == 404


WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[2])
    import mlcore
    from mlcore import pipelines as mp
    from test_ui import tiny  # this file's pipeline

    study = mlcore.hpo.create_study(name="busy", direction="minimize")
    print("started", flush=True)
    for i in range(int(sys.argv[1])):
        assert mp.run(tiny, experiment="busy").wait().status == "succeeded"
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=20)
""")


def test_a_store_being_written_reads_without_lock_errors(tmp_path, _isolated_home):
    """A pipeline and a study writing the store in another process while every list page is
    read over HTTP: each answer is a 200, none mentions a lock."""
    mp.run(tiny).wait()
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writer = subprocess.Popen([sys.executable, str(script), "15", os.path.dirname(__file__)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    assert writer.stdout.readline().strip() == "started"
    answers = 0
    with mlcore.ui.start(home=_isolated_home, port=0) as server:
        try:
            deadline = time.time() + 120
            while writer.poll() is None and time.time() < deadline:
                for path in ("api/runs?limit=20", "api/studies", "api/studies/busy/trials",
                             "api/artifacts", "api/resources"):
                    status, body = _get(server.url + path)
                    assert status == 200, (path, body)
                    assert b"locked" not in body, (path, body)
                    answers += 1
        finally:
            if writer.poll() is None:
                writer.kill()
            out, err = writer.communicate(timeout=30)
    assert writer.returncode == 0, err
    assert answers >= 10
    d = mlcore.ui.Dashboard(_isolated_home)
    assert d.runs(experiment="busy")["total"] == 15
    assert d.trials("busy")["total"] == 300
