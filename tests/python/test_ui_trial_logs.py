"""Command trials' stdout and stderr as log files: followed live while a trial runs, read back
through FrozenTrial.log, the dashboard's Python calls and its HTTP API; and the dashboard mounted
at /ui by mlcore.serve.Server(ui_home=...), read with a real HTTP client."""

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

import mlcore
from mlcore import hpo

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


def _get(url, headers=None, data=None):
    request = urllib.request.Request(url, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


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
        _wait_for(lambda: "trial 0 starting" in dash.trial_log("cmd-logs", 0), "the live log")
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
