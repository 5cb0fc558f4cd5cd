import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import mlcore
import mlcore.hpo as hpo


def quadratic(trial):
    x = trial.suggest_float("x", -5, 5)
    n = trial.suggest_int("n", 0, 8, step=2)
    opt = trial.suggest_categorical("opt", ["sgd", "adam", True, 3])
    return (x - 1) ** 2 + (n - 4) ** 2 + (0 if opt == "adam" else 1)


def test_lazy_subpackage_and_names():
    assert mlcore.hpo is hpo
    assert {"random", "grid", "tpe"} <= set(hpo._core.sampler_names())
    assert {"median", "successive_halving", "hyperband"} <= set(hpo._core.pruner_names())


def test_optimize_python_objective_finds_minimum():
    study = hpo.create_study(sampler="tpe", seed=3)
    study.optimize(quadratic, n_trials=80)
    assert len(study.trials) == 80
    assert [t.number for t in study.trials] == list(range(80))
    best = study.best_trial
    assert best.state == "complete"
    assert best.value < 1.5
    assert abs(best.params["x"] - 1) < 0.5
    assert set(best.params) == {"x", "n", "opt"}
    assert best.params["n"] % 2 == 0


def test_seeded_studies_are_reproducible():
    def params(seed):
        study = hpo.create_study(sampler=hpo.TPESampler(seed=seed, multivariate=True))
        study.optimize(quadratic, n_trials=25)
        return [t.params for t in study.trials]

    assert params(1) == params(1)
    assert params(1) != params(2)


def test_caught_failures_are_recorded_and_the_study_goes_on():
    calls = []

    def objective(trial):
        k = len(calls)
        calls.append(k)
        trial.suggest_float("x", 0, 1)
        if k == 0:
            raise ValueError("bad batch size")
        if k == 1:
            return float("nan")
        if k == 2:
            return float("inf")
        if k == 3:
            return None
        if k == 4:
            return "text"
        return 1.0

    study = hpo.create_study(sampler="random", seed=0)
    study.optimize(objective, n_trials=6, catch=(ValueError,))
    states = [t.state for t in study.trials]
    assert states == ["failed"] * 5 + ["complete"]
    errors = [t.error for t in study.trials]
    assert "ValueError: bad batch size" in errors[0]
    assert "nan" in errors[1] and "inf" in errors[2]
    assert "None" in errors[3] and "str" in errors[4]


def test_parallel_threads_release_the_gil():
    active = []
    peak = []
    lock = threading.Lock()

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        with lock:
            active.append(1)
            peak.append(len(active))
        time.sleep(0.02)  # releases the GIL, as a subprocess or GPU wait would
        with lock:
            active.pop()
        return x

    study = hpo.create_study(sampler=hpo.TPESampler(seed=0, constant_liar=True))
    study.optimize(objective, n_trials=40, n_parallel=4)
    assert len(study.trials) == 40
    assert len({t.number for t in study.trials}) == 40
    assert max(peak) > 1


def test_pruning_with_trial_pruned():
    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        for step in range(1, 28):
            trial.report(x + 1.0 / step, step)
            if trial.should_prune():
                raise hpo.TrialPruned()
        return x

    study = hpo.create_study(sampler="random", seed=1, pruner=hpo.SuccessiveHalvingPruner())
    study.optimize(objective, n_trials=40)
    pruned = [t for t in study.trials if t.state == "pruned"]
    assert len(pruned) > 10
    assert all(t.value is not None and t.intermediate_values for t in pruned)
    study2 = hpo.create_study(pruner="median", seed=1)
    study2.optimize(objective, n_trials=15)
    assert len(study2.trials) == 15


def test_ask_tell_and_enqueue_and_add_trial():
    study = hpo.create_study(direction="maximize", seed=0)
    study.enqueue_trial({"x": 0.25})
    t = study.ask()
    assert t.suggest_float("x", 0, 1) == 0.25
    t.report(0.1, 0)
    study.tell(t, 0.5)
    t2 = study.ask()
    t2.suggest_float("x", 0, 1)
    study.tell(t2.number, state="failed", error="node lost")
    added = study.add_trial({"x": 0.75}, {"x": hpo.FloatDistribution(0, 1)}, value=2.0)
    assert added.number == 2
    assert study.best_value == 2.0
    assert [t.state for t in study.trials] == ["complete", "failed", "complete"]
    assert study.trials[1].error == "node lost"
    assert study.trials[0].intermediate_values == {0: 0.1}
    with pytest.raises(ValueError, match="outside"):
        study.add_trial({"x": 5.0}, {"x": hpo.FloatDistribution(0, 1)}, value=1.0)


def test_invalid_spaces_are_value_errors():
    study = hpo.create_study()
    t = study.ask()
    with pytest.raises(ValueError, match="low 1 > high 0"):
        t.suggest_float("x", 1, 0)
    with pytest.raises(ValueError, match="low > 0"):
        t.suggest_float("lr", 0, 1, log=True)
    with pytest.raises(ValueError, match="empty"):
        t.suggest_categorical("c", [])
    with pytest.raises(ValueError, match="does not divide"):
        t.suggest_int("n", 0, 10, step=3)
    with pytest.raises(TypeError, match="must be bool, int, float or str"):
        t.suggest_categorical("c", [None])
    with pytest.raises(ValueError, match="unknown sampler 'nope'"):
        hpo.create_study(sampler="nope")
    with pytest.raises(ValueError, match="direction"):
        hpo.create_study(direction="up")
    with pytest.raises(KeyError):
        hpo.load_study("missing-study")


def test_declared_space_grid_and_conditions():
    space = {
        "opt": hpo.CategoricalDistribution(["sgd", "adam"]),
        "momentum": hpo.conditional(
            hpo.DiscreteDistribution([0.0, 0.9]), parent="opt", values="sgd"),
        "layers": hpo.IntDistribution(1, 3),
    }
    seen = []

    def objective(trial):
        seen.append(dict(trial.params))
        return float(trial.params["layers"])

    study = hpo.create_study(sampler="grid", seed=0, search_space=space)
    study.optimize(objective, n_trials=100)
    assert all(("momentum" in p) == (p["opt"] == "sgd") for p in seen)
    combos = {(p["opt"], p.get("momentum"), p["layers"]) for p in seen}
    assert len(combos) == 9  # sgd x 2 momenta x 3 layers + adam x 3 layers


def test_katib_mapping():
    d = hpo.Distribution.from_katib("lr", "double", min="0.001", max="0.1",
                                    distribution="logUniform")
    assert d.log and d.low == 0.001
    assert d.to_katib("lr") == {
        "name": "lr", "parameterType": "double",
        "feasibleSpace": {"min": "0.001", "max": "0.1", "distribution": "logUniform"}}
    with pytest.raises(ValueError, match="Katib parameter 'lr'"):
        hpo.Distribution.from_katib("lr", "double", min="1", max="0")


def test_named_study_persists_in_the_store(tmp_path):
    study = hpo.create_study(name="persist", seed=0)
    study.optimize(quadratic, n_trials=5)
    assert study.storage.endswith("mlcore.db")
    again = hpo.load_study("persist")
    assert [t.params for t in again.trials] == [t.params for t in study.trials]
    again.optimize(quadratic, n_trials=3)
    assert len(hpo.load_study("persist").trials) == 8
    with pytest.raises(ValueError, match="already exists"):
        hpo.create_study(name="persist")
    assert len(hpo.create_study(name="persist", load_if_exists=True).trials) == 8
    path = tmp_path / "other.db"
    s = hpo.create_study(name="x", storage=str(path))
    s.optimize(quadratic, n_trials=2)
    assert path.exists()


def test_trials_table():
    study = hpo.create_study(seed=0)
    study.optimize(quadratic, n_trials=4)
    table = study.trials_table()
    try:
        import pandas  # noqa: F401

        rows = table.to_dict("records")
    except ImportError:
        rows = table
    assert [r["number"] for r in rows] == [0, 1, 2, 3]
    assert {"params_x", "params_n", "params_opt", "value", "state"} <= set(rows[0])
    assert "<table>" in study._repr_html_()


def test_keyboard_interrupt_stops_and_propagates():
    def objective(trial):
        if trial.number == 2:
            raise KeyboardInterrupt
        return 1.0

    study = hpo.create_study()
    with pytest.raises(KeyboardInterrupt):
        study.optimize(objective, n_trials=10)
    assert len(study.trials) == 3


def test_callbacks_and_stop_conditions():
    seen = []
    study = hpo.create_study(sampler="random", seed=0)
    study.optimize(lambda t: 10.0 - t.number, n_trials=50, goal=6.0,
                   callbacks=[lambda s, t: seen.append(t.number)])
    assert seen == [0, 1, 2, 3, 4]
    study.optimize(lambda t: 1 / 0, n_trials=50, max_failed_trials=2, catch=ZeroDivisionError)
    assert len(study.trials) == 7
    study.optimize(lambda t: 1.0, timeout=0.2)
    assert len(study.trials) > 7


def test_two_processes_share_a_study_and_resume_after_kill(tmp_path):
    db = tmp_path / "shared.db"
    hpo.create_study(name="shared", storage=str(db))
    script = textwrap.dedent(f"""
        import sys, time
        import mlcore.hpo as hpo
        study = hpo.load_study("shared", storage={str(db)!r}, seed=int(sys.argv[1]))
        def objective(trial):
            x = trial.suggest_float("x", 0, 1)
            if sys.argv[2] == "hang":
                print("running", flush=True)
                time.sleep(60)
            return x
        study.optimize(objective, n_trials=int(sys.argv[3]), n_parallel=2)
    """)
    path = tmp_path / "worker.py"
    path.write_text(script)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    workers = [subprocess.Popen([sys.executable, str(path), str(i), "ok", "10"], env=env)
               for i in range(2)]
    assert [w.wait(timeout=120) for w in workers] == [0, 0]
    trials = hpo.load_study("shared", storage=str(db)).trials
    assert len(trials) == 20 and len({t.number for t in trials}) == 20
    assert all(t.state == "complete" for t in trials)

    hang = subprocess.Popen([sys.executable, str(path), "9", "hang", "1"], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert hang.stdout.readline().strip() == "running"
    hang.kill()
    hang.wait()
    study = hpo.load_study("shared", storage=str(db), requeue_stale_trials=True)
    assert study.trials[-1].state == "waiting"
    x = study.trials[-1].params["x"]
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert study.trials[20].state == "complete" and study.trials[20].value == x


def test_command_template_trials(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import argparse, os, signal, sys, time
        p = argparse.ArgumentParser()
        p.add_argument("--lr", type=float)
        p.add_argument("--mode")
        a = p.parse_args()
        if a.mode == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        if a.mode == "hang":
            time.sleep(60)
        if a.mode == "silent":
            sys.exit(0)
        for epoch in range(3):
            print(f"2024-01-01T00:00:0{epoch}Z epoch={epoch} loss={a.lr * (3 - epoch):.3e}")
    """))
    space = {"lr": hpo.FloatDistribution(1e-4, 1e-1, log=True),
             "mode": hpo.CategoricalDistribution(["ok"])}
    objective = hpo.CommandObjective(
        f"{sys.executable} {script} --lr={{lr}} --mode={{mode}}", "loss", space, timeout=5)
    study = hpo.create_study(sampler="random", seed=0)
    study.optimize(objective, n_trials=3, n_parallel=3)
    for t in study.trials:
        assert t.state == "complete", t.error
        assert t.value == pytest.approx(t.params["lr"], rel=1e-3)
        assert len(t.intermediate_values) == 3
    for mode, reason in [("crash", "signal 11"), ("hang", "timeout"), ("silent", "no 'loss'")]:
        space["mode"] = hpo.CategoricalDistribution([mode])
        objective = hpo.CommandObjective(
            f"{sys.executable} {script} --lr={{lr}} --mode={{mode}}", "loss", space, timeout=1)
        study.optimize(objective, n_trials=1)
        assert study.trials[-1].state == "failed"
        assert reason in study.trials[-1].error, study.trials[-1].error
    with pytest.raises(ValueError, match="placeholder"):
        study.optimize(hpo.CommandObjective("train {nope}", "loss", space), n_trials=1)


def test_katib_experiment_export(tmp_path):
    path = tmp_path / "experiment.yaml"
    text = hpo.to_katib(
        path, name="tune", metric="loss", image="me/train:1", seed=3, pruner="median",
        command="python train.py --lr={lr} --opt={opt}", max_trial_count=20,
        search_space={"lr": hpo.FloatDistribution(1e-4, 1e-1, log=True),
                      "opt": hpo.CategoricalDistribution(["sgd", "adam"])})
    assert path.read_text() == text
    assert "${trialParameters.lr}" in text and "algorithmName: medianstop" in text
    try:
        import yaml
    except ImportError:
        return
    doc = yaml.safe_load(text)
    assert doc["kind"] == "Experiment"
    assert doc["spec"]["maxTrialCount"] == 20
    assert doc["spec"]["parameters"][0]["feasibleSpace"] == {
        "min": "0.0001", "max": "0.1", "distribution": "logUniform"}
    assert doc["spec"]["parameters"][1]["feasibleSpace"]["list"] == ["sgd", "adam"]
