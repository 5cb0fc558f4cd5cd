"""create_study/load_study(busy_timeout=...) against a real second SQLite connection holding the
study file's write lock: a short timeout fails fast naming the store and the lock, the call
succeeds once the lock is gone, and the default timeout waits for a writer that finishes."""

import math
import threading
import time

import pytest

import mlcore.hpo as hpo
from store_lock import GENEROUS_S, hold_write_lock as _lock, release as _release

def test_short_busy_timeout_fails_fast_then_succeeds_after_release(tmp_path):
    path = tmp_path / "hpo.db"
    study = hpo.create_study("busy", storage=str(path), sampler="random", seed=1,
                             busy_timeout=0.2)
    trial = study.ask()
    conn = _lock(path)
    try:
        start = time.monotonic()
        with pytest.raises(TimeoutError) as info:
            study.tell(trial, 1.5)
        assert time.monotonic() - start < GENEROUS_S
        assert str(path) in str(info.value)
        assert "lock" in str(info.value)
    finally:
        _release(conn)
    study.tell(trial, 1.5)
    trials = hpo.load_study("busy", storage=str(path)).trials
    assert [(t.state, t.value) for t in trials] == [("complete", 1.5)]


def test_load_study_takes_the_busy_timeout_too(tmp_path):
    path = tmp_path / "hpo.db"
    hpo.create_study("loaded", storage=str(path))
    study = hpo.load_study("loaded", storage=str(path), sampler="random", busy_timeout=0.2)
    conn = _lock(path)
    try:
        start = time.monotonic()
        with pytest.raises(TimeoutError, match="lock"):
            study.ask()  # a trial's start is a write
        assert time.monotonic() - start < GENEROUS_S
    finally:
        _release(conn)
    trial = study.ask()
    study.tell(trial, 3.0)
    assert study.best_value == 3.0


def test_default_busy_timeout_waits_for_the_other_writer(tmp_path):
    path = tmp_path / "hpo.db"
    study = hpo.create_study("patient", storage=str(path), sampler="random", seed=2)
    trial = study.ask()
    conn = _lock(path)
    releaser = threading.Timer(1.0, _release, args=(conn,))
    releaser.start()
    try:
        study.tell(trial, 2.5)  # waits about 1 s for the lock, well inside the default 30 s
    finally:
        releaser.join()
    assert [t.state for t in study.trials] == ["complete"]
    assert study.best_value == 2.5


def test_busy_timeout_zero_never_waits_and_none_is_the_default(tmp_path):
    path = tmp_path / "hpo.db"
    study = hpo.create_study("zero", storage=str(path), busy_timeout=0)
    default = hpo.load_study("zero", storage=str(path), busy_timeout=None)
    conn = _lock(path)
    try:
        with pytest.raises(TimeoutError):
            study.ask()
    finally:
        _release(conn)
    assert study.ask().number == 0
    assert default.ask().number == 1


@pytest.mark.parametrize("bad", [-1, -0.5, math.nan])
def test_bad_busy_timeout_is_a_value_error_naming_the_option(tmp_path, bad):
    path = str(tmp_path / "hpo.db")
    with pytest.raises(ValueError, match="busy_timeout"):
        hpo.create_study("bad", storage=path, busy_timeout=bad)
    with pytest.raises(ValueError, match="busy_timeout"):
        hpo.create_study(storage="memory", busy_timeout=bad)
    hpo.create_study("bad", storage=path)
    with pytest.raises(ValueError, match="busy_timeout"):
        hpo.load_study("bad", storage=path, busy_timeout=bad)


def test_busy_timeout_of_the_wrong_type_is_a_type_error(tmp_path):
    with pytest.raises(TypeError, match="busy_timeout"):
        hpo.create_study("typed", storage=str(tmp_path / "hpo.db"), busy_timeout="1s")


def test_a_negative_timeout_reaching_cpp_names_the_option():
    # The Python check comes first; the C++ check behind it answers alike (InvalidArgument).
    from mlcore._mlcore import hpo as core
    with pytest.raises(ValueError, match="busy_timeout"):
        core.Study.create("", "minimize", core.create_sampler("random"), None, "memory", False,
                          False, [], [], -1.0)
