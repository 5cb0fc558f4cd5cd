"""The scheduler's robustness from Python and the command line: fires whose run fails to start
are retried with backoff and then recorded failed (shown by `mlcore schedules show`), old fire
records are pruned, and a pipeline built with the C++ API (command components) can be
scheduled."""

import os
import subprocess
import sys
import textwrap

import mlcore
from mlcore import _mlcore
from mlcore.pipelines import _schedule

from test_pipeline_schedule import MIN, T0, Clock
from test_pipeline_schedule import PIPES as LATE  # its quick pipeline, written late


def book():
    return _mlcore.pipeline_schedule.Schedules(mlcore.pipelines.client())


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "mlcore.pipelines", *args], cwd=cwd,
                          env=os.environ.copy(), capture_output=True, text=True, timeout=120)


def test_a_fire_that_cannot_start_is_retried_and_starts_once_it_can(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("late_pipes", None)
    clock = Clock(tmp_path / "clock")
    book().create("python", "late_pipes:quick", cron="*/5 * * * *", name="late", start_after=T0)
    sched = _schedule.make_scheduler(clock_file=clock.path, start_retries=2, start_backoff=60.0)
    clock.set(T0 + 5 * MIN)
    (fire,) = sched.tick()
    assert fire["state"] == "retrying" and fire["attempts"] == 1
    assert "late_pipes" in fire["error"]
    (recorded,) = mlcore.get_schedule("late").fires()
    assert recorded["state"] == "retrying"
    assert recorded["retry_at"].timestamp() == T0 + 6 * MIN
    # The module appears (a deploy finished); the retry at 00:06 starts the 00:05 run.
    (tmp_path / "late_pipes.py").write_text(LATE)
    clock.set(T0 + 6 * MIN)
    (fire,) = sched.tick()
    assert fire["state"] == "started" and fire["attempts"] == 2, fire["error"]
    _schedule.wait_for_runs([fire["run_id"]])
    (run,) = mlcore.get_schedule("late").runs()
    assert run.status == "succeeded" and run.outputs == {"output": "x"}


def test_retries_run_out_and_schedules_show_says_why(tmp_path):
    clock = Clock(tmp_path / "clock")
    book().create("python", "never_there:quick", cron="*/5 * * * *", name="gone",
                  start_after=T0)
    sched = _schedule.make_scheduler(clock_file=clock.path, start_retries=1, start_backoff=30.0)
    clock.set(T0 + 5 * MIN)
    assert [f["state"] for f in sched.tick()] == ["retrying"]
    shown = cli("schedules", "show", "gone", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "retrying" in shown.stdout and "tries=1" in shown.stdout
    assert "next try 2024-01-01 00:05:30" in shown.stdout
    clock.set(T0 + 5 * MIN + 30)
    (fire,) = sched.tick()
    assert fire["state"] == "failed"
    assert "did not start in 2 tries" in fire["error"] and "never_there" in fire["error"]
    shown = cli("schedules", "show", "gone", cwd=tmp_path)
    assert "failed" in shown.stdout and "tries=2" in shown.stdout
    assert "never_there" in shown.stdout


def test_old_fire_records_are_pruned(tmp_path, monkeypatch):
    (tmp_path / "late_pipes.py").write_text(LATE)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("late_pipes", None)
    clock = Clock(tmp_path / "clock")
    book().create("python", "late_pipes:quick", cron="*/5 * * * *", name="often",
                  start_after=T0)
    sched = _schedule.make_scheduler(clock_file=clock.path, keep_fires=2)
    run_ids = []
    for m in (5, 10, 15, 20):
        clock.set(T0 + m * MIN)
        started = [f["run_id"] for f in sched.tick()]
        # max_concurrency is 1: a fire due while the previous run still runs would be skipped.
        _schedule.wait_for_runs(started)
        run_ids += started
    fires = mlcore.get_schedule("often").fires()
    assert [int((f["scheduled_time"].timestamp() - T0) // MIN) for f in fires] == [20, 15]
    # The runs of pruned fires stay.
    assert all(mlcore.pipelines.get_run(r).status == "succeeded" for r in run_ids)


CMD_PIPES = textwrap.dedent("""
    from mlcore import _mlcore

    _p = _mlcore.pipeline
    shout = _p.Component("shout", inputs=[("word", "str", None)],
                         outputs=[("loud", "str", None)],
                         command=["sh", "-c",
                                  "printf '%s!' \\"$0\\" > \\"$1\\"",
                                  "{{inputs.parameters.word}}",
                                  "{{outputs.parameters.loud.path}}"])
    built = _p.Pipeline("cmd-pipe", [("word", "str", None)])
    built.add_task("shout", shout, {"word": ["param", "word"]})
    built.add_output("loud", "shout", "loud")
""")


def test_the_scheduler_runs_a_pipeline_built_with_the_cpp_api(tmp_path):
    (tmp_path / "cmd_pipes.py").write_text(CMD_PIPES)
    clock = Clock(tmp_path / "clock")
    created = cli("schedules", "create", "cmd_pipes.py:built", "--cron", "*/5 * * * *",
                  "-p", "word=hey", "--name", "cmd", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    # Fires the next 5-minute mark after creation; the clock file is "now".
    s = mlcore.get_schedule("cmd")
    (due,) = s.next_times(1)
    clock.set(due.timestamp())
    out = cli("scheduler", "--once", "--clock-file", clock.path, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (run,) = s.runs()
    assert run.status == "succeeded", run.error
    assert run.outputs == {"loud": "hey!"}
