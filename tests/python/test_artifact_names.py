"""The KFP artifact types have one unmistakable home, mlcore.artifacts; the old top-level names
are the same classes, and neither is mlcore.nn's Dataset or Model."""

import mlcore
from mlcore import pipelines as mp
from mlcore.artifacts import Dataset, Input, Metrics, Model, Output


def test_top_level_names_are_the_artifact_types():
    import mlcore.artifacts as artifacts
    import mlcore.nn

    for name in ("Artifact", "Dataset", "Model", "Metrics", "Input", "Output"):
        assert getattr(mlcore, name) is getattr(artifacts, name)
        assert getattr(mp, name) is getattr(artifacts, name)
    assert mlcore.Dataset is not mlcore.nn.Dataset and mlcore.Model is not mlcore.nn.Model
    assert "artifacts" in mlcore.__all__ and "Kubeflow" in artifacts.__doc__


@mp.component
def write(data: Output[Dataset], model: Output[Model], metrics: Output[Metrics]):
    open(data.path, "w").write("1 2 3")
    open(model.path, "w").write("w")
    metrics.log_metric("rows", 3)


@mp.component
def read(data: Input[Dataset]) -> int:
    return len(data.read_text().split())


@mp.pipeline
def roundtrip():
    w = write()
    return {"rows": read(data=w.outputs["data"]).outputs["output"]}


def test_components_declared_with_mlcore_artifacts_run():
    run = mp.run(roundtrip).wait()
    assert run.status == "succeeded", run.error
    assert run.outputs["rows"] == 3
