"""A study tuning a real two-step mlcore pipeline: one recorded run per trial."""

import json

import pytest

import mlcore.hpo as hpo
from mlcore import pipelines as mp
from mlcore.pipelines import Input, Metrics, Model, Output


@mp.component(caching=False)
def fit(lr: float, depth: int, model: Output[Model]) -> float:
    if lr > 0.9:
        raise ValueError(f"lr={lr} diverged")
    with open(model.path, "w") as f:
        f.write(json.dumps({"lr": lr, "depth": depth}))
    return -(lr - 0.3) ** 2 - 0.01 * depth


@mp.component(caching=False)
def score(model: Input[Model], metrics: Output[Metrics]):
    params = json.loads(model.read_text())
    metrics.log_metric("accuracy", 1.0 - (params["lr"] - 0.3) ** 2 - 0.01 * params["depth"])


@mp.pipeline
def tune_me(lr: float = 0.1, depth: int = 2):
    trained = fit(lr=lr, depth=depth)
    score(model=trained.outputs["model"])
    return {"loss": trained.outputs["output"]}


def test_each_trial_is_one_run_and_keeps_its_run_id():
    study = hpo.create_study(direction="maximize", sampler="random", seed=3)
    objective = hpo.pipeline_objective(
        tune_me, metric="accuracy", experiment="tuning",
        search_space={"lr": hpo.FloatDistribution(0.0, 0.8), "depth": hpo.IntDistribution(1, 4)})
    study.optimize(objective, n_trials=4, n_parallel=2)
    trials = study.trials
    assert [t.state for t in trials] == ["complete"] * 4, [t.error for t in trials]
    run_ids = set()
    for t in trials:
        lr, depth = t.params["lr"], t.params["depth"]
        assert t.value == pytest.approx(1.0 - (lr - 0.3) ** 2 - 0.01 * depth)
        run = mp.get_run(t.user_attrs["pipeline_run_id"])
        assert run.status == "succeeded"
        assert run.experiment == "tuning"
        assert run.arguments == {"lr": lr, "depth": depth}
        run_ids.add(run.id)
    assert len(run_ids) == 4
    assert study.best_trial.value == max(t.value for t in trials)


def test_a_pipeline_output_metric_and_a_failed_run():
    study = hpo.create_study(direction="maximize", sampler="random", seed=4)
    study.enqueue_trial({"lr": 0.95})
    study.enqueue_trial({"lr": 0.5})
    objective = hpo.pipeline_objective(tune_me, metric="loss", arguments={"depth": 3},
                                       search_space={"lr": hpo.FloatDistribution(0.0, 1.0)})
    study.optimize(objective, n_trials=2)
    failed, ok = study.trials
    assert failed.state == "failed"
    assert "diverged" in failed.error and "pipeline run" in failed.error
    assert mp.get_run(failed.user_attrs["pipeline_run_id"]).status == "failed"
    assert ok.state == "complete", ok.error
    assert ok.value == pytest.approx(-0.04 - 0.03)


def test_bad_pipeline_objectives_are_refused():
    study = hpo.create_study(sampler="random")
    with pytest.raises(ValueError, match="'momentum'.*tune-me"):
        study.optimize(hpo.pipeline_objective(
            tune_me, metric="accuracy",
            search_space={"momentum": hpo.FloatDistribution(0, 1)}), n_trials=1)
    with pytest.raises(TypeError, match="takes a @pipeline"):
        study.optimize(hpo.pipeline_objective(fit, metric="accuracy"), n_trials=1)
    study.optimize(hpo.pipeline_objective(tune_me, metric="f1"), n_trials=1)
    assert "no numeric output 'f1'" in study.trials[0].error
