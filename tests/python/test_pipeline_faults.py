"""Pipelines under faults: a task that raises, exits non-zero, segfaults, overruns its timeout;
kill -9 of the process running a pipeline, then resume; two processes on one store; a corrupted
artifact. Nothing recorded is lost and every error names the task."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from mlcore import pipelines as mp
from test_pipeline_oneof import make, read  # a Dataset writer and its reader


@mp.component(mode="subprocess")
def raises(x: int) -> int:
    raise ValueError(f"bad input {x}")


@mp.component(mode="subprocess")
def segfaults() -> int:
    import ctypes
    ctypes.string_at(0)
    return 0


@mp.component(mode="subprocess")
def exits(code: int):
    import sys
    sys.exit(code)


@mp.component(mode="subprocess", timeout=0.5)
def sleeps(seconds: float):
    import time
    time.sleep(seconds)


@mp.component
def ok() -> int:
    return 1


@mp.component
def downstream(x: int) -> int:
    return x


def failed_run(pipeline, max_parallelism, wait_s, within_s):
    """Runs pipeline (waiting at most wait_s): it must end failed, and within within_s."""
    start = time.monotonic()
    run = mp.run(pipeline, max_parallelism=max_parallelism).wait(timeout=wait_s)
    assert time.monotonic() - start < within_s
    assert run.status == "failed"
    return run


def test_raise_segfault_exit_and_timeout_fail_only_their_branch():
    @mp.pipeline
    def faulty():
        downstream(x=raises(x=7).output)
        downstream(x=segfaults().output)
        exits(code=3)
        sleeps(seconds=30)
        ok()

    run = failed_run(faulty, max_parallelism=4, wait_s=60, within_s=30)
    t = {task.name: task for task in run.tasks}
    assert "ValueError: bad input 7" in t["raises"].error
    assert "task 'raises'" in t["raises"].error
    assert "Traceback" in t["raises"].logs("stderr")
    assert "killed by signal 11" in t["segfaults"].error
    assert "exited with status 3" in t["exits"].error
    assert "timed out after 500ms" in t["sleeps"].error
    assert t["downstream"].state == "skipped" and t["downstream-2"].state == "skipped"
    assert t["ok"].state == "succeeded"


@mp.component
def raises_in_process(x: int) -> int:
    raise KeyError(f"missing {x}")


def test_in_process_exception_names_task_and_keeps_traceback():
    @mp.pipeline
    def p():
        raises_in_process(x=1)

    run = mp.run(p).wait()
    assert run.status == "failed"
    assert "task 'raises-in-process'" in run.error and "missing 1" in run.error
    assert "Traceback" in run.tasks[0].logs("stderr")


@mp.component(mode="subprocess", retries=2, backoff=0.01)
def flaky(counter: str) -> int:
    import os
    n = int(open(counter).read()) if os.path.exists(counter) else 0
    open(counter, "w").write(str(n + 1))
    if n < 2:
        raise RuntimeError(f"attempt {n + 1} fails")
    return n


def test_retries_with_backoff(tmp_path):
    @mp.pipeline
    def p(counter: str):
        flaky(counter=counter)

    run = mp.run(p, arguments={"counter": str(tmp_path / "n")}).wait()
    assert run.status == "succeeded", run.error
    assert run.tasks[0].attempts == 3
    assert run.tasks[0].outputs["output"] == 2


@mp.component(mode="subprocess")
def needs_file(path: str) -> str:
    with open(path) as f:
        return f.read()


def test_run_resume_after_failure_keeps_finished_tasks(tmp_path):
    @mp.pipeline
    def p(path: str):
        first = ok()
        needs_file(path=path).after(first)

    target = tmp_path / "input.txt"
    run = mp.run(p, arguments={"path": str(target)}).wait()
    assert run.status == "failed"
    assert "No such file" in run.task("needs-file").error
    target.write_text("here now")
    resumed = run.resume().wait()
    assert resumed.id == run.id and resumed.status == "succeeded", resumed.error
    assert resumed.task("needs-file").outputs["output"] == "here now"
    assert resumed.task("ok").state == "succeeded"
    assert mp.get_run(run.id).status == "succeeded"
    with pytest.raises(ValueError, match="nothing to resume"):
        run.resume()


def test_unwaited_run_finishes_before_the_interpreter_exits(tmp_path):
    script = tmp_path / "nowait.py"
    script.write_text(textwrap.dedent('''
        from mlcore import pipelines as mp

        @mp.component
        def slow_add(a: int) -> int:
            import time
            time.sleep(0.5)
            return a + 1

        @mp.pipeline
        def p():
            slow_add(a=slow_add(a=1).output)

        print(mp.run(p).id)
    '''))
    out = subprocess.run([sys.executable, str(script)], env=os.environ.copy(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert mp.get_run(out.stdout.strip()).status == "succeeded"


KILLED_SCRIPT = textwrap.dedent("""
    import sys
    from mlcore import pipelines as mp

    @mp.component
    def quick() -> int:
        return 41

    @mp.component(mode="subprocess")
    def slow(x: int, marker: str) -> int:
        import os, time
        if not os.path.exists(marker + ".resume"):
            open(marker + ".pid", "w").write(str(os.getpid()))
            open(marker, "w").write("started")
            time.sleep(120)
        return x + 1

    @mp.pipeline
    def killable(marker: str):
        return slow(x=quick().output, marker=marker).output

    if __name__ == "__main__":
        mp.run(killable, arguments={"marker": sys.argv[1]}).wait()
""")


def _dies_within(pid, seconds):
    """Whether process `pid` is gone (or a zombie awaiting its reaper) within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_kill_dash_nine_then_interrupted_then_resume(tmp_path):
    script = tmp_path / "killable.py"
    script.write_text(KILLED_SCRIPT)
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, str(script), str(marker)], env=os.environ.copy())
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The task's process dies with the process that ran the pipeline (PR_SET_PDEATHSIG): no
    # orphan keeps running (issue 12).
    task_pid = int(marker.with_suffix(".pid").read_text())
    assert _dies_within(task_pid, 10), f"task process {task_pid} outlived its driver"

    runs = mp.runs()
    assert [r.status for r in runs] == ["interrupted"]
    interrupted = runs[0]
    assert "ended before it finished" in interrupted.error
    states = {t.name: t.state for t in interrupted.tasks}
    assert states == {"quick": "succeeded", "slow": "interrupted"}

    # Resume in this process with the same pipeline (loaded from the script).
    marker.with_suffix(".resume").write_text("")
    sys.path.insert(0, str(tmp_path))
    try:
        import importlib
        module = importlib.import_module("killable")
    finally:
        sys.path.pop(0)
    resumed = mp.run(module.killable, resume=interrupted.id).wait(timeout=60)
    assert resumed.id == interrupted.id
    assert resumed.status == "succeeded", resumed.error
    assert resumed.outputs == {"output": 42}
    assert resumed.task("quick").attempts == 1  # not run again


TWO_PROCESS_SCRIPT = textwrap.dedent("""
    import sys
    from mlcore import pipelines as mp

    @mp.component(mode="subprocess")
    def square(x: int, i: int) -> int:
        return (x + i) * (x + i)

    @mp.pipeline
    def squares(base: int):
        for i in mp.ParallelFor(range(4)):
            square(x=base, i=i)

    if __name__ == "__main__":
        base = int(sys.argv[1])
        for k in range(3):
            run = mp.run(squares, arguments={"base": base + 10 * k}, max_parallelism=2).wait()
            assert run.status == "succeeded", run.error
""")


def test_two_processes_on_one_store(tmp_path):
    script = tmp_path / "two.py"
    script.write_text(TWO_PROCESS_SCRIPT)
    procs = [subprocess.Popen([sys.executable, str(script), str(b)], env=os.environ.copy())
             for b in (0, 1000)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    runs = mp.runs()
    assert len(runs) == 6
    assert all(r.status == "succeeded" for r in runs)
    assert sum(len(r.tasks) for r in runs) == 24


def test_corrupted_artifact_is_detected_on_read():
    @mp.pipeline
    def p():
        read(d=make(text="precious").outputs["out"])

    run = mp.run(p).wait()
    assert run.status == "succeeded"
    art = run.task("make").outputs["out"]
    os.chmod(art.path, 0o644)
    with open(art.path, "w") as f:
        f.write("tampered")
    again = mp.run(p).wait()
    assert again.status == "failed"
    assert "task 'read': input artifact 'd'" in again.error
    assert "sha256" in again.error
    # What was recorded before is intact.
    assert mp.get_run(run.id).status == "succeeded"
