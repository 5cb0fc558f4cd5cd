"""The `mlcore scheduler` process as users run it: real subprocesses on one store, a clock the
test moves (the test-only --clock-file), two schedulers at once, and kill -9 then restart."""

import os
import signal
import subprocess
import sys
import time

import pytest

import mlcore
from test_pipeline_schedule import MIN, PIPES, T0, Clock, fired_minutes


@pytest.fixture
def env(tmp_path, monkeypatch):
    (tmp_path / "sched_pipes.py").write_text(PIPES)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("sched_pipes", None)
    e = os.environ.copy()
    e["PYTHONPATH"] = os.pathsep.join([str(tmp_path)] + [p for p in sys.path if p])
    return e


def start_scheduler(tmp_path, env, clock, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "mlcore.pipelines", "scheduler", "--poll", "0.05",
         "--clock-file", str(clock.path), *extra],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out


def runs_done(schedule, n):
    runs = schedule.runs()
    return len(runs) == n and all(r.done for r in runs)


def test_scheduler_process_fires_on_the_moved_clock(tmp_path, env):
    clock = Clock(tmp_path / "clock")
    s = mlcore.schedule("sched_pipes:quick", cron="*/5 * * * *", arguments={"tag": "t"},
                        start_after=T0)
    proc = start_scheduler(tmp_path, env, clock)
    try:
        clock.set(T0 + 4 * MIN)
        time.sleep(0.5)
        assert s.fires() == []
        clock.set(T0 + 5 * MIN)
        wait_for(lambda: runs_done(s, 1), what="the 00:05 run")
        clock.set(T0 + 10 * MIN)
        wait_for(lambda: runs_done(s, 2), what="the 00:10 run")
    finally:
        out = stop(proc)
    assert fired_minutes(s) == [5, 10]
    assert [r.status for r in s.runs()] == ["succeeded", "succeeded"]
    assert "-> run" in out


def test_two_scheduler_processes_never_fire_a_time_twice(tmp_path, env):
    clock = Clock(tmp_path / "clock")
    s = mlcore.schedule("sched_pipes:quick", cron="* * * * *", catchup="all",
                        max_concurrency=0, start_after=T0)
    procs = [start_scheduler(tmp_path, env, clock) for _ in range(2)]
    try:
        for minute in range(1, 13):
            clock.set(T0 + minute * MIN)
            time.sleep(0.08)
        wait_for(lambda: runs_done(s, 12), what="12 runs")
        time.sleep(0.5)  # room for a double fire to show up
    finally:
        outs = [stop(p) for p in procs]
    assert fired_minutes(s) == list(range(1, 13))
    assert len(mlcore.runs()) == 12
    assert len({r.id for r in s.runs()}) == 12
    # Both processes were live and polling; the fires may land on either.
    assert sum(o.count("-> run") for o in outs) == 12


def test_kill_9_then_restart_fires_what_is_due_per_policy(tmp_path, env):
    clock = Clock(tmp_path / "clock")
    gate = tmp_path / "gate"
    held = mlcore.schedule("sched_pipes:slow", cron="*/5 * * * *", arguments={"gate": str(gate)},
                           catchup="all", max_concurrency=1, start_after=T0, name="held")
    once = mlcore.schedule("sched_pipes:quick", cron="*/5 * * * *", catchup="once",
                           max_concurrency=0, start_after=T0, name="once")
    skip = mlcore.schedule("sched_pipes:quick", cron="*/5 * * * *", catchup="skip",
                           max_concurrency=0, start_after=T0, name="skip")
    proc = start_scheduler(tmp_path, env, clock)
    clock.set(T0 + 5 * MIN)
    wait_for(lambda: len(held.runs()) == 1 and runs_done(once, 1) and runs_done(skip, 1),
             what="the 00:05 fires")
    assert held.runs()[0].status == "running"
    proc.kill()  # SIGKILL mid-run
    proc.wait(timeout=30)

    clock.set(T0 + 22 * MIN)  # 00:10, 00:15, 00:20 pass with no scheduler
    proc = start_scheduler(tmp_path, env, clock)
    try:
        # The killed run is marked interrupted, which frees held's slot for 00:10; 00:15 and 00:20
        # wait for it. once runs one time for all three; skip runs none (2 min late).
        wait_for(lambda: len(held.runs()) == 2 and runs_done(once, 2), what="restart fires")
        time.sleep(0.3)
        assert fired_minutes(held) == [5, 10]
        assert fired_minutes(once) == [5, 20]
        assert fired_minutes(skip) == [5]
        gate.write_text("open")
        wait_for(lambda: runs_done(held, 4), what="held catching up")
    finally:
        stop(proc)
    assert fired_minutes(held) == [5, 10, 15, 20]
    states = {f["scheduled_time"].minute: mlcore.get_run(f["run_id"]).status
              for f in held.fires()}
    assert states == {5: "interrupted", 10: "succeeded", 15: "succeeded", 20: "succeeded"}


def test_scheduler_once_fires_waits_and_exits(tmp_path, env):
    clock = Clock(tmp_path / "clock")
    s = mlcore.schedule("sched_pipes:quick", cron="@hourly", arguments={"tag": "h"},
                        start_after=T0)
    clock.set(T0 + 60 * MIN + 10)
    out = subprocess.run([sys.executable, "-m", "mlcore.pipelines", "scheduler", "--once",
                          "--clock-file", str(clock.path)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    (run,) = s.runs()
    assert run.status == "succeeded" and run.outputs["output"] == "h"
