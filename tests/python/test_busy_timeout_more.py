"""busy_timeout for the remaining store users: mlcore.hpo.list_studies, the `mlcore hpo` and
`mlcore run/runs/schedules` commands (--busy-timeout) and mlcore.schedule/schedules, each
against a real second SQLite connection holding BEGIN IMMEDIATE on the store: a short timeout
fails fast naming the lock, and the call works once the lock is gone."""

import os
import pathlib
import subprocess
import textwrap
import sys
import time

import pytest

import mlcore
import mlcore.hpo as hpo
from mlcore import pipelines as mp
import doubled_pipeline
from store_lock import GENEROUS_S, default_db as _db
from store_lock import hold_write_lock as _lock, release as _release

# Bounds a hang; it times nothing (speed belongs in benchmarks).
GENEROUS_S = 20.0

# The pipeline file the command line and mlcore.schedule import: doubled_pipeline's source.
PIPELINE = pathlib.Path(doubled_pipeline.__file__).read_text()


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "mlcore.pipelines", *args], cwd=cwd,
                          env=os.environ.copy(), capture_output=True, text=True, timeout=120)


# --- mlcore.hpo.list_studies ---------------------------------------------------------------


def test_list_studies_short_timeout_fails_fast_on_a_locked_new_store(tmp_path):
    path = tmp_path / "new.db"
    conn = _lock(path)  # the store's schema cannot be created while this is held
    try:
        start = time.monotonic()
        with pytest.raises(TimeoutError) as info:
            hpo.list_studies(str(path), busy_timeout=0.2)
        assert time.monotonic() - start < GENEROUS_S
        assert str(path) in str(info.value) and "lock" in str(info.value)
    finally:
        _release(conn)
    assert hpo.list_studies(str(path), busy_timeout=0.2) == []


def test_list_studies_reads_a_migrated_store_while_another_connection_writes(tmp_path):
    path = tmp_path / "hpo.db"
    hpo.create_study("seen", storage=str(path))
    conn = _lock(path)
    try:  # WAL readers do not wait for the writer
        assert [s["name"] for s in hpo.list_studies(str(path), busy_timeout=0)] == ["seen"]
    finally:
        _release(conn)


@pytest.mark.parametrize("bad,error", [(-1, ValueError), (float("nan"), ValueError),
                                       ("5", TypeError), (True, TypeError)])
def test_list_studies_refuses_a_bad_busy_timeout(tmp_path, bad, error):
    with pytest.raises(error, match="busy_timeout"):
        hpo.list_studies(str(tmp_path / "x.db"), busy_timeout=bad)


# --- `mlcore hpo` ----------------------------------------------------------------------------


def test_hpo_cli_busy_timeout_fails_fast_naming_the_lock(tmp_path):
    pytest.importorskip("yaml")
    spec = tmp_path / "s.yaml"
    spec.write_text(textwrap.dedent(f"""
        name: locked
        direction: minimize
        sampler: random
        command: "{sys.executable} -c 'print(\\"loss={{x}}\\")'"
        metric: loss
        space:
          x: {{type: double, min: 0, max: 1}}
        n_trials: 1
    """))
    store = tmp_path / "hpo.db"
    conn = _lock(store)
    try:
        for args in (["run", str(spec)], ["list"], ["show", "locked"]):
            start = time.monotonic()
            out = _cli("hpo", *args, "--storage", str(store), "--busy-timeout", "0.2",
                       cwd=tmp_path)
            assert time.monotonic() - start < GENEROUS_S
            assert out.returncode == 1, (args, out.stdout, out.stderr)
            assert "lock" in out.stderr and str(store) in out.stderr
            assert "Traceback" not in out.stderr
    finally:
        _release(conn)
    out = _cli("hpo", "run", str(spec), "--storage", str(store), "--busy-timeout", "5",
               cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    out = _cli("hpo", "list", "--storage", str(store), "--busy-timeout", "0.2", cwd=tmp_path)
    assert out.returncode == 0 and "locked" in out.stdout


def test_hpo_cli_refuses_a_bad_busy_timeout(tmp_path):
    out = _cli("hpo", "list", "--busy-timeout", "-1", cwd=tmp_path)
    assert out.returncode == 2
    assert "--busy-timeout" in out.stderr and "'-1'" in out.stderr


# --- `mlcore run` / `mlcore runs` --------------------------------------------------------------


def test_run_and_runs_cli_busy_timeout_fails_fast_naming_the_lock(tmp_path):
    (tmp_path / "demo.py").write_text(PIPELINE)
    first = _cli("run", "demo.py:doubled", cwd=tmp_path)  # creates and migrates the store
    assert first.returncode == 0, first.stderr
    run_id = first.stdout.split()[1].rstrip(":")
    conn = _lock(_db())
    try:
        for args in (["run", "demo.py:doubled"], ["runs", "list"], ["runs", "show", run_id]):
            start = time.monotonic()
            out = _cli(*args, "--busy-timeout", "0.2", cwd=tmp_path)
            assert time.monotonic() - start < GENEROUS_S
            assert out.returncode == 1, (args, out.stdout, out.stderr)
            assert "lock" in out.stderr and _db() in out.stderr
            assert "Traceback" not in out.stderr
    finally:
        _release(conn)
    out = _cli("run", "demo.py:doubled", "--busy-timeout", "0.2", cwd=tmp_path)
    assert out.returncode == 0 and "output = 8" in out.stdout, out.stderr
    out = _cli("runs", "list", "--busy-timeout", "0.2", cwd=tmp_path)
    # A header line, then the two runs.
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 3, out.stdout


def test_run_cli_refuses_a_bad_busy_timeout(tmp_path):
    (tmp_path / "demo.py").write_text(PIPELINE)
    out = _cli("run", "demo.py:doubled", "--busy-timeout", "nan", cwd=tmp_path)
    assert out.returncode == 2 and "--busy-timeout" in out.stderr


# --- mlcore.schedule / schedules -------------------------------------------------------------


@pytest.fixture
def demo(fresh_module):
    return fresh_module("bt_demo", PIPELINE)


def test_schedule_and_schedules_short_timeout_fail_fast_naming_the_lock(demo):
    mp.client()  # creates and migrates the store before the lock is taken
    conn = _lock(_db())
    try:
        for call in (lambda: mlcore.schedule(demo.doubled, "@daily", busy_timeout=0.2),
                     lambda: mlcore.schedules(busy_timeout=0.2)):
            start = time.monotonic()
            with pytest.raises(TimeoutError) as info:
                call()
            assert time.monotonic() - start < GENEROUS_S
            assert _db() in str(info.value) and "lock" in str(info.value)
    finally:
        _release(conn)
    s = mlcore.schedule(demo.doubled, "@daily", name="nightly", busy_timeout=0.2)
    assert [x.id for x in mlcore.schedules(busy_timeout=0.2)] == [s.id]
    assert mlcore.get_schedule("nightly", busy_timeout=0.2).id == s.id


def test_schedules_cli_busy_timeout_fails_fast(tmp_path):
    mp.client()
    conn = _lock(_db())
    try:
        out = _cli("schedules", "list", "--busy-timeout", "0.2", cwd=tmp_path)
        assert out.returncode == 1 and "lock" in out.stderr, (out.stdout, out.stderr)
    finally:
        _release(conn)
    out = _cli("schedules", "list", "--busy-timeout", "0.2", cwd=tmp_path)
    assert out.returncode == 0, out.stderr


def test_schedules_refuse_a_bad_busy_timeout(demo):
    with pytest.raises(ValueError, match="busy_timeout"):
        mlcore.schedules(busy_timeout=-0.5)
    with pytest.raises(TypeError, match="busy_timeout"):
        mlcore.schedule(demo.doubled, "@daily", busy_timeout="1")


# --- mlcore.hpo.pipeline_objective -------------------------------------------------------------


@mp.component(caching=False)
def square(x: float) -> float:
    return x * x


@mp.pipeline
def squared(x: float = 1.0):
    return square(x=x).output


def test_pipeline_objective_runs_take_the_busy_timeout():
    objective = hpo.pipeline_objective(squared, "output", {"x": hpo.FloatDistribution(-1, 1)},
                                       busy_timeout=0.2)
    study = hpo.create_study(storage="memory", sampler="random", seed=0)
    mp.client()
    conn = _lock(_db())
    try:
        start = time.monotonic()
        with pytest.raises(TimeoutError) as info:
            study.optimize(objective, n_trials=1)
        assert time.monotonic() - start < GENEROUS_S
        assert _db() in str(info.value) and "lock" in str(info.value)
    finally:
        _release(conn)
    study.optimize(objective, n_trials=1)
    assert [t.state for t in study.trials if t.state == "complete"] == ["complete"]
    with pytest.raises(ValueError, match="busy_timeout"):
        hpo.pipeline_objective(squared, "output", busy_timeout=-1)
