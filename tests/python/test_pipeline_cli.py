"""The pipelines command line, run as users run it: a subprocess per command."""

import os
import subprocess
import sys
import textwrap

import yaml

PIPELINE = textwrap.dedent("""
    from mlcore import pipelines as mp

    @mp.component
    def add(a: int, b: int) -> int:
        return a + b

    @mp.component(mode="subprocess")
    def shout(x: int) -> str:
        print("shouting", x)
        if x > 100:
            raise ValueError("too loud")
        return f"{x}!"

    @mp.pipeline
    def cli_demo(a: int = 1, b: int = 2):
        return shout(x=add(a=a, b=b).output).output
""")


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "mlcore.pipelines", *args], cwd=cwd,
                          env=os.environ.copy(), capture_output=True, text=True, timeout=120)


def test_run_list_show_logs_resume_compile(tmp_path):
    (tmp_path / "demo.py").write_text(PIPELINE)
    out = cli("run", "demo.py:cli_demo", "-p", "a=40", "-p", "b=2", "--experiment", "cli",
              cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "succeeded" in out.stdout and "output = '42!'" in out.stdout
    run_id = out.stdout.split()[1].rstrip(":")

    bad = cli("run", "demo.py:cli_demo", "-p", "a=200", cwd=tmp_path)
    assert bad.returncode == 1
    assert "too loud" in bad.stderr and "task 'shout'" in bad.stderr

    listed = cli("runs", "list", "--experiment", "cli", cwd=tmp_path)
    assert listed.returncode == 0 and run_id in listed.stdout and "cli-demo" in listed.stdout
    show = cli("runs", "show", run_id, cwd=tmp_path)
    assert "shout" in show.stdout and "succeeded" in show.stdout
    logs = cli("runs", "logs", run_id, "shout", cwd=tmp_path)
    assert logs.stdout == "shouting 42\n"
    failed_id = bad.stdout.split()[1].rstrip(":")
    still = cli("runs", "resume", failed_id, "demo.py:cli_demo", cwd=tmp_path)
    assert still.returncode == 1 and "too loud" in still.stderr

    compiled = cli("compile", "demo.py:cli_demo", "-o", "p.yaml", cwd=tmp_path)
    assert compiled.returncode == 0, compiled.stderr
    assert yaml.safe_load((tmp_path / "p.yaml").read_text())["pipelineInfo"]["name"] == "cli-demo"


def test_schedules_verbs(tmp_path):
    (tmp_path / "demo.py").write_text(PIPELINE)
    bad = cli("schedules", "create", "demo.py:cli_demo", "--cron", "0 0 32 * *", cwd=tmp_path)
    assert bad.returncode == 2 and "day of month: '32' is out of range 1-31" in bad.stderr
    made = cli("schedules", "create", "demo.py:cli_demo", "--cron", "30 6 * * MON-FRI",
               "--name", "weekday", "-p", "a=5", "--catchup", "once", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "weekday" in made.stdout and "enabled" in made.stdout
    listed = cli("schedules", "list", cwd=tmp_path)
    assert "weekday" in listed.stdout and "30 6 * * MON-FRI" in listed.stdout
    nxt = cli("schedules", "next", "weekday", "-n", "3", cwd=tmp_path)
    lines = nxt.stdout.splitlines()
    assert len(lines) == 3 and all(line.endswith("06:30 UTC") for line in lines)
    assert "paused" in cli("schedules", "pause", "weekday", cwd=tmp_path).stdout
    assert "enabled" in cli("schedules", "resume", "weekday", cwd=tmp_path).stdout
    assert cli("schedules", "delete", "weekday", cwd=tmp_path).returncode == 0
    missing = cli("schedules", "show", "weekday", cwd=tmp_path)
    assert missing.returncode == 1 and "no schedule 'weekday'" in missing.stderr
    assert cli("schedules", "list", cwd=tmp_path).stdout == ""
