"""A run whose final record the store refuses (another connection holds the write lock past the
busy timeout just as the run ends): run.wait() raises an error naming the run and what failed
instead of waiting for ever, and the record is written later, by this process or, from the
outcome file the run left, by the next process that opens the store."""

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

from mlcore import pipelines as mp
from mlcore._mlcore import pipeline as _cpp
from mlcore.pipelines import _run

# A module (written to a file, so that this process and a child import the same code): its last
# task takes the store's write lock, kept in `held`, as another process starting to write would.
LOCKING = textwrap.dedent("""
    import os
    import sqlite3

    from mlcore import pipelines as mp
    from mlcore._mlcore import pipeline as _cpp
    from mlcore.pipelines import _run

    held = []

    def short_busy_client():
        # Runs of this process in this store wait at most 0.1 s for a lock held elsewhere.
        home = os.environ["MLCORE_HOME"]
        client = _cpp.Client(home, "default", busy_timeout=0.1)
        _run._clients[(home, "default")] = client
        return client

    @mp.component
    def lock_store(x: int) -> int:
        conn = sqlite3.connect(os.path.join(os.environ["MLCORE_HOME"], "mlcore.db"),
                               isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN IMMEDIATE")
        held.append(conn)
        return x * 2

    @mp.pipeline
    def locked(x: int = 7):
        return lock_store(x=x).output
""")


@pytest.fixture
def locking(tmp_path):
    path = tmp_path / "locking_pipe.py"
    path.write_text(LOCKING)
    spec = importlib.util.spec_from_file_location("locking_pipe", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    for conn in module.held:
        conn.close()


def test_wait_raises_naming_the_run_then_this_process_writes_the_record(locking):
    client = locking.short_busy_client()
    run = mp.run(locking.locked, enable_caching=False)
    with pytest.raises(RuntimeError) as raised:
        run.wait()
    message = str(raised.value)
    assert f"run '{run.id}' ended succeeded" in message
    assert "refused its final record" in message and "locked" in message
    assert run.status == "running"  # reads still work under the lock
    with pytest.raises(TimeoutError, match=run.id):
        client.recover_interrupted()  # still refused (the lock): said, not hidden, no crash
    conn = locking.held.pop()
    conn.rollback()
    conn.close()
    assert client.recover_interrupted() == 0
    assert run.status == "succeeded"
    assert "recorded late" in run.record["error"]
    assert 14 in run.record["outputs"].values()
    assert [t.state for t in run.tasks] == ["succeeded"]


def test_busy_timeout_must_not_be_negative():
    with pytest.raises(ValueError, match="busy timeout"):
        _cpp.Client(os.environ["MLCORE_HOME"], "default", busy_timeout=-1.0)


CHILD = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, sys.argv[1])
    import locking_pipe
    from mlcore import pipelines as mp

    locking_pipe.short_busy_client()
    run = mp.run(locking_pipe.locked, enable_caching=False)
    print(run.id, flush=True)
    try:
        run.wait()
    except RuntimeError as e:
        print("wait raised:", e, flush=True)
        os._exit(3)  # ends before this process can write the record
    os._exit(0)
""")


def test_the_next_process_records_the_outcome_the_run_left(tmp_path, locking):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.run([sys.executable, str(script), str(tmp_path)], env=os.environ.copy(),
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 3, child.stdout + child.stderr
    run_id = child.stdout.splitlines()[0].strip()
    assert "refused its final record" in child.stdout
    shown = subprocess.run([sys.executable, "-m", "mlcore.pipelines", "runs", "show", run_id],
                           env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert f"run {run_id}: succeeded" in shown.stdout
    assert "error: " in shown.stdout and "recorded late from" in shown.stdout
    record = mp.get_run(run_id).record
    assert "recorded late from" in record["error"] and "outcome.json" in record["error"]
