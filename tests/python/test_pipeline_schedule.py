"""Recurring runs through the Python API: mlcore.schedule, Schedule, and the C++ scheduler loop
ticked in-process with a clock the test controls."""

import datetime
import os
import textwrap
import time

import pytest

import mlcore
from mlcore.pipelines import _schedule

T0 = 1704067200.0  # 2024-01-01 00:00 UTC
MIN = 60.0

PIPES = textwrap.dedent("""
    import os, time
    from mlcore import pipelines as mp

    @mp.component
    def stamp(tag: str) -> str:
        return tag

    @mp.component
    def hold(gate: str) -> str:
        while not os.path.exists(gate):
            time.sleep(0.01)
        return "released"

    @mp.pipeline
    def quick(tag: str = "x"):
        return stamp(tag=tag).output

    @mp.pipeline
    def slow(gate: str = ""):
        return hold(gate=gate).output
""")


@pytest.fixture
def pipes(fresh_module):
    return fresh_module("sched_pipes", PIPES)


class Clock:
    """The time the scheduler reads from its --clock-file (shared with the other schedule tests)."""
    def __init__(self, path):
        self.path = str(path)
        self.set(T0)

    def set(self, t):
        with open(self.path + ".tmp", "w") as f:
            f.write(repr(float(t)))
        os.replace(self.path + ".tmp", self.path)


def fired_minutes(schedule):
    return sorted(int((f["scheduled_time"].timestamp() - T0) // MIN) for f in schedule.fires())


def wait_done(fires):
    _schedule.wait_for_runs([f["run_id"] for f in fires if f["run_id"]])


def test_schedule_records_and_controls(pipes):
    s = mlcore.schedule(pipes.quick, cron="*/5 * * * *", arguments={"tag": "a"},
                        experiment="nightly", name="q5", start_after=T0)
    assert s.pipeline == "sched_pipes:quick"
    assert s.cron == "*/5 * * * *" and s.arguments == {"tag": "a"} and s.enabled
    assert s.catchup == "skip" and s.max_concurrency == 1 and s.experiment == "nightly"
    assert [x.id for x in mlcore.schedules()] == [s.id]
    assert mlcore.get_schedule("q5").id == s.id
    nxt = s.next_times(2)
    assert all(isinstance(t, datetime.datetime) for t in nxt)
    assert nxt[1] - nxt[0] == datetime.timedelta(minutes=5) and nxt[0].minute % 5 == 0
    s.pause()
    assert not s.enabled
    s.resume()
    assert s.enabled
    # A string import path works too, and is checked when the schedule is made.
    s2 = mlcore.schedule("sched_pipes:slow", cron="@daily", name="d")
    assert s2.cron == "@daily"
    s2.delete()
    with pytest.raises(KeyError):
        mlcore.get_schedule("d")
    assert "q5" in repr(s)


def test_bad_schedules_are_refused_with_what_is_wrong(pipes):
    with pytest.raises(ValueError, match=r"hour: '24' is out of range 0-23"):
        mlcore.schedule(pipes.quick, cron="0 24 * * *")
    with pytest.raises(ValueError, match="expected 5 fields"):
        mlcore.schedule(pipes.quick, cron="* * *")
    with pytest.raises(ValueError, match="'sometimes' is not one of skip, once, all"):
        mlcore.schedule(pipes.quick, cron="* * * * *", catchup="sometimes")
    with pytest.raises(KeyError, match="Atlantis/Capital"):
        mlcore.schedule(pipes.quick, cron="* * * * *", time_zone="Atlantis/Capital")
    with pytest.raises(ValueError, match="sched_pipes:nothing is not a @pipeline"):
        mlcore.schedule("sched_pipes:nothing", cron="* * * * *")
    with pytest.raises(ValueError, match="no_such_module"):
        mlcore.schedule("no_such_module:p", cron="* * * * *")

    @mlcore.pipeline
    def local_p():
        return pipes.stamp(tag="x").output

    with pytest.raises(ValueError, match="inside a function"):
        mlcore.schedule(local_p, cron="* * * * *")
    mlcore.schedule(pipes.quick, cron="* * * * *", name="taken")
    with pytest.raises(ValueError, match="already exists"):
        mlcore.schedule(pipes.quick, cron="* * * * *", name="taken")
    assert [s.name for s in mlcore.schedules()] == ["taken"]


def test_scheduler_fires_due_times_and_runs_the_pipeline(pipes, tmp_path):
    clock = Clock(tmp_path / "clock")
    s = mlcore.schedule(pipes.quick, cron="*/5 * * * *", arguments={"tag": "hello"},
                        experiment="sched", start_after=T0)
    sched = _schedule.make_scheduler(clock_file=str(clock.path))
    clock.set(T0 + 4 * MIN)
    assert sched.tick() == []
    clock.set(T0 + 5 * MIN)
    fires = sched.tick()
    assert [f["state"] for f in fires] == ["started"]
    assert sched.tick() == []  # the same time never fires twice
    wait_done(fires)
    (run,) = s.runs()
    assert run.status == "succeeded" and run.outputs["output"] == "hello"
    assert run.experiment == "sched" and run.arguments == {"tag": "hello"}
    assert s.last_fire == datetime.datetime(2024, 1, 1, 0, 5, tzinfo=datetime.timezone.utc)
    assert sched.next_due() == T0 + 10 * MIN


def test_a_fires_lease_is_renewed_while_its_run_lives(pipes, tmp_path):
    clock = Clock(tmp_path / "clock")
    gate = tmp_path / "gate"
    s = mlcore.schedule(pipes.slow, cron="* * * * *", arguments={"gate": str(gate)},
                        start_after=T0)
    assert _schedule.SCHEDULER_DEFAULTS["lease"] == 60.0
    sched = _schedule.make_scheduler(clock_file=str(clock.path), lease=3.0)
    clock.set(T0 + MIN)
    fires = sched.tick()
    assert [f["state"] for f in fires] == ["started"]
    (f,) = s.fires()
    assert f["lease_owner"].rsplit(":", 2)[1] == str(os.getpid())
    first = f["lease_until"]
    assert 1.5 < first.timestamp() - time.time() <= 3.5  # the database's clock + 3 s
    time.sleep(1.0)
    sched.tick()
    (f,) = s.fires()
    assert f["lease_until"] > first  # renewed: the run is running
    gate.write_text("")
    wait_done(fires)
    sched.tick()
    renewed = s.fires()[0]["lease_until"]
    time.sleep(0.5)
    sched.tick()
    assert s.fires()[0]["lease_until"] == renewed  # a finished run's fire is not renewed


def test_catch_up_policies(pipes, tmp_path):
    clock = Clock(tmp_path / "clock")
    skip = mlcore.schedule(pipes.quick, cron="*/5 * * * *", catchup="skip", name="skip",
                           start_after=T0, max_concurrency=0)
    once = mlcore.schedule(pipes.quick, cron="*/5 * * * *", catchup="once", name="once",
                           start_after=T0, max_concurrency=0)
    every = mlcore.schedule(pipes.quick, cron="*/5 * * * *", catchup="all", name="all",
                            start_after=T0, max_concurrency=0, max_catchup=3)
    sched = _schedule.make_scheduler(clock_file=str(clock.path), misfire_grace=60)
    clock.set(T0 + 32 * MIN)  # 00:05 .. 00:30 missed; 00:30 is 2 min late
    wait_done(sched.tick())
    assert fired_minutes(skip) == []
    assert fired_minutes(once) == [30]
    assert fired_minutes(every) == [20, 25, 30]  # the latest 3
    clock.set(T0 + 35 * MIN + 30)  # on time (30 s late, within the grace)
    wait_done(sched.tick())
    assert fired_minutes(skip) == [35]
    assert fired_minutes(once) == [30, 35]
    assert fired_minutes(every) == [20, 25, 30, 35]
    assert all(r.status == "succeeded" for r in every.runs())


def test_max_concurrency_waits_for_running_runs(pipes, tmp_path):
    clock = Clock(tmp_path / "clock")
    gate = tmp_path / "gate"
    s = mlcore.schedule(pipes.slow, cron="*/5 * * * *", arguments={"gate": str(gate)},
                        catchup="all", max_concurrency=1, start_after=T0)
    sched = _schedule.make_scheduler(clock_file=str(clock.path))
    clock.set(T0 + 5 * MIN)
    first = sched.tick()
    assert len(first) == 1
    clock.set(T0 + 10 * MIN)
    assert sched.tick() == []  # 00:05 is still running
    assert s.runs()[0].status == "running"
    gate.write_text("open")
    wait_done(first)
    second = sched.tick()
    assert [f["scheduled_time"] for f in second] == [T0 + 10 * MIN]
    wait_done(second)
    assert [r.status for r in s.runs()] == ["succeeded", "succeeded"]


def test_a_failing_launch_fails_only_that_fire(pipes, tmp_path):
    clock = Clock(tmp_path / "clock")
    s = mlcore.schedule(pipes.quick, cron="*/5 * * * *", start_after=T0, name="gone")
    ok = mlcore.schedule(pipes.quick, cron="*/5 * * * *", start_after=T0, name="fine")
    # The module disappears before the scheduler fires (renamed away).
    import mlcore._mlcore as m
    book = m.pipeline_schedule.Schedules(mlcore.pipelines.client())
    book.delete("gone")
    book.create("python", "vanished_module:quick", cron="*/5 * * * *", name="gone",
                start_after=T0)
    # No retries: the failure is recorded at once (retries: test_pipeline_schedule_retry.py).
    sched = _schedule.make_scheduler(clock_file=str(clock.path), start_retries=0)
    clock.set(T0 + 5 * MIN)
    fires = sched.tick()
    wait_done(fires)
    by_state = {f["state"] for f in fires}
    assert by_state == {"started", "failed"}
    (failed,) = mlcore.get_schedule("gone").fires()
    assert failed["state"] == "failed" and "vanished_module" in failed["error"]
    assert ok.runs()[0].status == "succeeded"
    del s


def test_cron_next_times_binding():
    nt = mlcore._mlcore.pipeline_schedule.cron_next_times
    # 2024-02-28 12:00 UTC -> the next two days at midnight: Feb 29 (leap year), Mar 1.
    after = datetime.datetime(2024, 2, 28, 12, tzinfo=datetime.timezone.utc).timestamp()
    got = [datetime.datetime.fromtimestamp(t, datetime.timezone.utc) for t in
           nt("@daily", "UTC", after, 2)]
    assert [(d.month, d.day) for d in got] == [(2, 29), (3, 1)]
    # Zurich midnight is 23:00 UTC in winter.
    got = nt("0 0 * * *", "Europe/Zurich", after, 1)
    assert datetime.datetime.fromtimestamp(got[0], datetime.timezone.utc).hour == 23
