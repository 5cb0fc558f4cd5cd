"""mlcore.pipelines.run/client(busy_timeout=...) against a real second SQLite connection holding
the store's write lock: a short timeout fails fast naming the store and the lock, the run starts
once the lock is gone, and the default timeout waits for a writer that finishes."""

import math
import threading
import time

import pytest

from mlcore import pipelines as mp
from store_lock import GENEROUS_S, default_db as _db
from store_lock import hold_write_lock as _lock, release as _release
from doubled_pipeline import doubled


def _succeeded(run):
    assert run.status == "succeeded", run.error
    assert list(run.outputs.values()) == [8]


def test_short_busy_timeout_fails_fast_then_runs_after_release():
    _succeeded(mp.run(doubled, wait=True))  # the store exists and is migrated
    conn = _lock()
    try:
        start = time.monotonic()
        with pytest.raises(TimeoutError) as info:
            mp.run(doubled, busy_timeout=0.2)
        assert time.monotonic() - start < GENEROUS_S
        assert _db() in str(info.value)
        assert "lock" in str(info.value)
    finally:
        _release(conn)
    run = mp.run(doubled, busy_timeout=0.2, wait=True)
    _succeeded(run)
    assert len(mp.runs(busy_timeout=0.2)) == 2  # the refused start recorded nothing


def test_default_busy_timeout_waits_for_the_other_writer():
    mp.client()  # creates and migrates the store before the lock is taken
    conn = _lock()
    releaser = threading.Timer(1.0, _release, args=(conn,))
    releaser.start()
    try:
        run = mp.run(doubled, wait=True)  # waits about 1 s, well inside the default 30 s
    finally:
        releaser.join()
    _succeeded(run)


def test_clients_are_kept_per_busy_timeout():
    default = mp.client()
    assert mp.client(busy_timeout=None) is default
    short = mp.client(busy_timeout=0.5)
    assert short is not default
    assert mp.client(busy_timeout=0.5) is short
    assert mp.client(busy_timeout=1) is not short


_fail = {"now": True}


@mp.component(caching=False)
def flaky(x: int) -> int:
    if _fail["now"]:
        raise RuntimeError("failing on purpose")
    return x * 2


@mp.pipeline
def flaky_doubled(x: int = 4):
    return flaky(x=x).output


def test_resume_keeps_the_busy_timeout():
    _fail["now"] = True
    run = mp.run(flaky_doubled, busy_timeout=0.3)
    run.wait(timeout=GENEROUS_S)
    assert run.status == "failed" and "failing on purpose" in run.error
    assert run._client is mp.client(busy_timeout=0.3)
    _fail["now"] = False
    resumed = run.resume(wait=True)
    assert resumed.id == run.id
    assert resumed._client is run._client
    _succeeded(resumed)


@pytest.mark.parametrize("bad", [-1, -0.01, math.nan])
def test_bad_busy_timeout_is_a_value_error_naming_the_option(bad):
    with pytest.raises(ValueError, match="busy_timeout"):
        mp.run(doubled, busy_timeout=bad)
    with pytest.raises(ValueError, match="busy_timeout"):
        mp.client(busy_timeout=bad)
    with pytest.raises(ValueError, match="busy_timeout"):
        mp.runs(busy_timeout=bad)
    with pytest.raises(ValueError, match="busy_timeout"):
        mp.get_run("no-such-run", busy_timeout=bad)


def test_busy_timeout_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="busy_timeout"):
        mp.client(busy_timeout="2s")
