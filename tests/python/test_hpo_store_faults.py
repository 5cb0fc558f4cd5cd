"""HPO when the store refuses a write at a trial's end: the error surfaces (optimize/tell raise,
or the trial fails with the reason), nothing waits for ever, and nothing else is lost.

The refusals are real SQLite refusals on the real store file: another connection holding the
write lock past the busy timeout, or a trigger that aborts exactly the final UPDATE."""

import os
import sqlite3

import pytest

import mlcore.hpo as hpo
from mlcore import pipelines as mp
from mlcore._mlcore import pipeline as _cpp
from mlcore.pipelines import _run

_held = []  # connections holding the store's write lock

REFUSE = ("CREATE TRIGGER refuse_finish BEFORE UPDATE OF state ON hpo_trials "
          "WHEN NEW.state != 'running' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")


def _db():
    return os.path.join(os.environ["MLCORE_HOME"], "mlcore.db")


def _execute(sql):
    conn = sqlite3.connect(_db(), isolation_level=None)
    try:
        conn.execute(sql)
    finally:
        conn.close()


@mp.component(caching=False)
def locks_then_scores(x: float) -> float:
    conn = sqlite3.connect(_db(), isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    _held.append(conn)
    return -x


@mp.pipeline
def locking(x: float = 0.5):
    return {"score": locks_then_scores(x=x).output}


def test_a_pipeline_trial_whose_run_record_is_refused_fails_naming_the_run():
    home = os.environ["MLCORE_HOME"]
    client = _cpp.Client(home, "default", busy_timeout=0.1)
    _run._clients[(home, "default")] = client  # the objective's runs use this client
    study = hpo.create_study(direction="maximize", sampler="random", seed=2)
    objective = hpo.pipeline_objective(locking, metric="score",
                                       search_space={"x": hpo.FloatDistribution(0.0, 1.0)})
    study.optimize(objective, n_trials=1)
    (trial,) = study.trials
    assert trial.state == "failed"
    run_id = trial.user_attrs["pipeline_run_id"]
    assert f"run '{run_id}'" in trial.error and "refused its final record" in trial.error
    conn = _held.pop()
    conn.rollback()
    conn.close()
    client.recover_interrupted()
    assert mp.get_run(run_id).status == "succeeded"  # the run's own record, written late


def test_a_refused_trial_record_raises_and_the_trial_can_be_told_again():
    study = hpo.create_study("refused", direction="minimize", sampler="random", seed=1)
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=2)
    _execute(REFUSE)
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    with pytest.raises(ValueError, match="refused by the test"):
        study.tell(trial, 0.25)
    # optimize stops with the error too, rather than going on with records it cannot keep.
    with pytest.raises(ValueError, match="refused by the test"):
        study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=3)
    _execute("DROP TRIGGER refuse_finish")
    again = hpo.load_study("refused")
    states = sorted(t.state for t in again.trials)
    assert states == ["complete", "complete", "running", "running"]  # nothing lost, nothing faked
    study.tell(trial, 0.25)
    told = [t for t in hpo.load_study("refused").trials if t.number == trial.number][0]
    assert told.state == "complete" and told.value == 0.25


def test_reports_survive_a_refused_final_record():
    study = hpo.create_study("reports", direction="minimize", sampler="random", seed=1)
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    trial.report(0.5, 1)
    _execute(REFUSE)
    with pytest.raises(ValueError):
        study.tell(trial, 0.25)
    _execute("DROP TRIGGER refuse_finish")
    study.tell(trial, 0.25)
    told = [t for t in hpo.load_study("reports").trials if t.number == trial.number][0]
    assert told.intermediate_values == {1: 0.5}
