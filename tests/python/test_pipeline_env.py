"""Running pipelines leaves the caller's environment alone: a subprocess component can import
mlcore without the parent rewriting os.environ["PYTHONPATH"] (mlcore.run and hpo's
pipeline_objective both used to)."""

import os

from mlcore import hpo
from mlcore import pipelines as mp


@mp.component(mode="subprocess")
def where_is_mlcore() -> str:
    import os

    import mlcore  # the component's process finds the package by itself

    return os.path.dirname(mlcore.__file__)


@mp.pipeline
def locate():
    return {"path": where_is_mlcore().outputs["output"]}


@mp.component(mode="subprocess")
def score(x: float) -> float:
    import mlcore  # noqa: F401

    return (x - 0.3) ** 2


@mp.pipeline
def tuned(x: float = 0.0):
    return {"loss": score(x=x).outputs["output"]}


def test_run_finds_mlcore_in_the_component_without_touching_pythonpath(monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)
    run = mp.run(locate).wait()
    assert run.status == "succeeded", run.error
    import mlcore

    assert os.path.samefile(run.outputs["path"], os.path.dirname(mlcore.__file__))
    assert "PYTHONPATH" not in os.environ


def test_pipeline_objective_leaves_pythonpath_as_it_was(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/nowhere")
    study = hpo.create_study(sampler="random", seed=0)
    study.optimize(hpo.pipeline_objective(tuned, metric="loss",
                                          search_space={"x": hpo.FloatDistribution(0, 1)}),
                   n_trials=2)
    assert [t.state for t in study.trials] == ["complete", "complete"]
    assert os.environ["PYTHONPATH"] == "/nowhere"
