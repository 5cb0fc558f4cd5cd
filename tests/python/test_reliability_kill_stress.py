"""kill -9 of the driver of a study and of a pipeline run at random moments, 50 times each, with
a resume after each kill (issue 12, "so that they stay gone"). Each resumed driver prints what
it found once it opened the store (that open is the recovery); the test checks it against what
the earlier drivers had recorded: no record lost, none duplicated, none stuck running, and the
final results equal an uninterrupted run's. About a minute each on a loaded 2-core machine."""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

KILLS = 50

STUDY_DRIVER = textwrap.dedent("""
    import json, sys, time
    from mlcore import hpo

    db, n = sys.argv[1], int(sys.argv[2])
    study = hpo.create_study(name="stress", storage=db, load_if_exists=True,
                             requeue_stale_trials=True,
                             sampler=hpo.samplers.GridSampler({"x": hpo.IntDistribution(0, n - 1)}))
    print(json.dumps([[t.number, str(t.state), t.params.get("x"), t.value]
                      for t in study.trials]), flush=True)

    def objective(trial):
        x = trial.suggest_int("x", 0, n - 1)
        time.sleep(0.02)
        return x * x + 0.5

    study.optimize(objective)
    print("done", flush=True)
""")

PIPELINE_DRIVER = textwrap.dedent("""
    import json, sys, time
    from mlcore import pipelines as mp

    @mp.component(caching=False)
    def step(x: int, i: int) -> int:
        time.sleep(0.03)
        return (x * 7 + i) % 1000003

    @mp.pipeline
    def chain() -> int:
        v = step(x=1, i=0).output
        for i in range(1, 24):
            v = step(x=v, i=i).output
        return v

    if len(sys.argv) > 1:
        old = mp.get_run(sys.argv[1])  # this open marks a killed driver's run interrupted
        print(json.dumps({"status": old.status, "tasks": [[t.name, t.state] for t in old.tasks],
                          "outputs": {t.name: t.outputs for t in old.tasks
                                      if t.state == "succeeded"}}), flush=True)
        run = old.resume(chain) if old.status != "succeeded" else old
    else:
        run = mp.run(chain)
        print(json.dumps({"id": run.id}), flush=True)
    run = run.wait()
    print(json.dumps({"done": run.status, "outputs": run.outputs,
                      "tasks": {t.name: t.outputs for t in run.tasks}}), flush=True)
""")


def _start(args):
    return subprocess.Popen([sys.executable, *args], env=dict(os.environ), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _kill_after(p, rng, longest):
    """Reads the driver's first line (its view after opening the store), lets it run a random
    while, then kills it. Returns the line, or None when the driver ended first."""
    line = p.stdout.readline()
    assert line, p.stderr.read()[-3000:]
    time.sleep(rng.uniform(0, longest))
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=60)
    p.stdout.close()
    p.stderr.close()
    return json.loads(line)


def _check_study(snapshot, known, n):
    """`snapshot`: [number, state, x, value] of every trial as a resumed driver found it."""
    numbers = [row[0] for row in snapshot]
    assert numbers == list(range(len(numbers))), "trial numbers lost or duplicated"
    for number, state, x, value in snapshot:
        assert state != "running", f"trial {number} stuck running after the resume"
        if number in known:  # a finished trial never changes
            assert (state, x, value) == known[number], (number, state, x, value, known[number])
        if state == "complete":
            known[number] = (state, x, value)
    xs = [row[2] for row in snapshot if row[1] == "complete"]
    assert len(xs) == len(set(xs)), "a grid point completed twice"
    assert all(v == x * x + 0.5 for _, s, x, v in snapshot if s == "complete")


def test_a_killed_study_driver_resumes_without_losing_duplicating_or_sticking(tmp_path):
    rng = random.Random(12)
    n = 600  # more trials than 50 short lives of the driver finish
    driver = tmp_path / "study_driver.py"
    driver.write_text(STUDY_DRIVER)
    db = str(tmp_path / "stress.db")
    known = {}
    for _ in range(KILLS):
        _check_study(_kill_after(_start([str(driver), db, str(n)]), rng, 0.4), known, n)
    final = _start([str(driver), db, str(n)])
    out, err = final.communicate(timeout=300)
    assert final.returncode == 0 and out.splitlines()[-1] == "done", err[-3000:]
    _check_study(json.loads(out.splitlines()[0]), known, n)

    from mlcore import hpo

    trials = hpo.load_study("stress", storage=db, recover_stale_trials=False).trials
    complete = {t.params["x"]: t.value for t in trials if t.state == "complete"}
    assert complete == {x: x * x + 0.5 for x in range(n)}  # what an uninterrupted run gives
    assert all(t.state in ("complete", "failed") for t in trials)


def test_a_killed_pipeline_driver_resumes_without_losing_duplicating_or_sticking(tmp_path):
    rng = random.Random(13)
    driver = tmp_path / "pipeline_driver.py"
    driver.write_text(PIPELINE_DRIVER)
    baseline = subprocess.run([sys.executable, str(driver)], env=dict(os.environ),
                              capture_output=True, text=True, timeout=300)
    assert baseline.returncode == 0, baseline.stderr[-3000:]
    expected = json.loads(baseline.stdout.splitlines()[-1])
    assert expected["done"] == "succeeded"

    succeeded, kills, run_id = {}, 0, None
    while kills < KILLS:
        if run_id is None:  # a new run; after a run succeeded the kills go on with another
            run_id = _kill_after(_start([str(driver)]), rng, 0.5)["id"]
            succeeded, kills = {}, kills + 1
            continue
        seen = _kill_after(_start([str(driver), run_id]), rng, 0.5)
        kills += 1
        names = [name for name, _ in seen["tasks"]]
        assert len(names) == len(set(names)), "a task recorded twice"
        for name, state in seen["tasks"]:
            assert state != "running", f"task {name} stuck running after the resume"
        for name, outputs in succeeded.items():  # a succeeded task keeps its outputs
            assert seen["outputs"].get(name) == outputs, name
        succeeded.update(seen["outputs"])
        for name, outputs in succeeded.items():
            assert outputs == expected["tasks"][name], name
        if seen["status"] == "succeeded":
            run_id = None
    if run_id is None:
        return
    final = subprocess.run([sys.executable, str(driver), run_id], env=dict(os.environ),
                           capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr[-3000:]
    done = json.loads(final.stdout.splitlines()[-1])
    assert done["done"] == "succeeded"
    assert done["outputs"] == expected["outputs"] and done["tasks"] == expected["tasks"]
