"""mlcore.compile writes KFP v2 IR that the kfp-pipeline-spec protos parse with no unknown
fields and that the kfp SDK loads."""

import pytest
import yaml

from mlcore import pipelines as mp
from mlcore.pipelines import Dataset, Input, Model, Output

pipeline_spec_pb2 = pytest.importorskip("kfp.pipeline_spec.pipeline_spec_pb2")
json_format = pytest.importorskip("google.protobuf.json_format")


def _parse(text):
    """The IR as YAML, as a PipelineSpec and its PipelineDeploymentConfig, both parsed with no
    unknown fields (shared with the groups and loops tests)."""
    doc = yaml.safe_load(text)
    spec = pipeline_spec_pb2.PipelineSpec()
    json_format.ParseDict(doc, spec, ignore_unknown_fields=False)
    deployment = pipeline_spec_pb2.PipelineDeploymentConfig()
    json_format.ParseDict(doc["deploymentSpec"], deployment, ignore_unknown_fields=False)
    return doc, spec, deployment


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
    _, spec, deployment = _parse(text)

    assert spec.pipeline_info.name == "compile-me"
    assert spec.schema_version == "2.1.0"
    params = spec.root.input_definitions.parameters
    assert params["n"].parameter_type == pipeline_spec_pb2.ParameterType.NUMBER_INTEGER
    assert params["lr"].default_value.number_value == pytest.approx(0.01)
    tasks = spec.root.dag.tasks
    # The If branch and the exit handler's guarded tasks are sub-DAGs, as KFP compiles them.
    assert set(tasks) == {"prepare", "fit", "condition-1", "report-2", "exit-handler-2"}
    fit_task = tasks["fit"]
    assert list(fit_task.dependent_tasks) == ["prepare"]
    art = fit_task.inputs.artifacts["data"].task_output_artifact
    assert (art.producer_task, art.output_artifact_key) == ("prepare", "data")
    assert fit_task.inputs.parameters["lr"].component_input_parameter == "lr"
    assert not fit_task.caching_options.enable_cache
    assert tasks["prepare"].retry_policy.max_retry_count == 2
    assert tasks["prepare"].retry_policy.backoff_duration.seconds == 1
    cond = tasks["condition-1"].trigger_policy.condition
    assert cond == "inputs.parameter_values['pipelinechannel--fit-output'] < 0.5"
    assert list(tasks["condition-1"].dependent_tasks) == ["fit"]
    branch = spec.components["comp-condition-1"].dag.tasks["report"]
    assert branch.inputs.parameters["loss"].component_input_parameter == \
        "pipelinechannel--fit-output"
    assert branch.inputs.parameters["tag"].component_input_parameter == "pipelinechannel--tag"
    assert tasks["report-2"].trigger_policy.strategy == \
        pipeline_spec_pb2.PipelineTaskSpec.TriggerPolicy.ALL_UPSTREAM_TASKS_COMPLETED
    assert list(tasks["report-2"].dependent_tasks) == ["exit-handler-2"]
    assert list(tasks["exit-handler-2"].dependent_tasks) == ["fit"]
    assert set(spec.components["comp-exit-handler-2"].dag.tasks) == {"report-3"}
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


def test_cpp_callable_without_command_cannot_compile():
    from mlcore import _mlcore

    p = _mlcore.pipeline.Pipeline("cpp")
    c = _mlcore.pipeline.Component("lambda", fn=lambda ctx: None)
    p.add_task("t", c, {})
    with pytest.raises(ValueError, match="component 'lambda' is an in-process callable with no "
                                         "compile_command"):
        p.compile_kfp()


@mp.component
def make_items(n: int) -> list:
    return list(range(n))


@mp.component
def square(x: int) -> int:
    return x * x


@mp.component
def total(values: list, scale: int = 1) -> int:
    return sum(values) * scale


@mp.pipeline(name="loops")
def loops(n: int = 3, scale: int = 2):
    items = make_items(n=n)
    with mp.ParallelFor(items.output, parallelism=2) as item:
        sq = square(x=item)
        total(values=[1], scale=scale).after(items)
    t = total(values=mp.Collected(sq.output))
    with mp.ParallelFor([{"a": 1}, {"a": 2}]) as point:
        with mp.If(point.a > 1):
            square(x=point.a)
    return t.output


def test_parallel_for_compiles_to_an_iterated_sub_dag(tmp_path):
    _, spec, deployment = _parse(mp.compile(loops))
    root = spec.root.dag.tasks
    # KFP's numbering: the loop over a constant list takes 2 (its item) and 3, the If in it 4.
    assert set(root) == {"make-items", "for-loop-1", "total-2", "for-loop-3"}
    loop = root["for-loop-1"]
    assert loop.component_ref.name == "comp-for-loop-1"
    assert loop.iterator_policy.parallelism_limit == 2
    assert loop.parameter_iterator.items.input_parameter == "pipelinechannel--make-items-output"
    assert loop.parameter_iterator.item_input == "pipelinechannel--make-items-output-loop-item"
    assert list(loop.dependent_tasks) == ["make-items"]
    fed = loop.inputs.parameters
    assert fed["pipelinechannel--make-items-output"].task_output_parameter.producer_task == \
        "make-items"
    assert fed["pipelinechannel--scale"].component_input_parameter == "scale"
    body = spec.components["comp-for-loop-1"]
    assert set(body.dag.tasks) == {"square", "total"}
    assert body.dag.tasks["square"].inputs.parameters["x"].component_input_parameter == \
        "pipelinechannel--make-items-output-loop-item"
    assert body.dag.tasks["total"].inputs.parameters["scale"].component_input_parameter == \
        "pipelinechannel--scale"
    assert not body.dag.tasks["total"].dependent_tasks  # its outside edge is the loop's
    out = body.dag.outputs.parameters["pipelinechannel--square-output"].value_from_parameter
    assert (out.producer_subtask, out.output_parameter_key) == ("square", "output")
    assert body.output_definitions.parameters["pipelinechannel--square-output"].parameter_type == \
        pipeline_spec_pb2.ParameterType.LIST
    gathered = root["total-2"].inputs.parameters["values"].task_output_parameter
    assert (gathered.producer_task, gathered.output_parameter_key) == \
        ("for-loop-1", "pipelinechannel--square-output")
    assert list(root["total-2"].dependent_tasks) == ["for-loop-1"]
    raw = root["for-loop-3"].parameter_iterator
    assert raw.items.raw == '[{"a":1},{"a":2}]'
    assert raw.item_input == "pipelinechannel--loop-item-param-2"
    # The If inside the loop is a sub-DAG of the loop's DAG (KFP numbers it after both loops).
    branch = spec.components["comp-for-loop-3"].dag.tasks["condition-4"]
    assert "> 1" in branch.trigger_policy.condition
    operand = branch.inputs.parameters[raw.item_input + "-subvar-a"]
    assert operand.component_input_parameter == raw.item_input
    assert operand.parameter_expression_selector == 'parseJson(string_value)["a"]'
    inner = spec.components["comp-condition-4"].dag.tasks["square-2"]
    x = inner.inputs.parameters["x"]
    assert x.component_input_parameter == raw.item_input
    assert x.parameter_expression_selector == 'parseJson(string_value)["a"]'
    assert not inner.HasField("trigger_policy")
    assert "exec-square-2" in deployment.executors


def test_parallel_for_structure_matches_what_kfp_compiles(tmp_path):
    """The same pipeline written with kfp.dsl: the same loop structure (not the same text)."""
    pytest.importorskip("kfp.dsl")
    # One pipeline for both compilers, with the components the groups tests share.
    from test_pipeline_compile_groups import _both

    def loops_once(d):
        def pipeline(n: int = 3):
            items = d.make_items(n=n)
            with d.ParallelFor(items.output, parallelism=2) as item:
                sq = d.square(x=item)
            d.total(values=d.Collected(sq.output))
        return pipeline

    mine, theirs = _both("loops", loops_once, tmp_path)

    def shape(doc):
        root = doc["root"]["dag"]["tasks"]
        loop_name = next(k for k, v in root.items() if "parameterIterator" in v)
        loop = root[loop_name]
        body = doc["components"][loop["componentRef"]["name"]]
        consumer = next(v for k, v in root.items() if k.startswith("total"))
        return {
            "root": sorted("loop" if k == loop_name else k for k in root),
            "iterator_keys": sorted(loop["parameterIterator"]["items"]),
            "limit": loop["iteratorPolicy"]["parallelismLimit"],
            "loop_depends": loop.get("dependentTasks"),
            "body": sorted(body["dag"]["tasks"]),
            "body_outputs": len(body["dag"]["outputs"]["parameters"]),
            "body_output_types": [p["parameterType"] for p in
                                  body["outputDefinitions"]["parameters"].values()],
            "consumer_from": consumer["inputs"]["parameters"]["values"]["taskOutputParameter"][
                "producerTask"] == loop_name,
            "consumer_depends": consumer["dependentTasks"] == [loop_name],
        }

    assert shape(mine) == shape(theirs)


@pytest.mark.parametrize("pipeline, name, inputs", [(compile_me, "compile-me", {"n", "lr", "tag"}),
                                                    (loops, "loops", {"n", "scale"})],
                         ids=["compiled-pipeline", "pipeline-with-loops"])
def test_kfp_sdk_loads_the_compiled_pipeline(tmp_path, pipeline, name, inputs):
    components = pytest.importorskip("kfp.components")
    path = tmp_path / "p.yaml"
    mp.compile(pipeline, str(path))
    loaded = components.load_component_from_file(str(path))
    assert loaded.name == name
    assert set(loaded.component_spec.inputs) == inputs
