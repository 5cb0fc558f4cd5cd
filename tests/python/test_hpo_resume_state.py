"""A study whose process was killed continues where it was: CMA-ES from its saved state, so the
search suggests exactly what an uninterrupted run would have. Also user attrs, list_studies and
multi-objective command trials."""

import json
import signal
import subprocess
import sys
import textwrap

import pytest

import mlcore.hpo as hpo

OBJECTIVE = textwrap.dedent("""
    import math
    def objective(trial):
        x = trial.suggest_float("x", -2, 2)
        y = trial.suggest_float("y", 1e-2, 10, log=True)
        return math.floor(abs(x - 0.7)) + math.floor(abs(math.log10(y)) / 2)
""")
namespace = {}
exec(OBJECTIVE, namespace)
objective = namespace["objective"]


def _study(name, db, **kw):
    sampler = hpo.CmaEsSampler(seed=11, popsize=4)
    return hpo.create_study(name=name, storage=str(db), sampler=sampler, load_if_exists=True,
                            **kw)


def test_cmaes_continues_after_kill_9(tmp_path):
    whole = _study("whole", tmp_path / "whole.db")
    whole.optimize(objective, n_trials=40)

    # A process that runs 17 trials and is then killed with SIGKILL.
    db = str(tmp_path / "split.db")
    child = OBJECTIVE + textwrap.dedent(f"""
        import os, signal
        import mlcore.hpo as hpo
        study = hpo.create_study(name="split", storage={db!r},
                                 sampler=hpo.CmaEsSampler(seed=11, popsize=4))
        def die(study, trial):
            if trial.number == 16:
                os.kill(os.getpid(), signal.SIGKILL)
        study.optimize(objective, n_trials=100, callbacks=[die])
    """)
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr

    resumed = hpo.load_study("split", storage=str(tmp_path / "split.db"),
                             sampler=hpo.CmaEsSampler(seed=11, popsize=4))
    assert len(resumed.trials) == 17
    resumed.optimize(objective, n_trials=23)
    assert [t.params for t in resumed.trials] == [t.params for t in whole.trials]
    state = json.loads(resumed._core._system_attrs()["cmaes:state"])
    assert state["restarts"] >= 1  # the equivalence covers a restart too


def test_user_attrs_are_stored_with_the_trial(tmp_path):
    study = hpo.create_study(name="attrs", storage=str(tmp_path / "a.db"), sampler="random")

    def objective(trial):
        trial.set_user_attr("run", {"id": f"r{trial.number}", "tags": [1, 2]})
        assert trial.user_attrs["run"]["id"] == f"r{trial.number}"
        with pytest.raises(TypeError, match="'bad' is not JSON-serializable"):
            trial.set_user_attr("bad", object())
        return 1.0

    study.optimize(objective, n_trials=2)
    again = hpo.load_study("attrs", storage=str(tmp_path / "a.db"))
    assert [t.user_attrs for t in again.trials] == [
        {"run": {"id": "r0", "tags": [1, 2]}}, {"run": {"id": "r1", "tags": [1, 2]}}]
    table = again.trials_table()
    rows = table.to_dict("records") if hasattr(table, "to_dict") else table
    assert [r["user_attrs_run"]["id"] for r in rows] == ["r0", "r1"]


def test_list_studies(tmp_path):
    db = str(tmp_path / "l.db")
    first = hpo.create_study(name="first", storage=db, direction="maximize")
    first.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    first.ask()  # left running
    hpo.create_study(name="second", storage=db, directions=["minimize", "maximize"])
    studies = hpo.list_studies(db)
    assert [s["name"] for s in studies] == ["first", "second"]
    assert studies[1]["directions"] == ["minimize", "maximize"]
    assert studies[0]["created"] > 0
    assert (studies[0]["n_trials"], studies[0]["n_complete"], studies[0]["n_running"]) == (4, 3, 1)
    assert studies[0]["best_value"] == max(t.value for t in first.trials if t.value is not None)
    assert studies[1]["n_trials"] == 0 and studies[1]["best_value"] is None
    assert hpo.list_studies(str(tmp_path / "empty.db")) == []


def test_multi_objective_command_trials():
    study = hpo.create_study(directions=["minimize", "maximize"], sampler="random", seed=0)
    objective = hpo.CommandObjective(
        command="echo 'loss={x} acc=0.5'; echo 'acc=7.5e-1'", metric=["loss", "acc"],
        search_space={"x": hpo.FloatDistribution(0, 1)})
    study.optimize(objective, n_trials=3)
    for t in study.trials:
        assert t.state == "complete", t.error
        assert t.values == [pytest.approx(t.params["x"]), 0.75]
    missing = hpo.CommandObjective(command="echo loss=1", metric=["loss", "acc"],
                                   search_space={"x": hpo.FloatDistribution(0, 1)})
    study.optimize(missing, n_trials=1)
    assert study.trials[-1].state == "failed"
    assert "no 'acc' metric" in study.trials[-1].error


def test_nsga2_options_through_the_sampler_registry():
    from mlcore._mlcore import hpo as core

    with pytest.raises(ValueError, match="population_size must be >= 2"):
        core.create_sampler("nsga2", nsga2_population_size=1)
    with pytest.raises(ValueError, match="crossover_prob"):
        core.create_sampler("nsga2", nsga2_crossover_prob=2.0)
    sampler = core.create_sampler("nsga2", seed=1, nsga2_population_size=6,
                                  nsga2_mutation_prob=0.3)
    study = hpo.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1 - t.suggest_float("x", 0, 1)),
                   n_trials=12)
    assert len(study.best_trials) >= 1
