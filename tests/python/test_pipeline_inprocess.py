"""In-process Python callables: each task's prints go to its own log even with several tasks
printing at once on the executor's threads, and a timeout stops a task that overruns it."""

import sys
import threading
import time

from mlcore import pipelines as mp
from test_pipeline_faults import failed_run

_barrier = threading.Barrier(4, timeout=10)


@mp.component(caching=False)
def chatty(tag: str) -> str:
    _barrier.wait()  # four tasks printing at the same time, on four threads
    for i in range(50):
        print(f"{tag} line {i}")
        print(f"{tag} warning {i}", file=sys.stderr)
    return tag


@mp.pipeline
def chorus():
    for tag in mp.ParallelFor(["a", "b", "c", "d"]):
        chatty(tag=tag)


def test_concurrent_tasks_print_into_their_own_logs(capsys):
    _barrier.reset()
    run = mp.run(chorus, max_parallelism=4).wait(timeout=60)
    assert run.status == "succeeded", run.error
    tasks = {t.outputs["output"]: t for t in run.tasks}
    assert sorted(tasks) == ["a", "b", "c", "d"]
    for tag, task in tasks.items():
        out = task.logs().splitlines()
        err = task.logs("stderr").splitlines()
        assert out == [f"{tag} line {i}" for i in range(50)], out[:3]
        assert err == [f"{tag} warning {i}" for i in range(50)], err[:3]
    # Nothing leaked to the process's own streams, and they work as before afterwards.
    captured = capsys.readouterr()
    assert "line" not in captured.out and "warning" not in captured.err
    print("after the run")
    assert capsys.readouterr().out == "after the run\n"


@mp.component(caching=False)
def quiet() -> int:
    return 1


def test_a_task_that_prints_nothing_has_no_log_files():
    @mp.pipeline
    def silent():
        quiet()

    run = mp.run(silent).wait()
    assert run.status == "succeeded", run.error
    assert run.task("quiet").logs() == "" and run.task("quiet").logs("stderr") == ""


@mp.component(timeout=0.3, caching=False)
def spins(n: int) -> int:
    total = 0
    while True:  # Python bytecode: the async TimeoutError lands here
        total += n


@mp.component(caching=False)
def fine() -> int:
    return 7


def test_in_process_timeout_fails_the_task_by_name_and_stops_it():
    @mp.pipeline
    def overrun():
        spins(n=1)
        fine()

    run = failed_run(overrun, max_parallelism=2, wait_s=30, within_s=10)
    assert "task 'spins'" in run.error and "timeout" in run.error
    states = {t.name: t.status for t in run.tasks}
    assert states == {"spins": "failed", "fine": "succeeded"}
    # The interrupted thread got TimeoutError and ended; nothing of it is left running.
    def spinning():
        return any(f.f_code.co_name == "spins" for f in sys._current_frames().values())

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and spinning():
        time.sleep(0.05)
    assert not spinning()
