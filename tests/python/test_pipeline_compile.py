"""mlcore.compile writes KFP v2 IR that the kfp-pipeline-spec protos parse with no unknown
fields and that the kfp SDK loads."""

import pytest
import yaml

from mlcore import pipelines as mp
from mlcore.pipelines import Dataset, Input, Model, Output

pipeline_spec_pb2 = pytest.importorskip("kfp.pipeline_spec.pipeline_spec_pb2")
json_format = pytest.importorskip("google.protobuf.json_format")


@mp.component(image="python:3.11-slim", retries=2, backoff=1.5, cpu=2, memory=2_000_000_000)
def prepare(n: int, data: Output[Dataset]) -> int:
    return n


@mp.component(mode="subprocess", gpu=1, caching=False)
def fit(data: Input[Dataset], model: Output[Model], lr: float = 0.1) -> float:
    return lr


@mp.component
def report(loss: float, tag: str = "x"):
    print(loss)


@mp.pipeline(name="compile-me")
def compile_me(n: int = 100, lr: float = 0.01, tag: str = "t"):
    p = prepare(n=n)
    f = fit(data=p.outputs["data"], lr=lr)
    with mp.If(f.outputs["output"] < 0.5):
        report(loss=f.outputs["output"], tag=tag)
    cleanup = report(loss=1.0)
    with mp.ExitHandler(cleanup):
        report(loss=2.0).after(f)
    return {"model": f.outputs["model"], "size": p.outputs["output"]}


def test_compiled_yaml_parses_into_pipeline_spec(tmp_path):
    path = tmp_path / "p.yaml"
    text = mp.compile(compile_me, str(path))
    assert path.read_text() == text
    doc = yaml.safe_load(text)
    spec = pipeline_spec_pb2.PipelineSpec()
    json_format.ParseDict(doc, spec, ignore_unknown_fields=False)
    deployment = pipeline_spec_pb2.PipelineDeploymentConfig()
    json_format.ParseDict(doc["deploymentSpec"], deployment, ignore_unknown_fields=False)

    assert spec.pipeline_info.name == "compile-me"
    assert spec.schema_version == "2.1.0"
    params = spec.root.input_definitions.parameters
    assert params["n"].parameter_type == pipeline_spec_pb2.ParameterType.NUMBER_INTEGER
    assert params["lr"].default_value.number_value == pytest.approx(0.01)
    tasks = spec.root.dag.tasks
    assert set(tasks) == {"prepare", "fit", "report", "report-2", "report-3"}
    fit_task = tasks["fit"]
    assert list(fit_task.dependent_tasks) == ["prepare"]
    art = fit_task.inputs.artifacts["data"].task_output_artifact
    assert (art.producer_task, art.output_artifact_key) == ("prepare", "data")
    assert fit_task.inputs.parameters["lr"].component_input_parameter == "lr"
    assert not fit_task.caching_options.enable_cache
    assert tasks["prepare"].retry_policy.max_retry_count == 2
    assert tasks["prepare"].retry_policy.backoff_duration.seconds == 1
    cond = tasks["report"].trigger_policy.condition
    assert cond == "double(inputs.parameter_values['pipelinechannel--fit-output']) < 0.5"
    assert tasks["report-2"].trigger_policy.strategy == \
        pipeline_spec_pb2.PipelineTaskSpec.TriggerPolicy.ALL_UPSTREAM_TASKS_COMPLETED
    assert "report-3" in tasks["report-2"].dependent_tasks
    comp = spec.components["comp-fit"]
    assert comp.input_definitions.artifacts["data"].artifact_type.schema_title == "system.Dataset"
    assert comp.output_definitions.artifacts["model"].artifact_type.schema_title == "system.Model"
    executor = deployment.executors["exec-fit"].container
    assert executor.command[-1] == "{{$}}"
    assert executor.resources.accelerator.resource_count == "1"
    prep = deployment.executors["exec-prepare"].container
    assert prep.image == "python:3.11-slim"
    assert prep.resources.resource_cpu_limit == "2"
    assert any(e.name == "MLCORE_COMPONENT_SOURCE" and "def prepare" in e.value for e in prep.env)
    outs = spec.root.dag.outputs
    assert outs.artifacts["model"].artifact_selectors[0].producer_subtask == "fit"
    assert outs.parameters["size"].value_from_parameter.output_parameter_key == "output"


def test_kfp_sdk_loads_the_compiled_pipeline(tmp_path):
    components = pytest.importorskip("kfp.components")
    path = tmp_path / "p.yaml"
    mp.compile(compile_me, str(path))
    loaded = components.load_component_from_file(str(path))
    assert loaded.name == "compile-me"
    assert set(loaded.component_spec.inputs) == {"n", "lr", "tag"}


def test_cpp_callable_without_command_cannot_compile():
    from mlcore import _mlcore

    p = _mlcore.pipeline.Pipeline("cpp")
    c = _mlcore.pipeline.Component("lambda", fn=lambda ctx: None)
    p.add_task("t", c, {})
    with pytest.raises(ValueError, match="component 'lambda' is an in-process callable with no "
                                         "compile_command"):
        p.compile_kfp()
