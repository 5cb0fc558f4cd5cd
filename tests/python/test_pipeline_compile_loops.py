"""mlcore.compile gives gathered artifacts (Collected into Input[List[Model]]) and Collected
across nested ParallelFor loops the shape KFP's own compiler gives them: the loop sub-DAGs hand
the list out as dag outputs (artifactSelectors with isArtifactList for artifacts), nested loops
pass it up level by level under KFP's key, and the reader takes it from the outermost loop's
task. Each shape parses into PipelineSpec with no unknown fields, loads with the kfp SDK and
matches kfp's output for the same pipeline written with kfp.dsl."""

import json
from typing import List

import pytest

from mlcore import pipelines as mp
from mlcore.pipelines import Model, Output

kfp_dsl = pytest.importorskip("kfp.dsl")

from test_pipeline_compile_groups import (  # noqa: E402  (helpers shared with the groups test)
    MP, _both, _ours, dag_shape, make_items, square, total)


@kfp_dsl.component(base_image="python:3.11")
def k_train(x: int, model: kfp_dsl.Output[kfp_dsl.Model]):
    with open(model.path, "w") as f:
        f.write(str(x))


@kfp_dsl.component(base_image="python:3.11")
def k_pick(models: kfp_dsl.Input[List[kfp_dsl.Model]]) -> int:
    return len(models)


@mp.component(name="train")
def train(x: int, model: Output[Model]):
    with open(model.path, "w") as f:
        f.write(str(x))


@mp.component(name="pick")
def pick(models: mp.Input[List[mp.Model]]) -> int:
    return len(models)


def _renamed(x):
    """kfp names a component after its function (k_train); ours are named train and pick."""
    return json.loads(json.dumps(x).replace("k-train", "train").replace("k-pick", "pick"))


TRAIN_PICK = {"train": (train, k_train), "pick": (pick, k_pick)}


def test_collected_artifacts_compile_as_an_artifact_list(tmp_path):
    def arts(d):
        def pipeline(n: int = 3):
            items = d.make_items(n=n)
            with d.ParallelFor(items.output) as it:
                t = d.train(x=it)
            d.pick(models=d.Collected(t.outputs["model"]))
        return pipeline

    mine, kfp = _both("arts", arts, tmp_path, **TRAIN_PICK)
    assert dag_shape(mine) == _renamed(dag_shape(kfp))
    loop = mine["components"]["comp-for-loop-1"]
    assert loop["outputDefinitions"]["artifacts"]["pipelinechannel--train-model"] == \
        kfp["components"]["comp-for-loop-1"]["outputDefinitions"]["artifacts"][
            "pipelinechannel--k-train-model"]
    assert loop["outputDefinitions"]["artifacts"]["pipelinechannel--train-model"][
        "isArtifactList"] is True
    assert mine["components"]["comp-pick"]["inputDefinitions"] == \
        kfp["components"]["comp-k-pick"]["inputDefinitions"]
    assert mine["root"]["dag"]["tasks"]["pick"]["inputs"]["artifacts"]["models"] == {
        "taskOutputArtifact": {"producerTask": "for-loop-1",
                               "outputArtifactKey": "pipelinechannel--train-model"}}


def test_collected_across_nested_loops_passes_the_list_up_each_level(tmp_path):
    nested = _nested(lambda d, b: d.square(x=b).output, lambda d, c: d.total(values=c))
    mine, kfp = _both("nested", nested, tmp_path)
    assert dag_shape(mine) == dag_shape(kfp)
    outer = mine["components"]["comp-for-loop-1"]
    assert outer["dag"]["outputs"]["parameters"]["pipelinechannel--square-output"] == {
        "valueFromParameter": {"producerSubtask": "for-loop-2",
                               "outputParameterKey": "pipelinechannel--square-output"}}
    assert outer["outputDefinitions"]["parameters"] == {
        "pipelinechannel--square-output": {"parameterType": "LIST"}}


def test_collected_artifacts_across_nested_loops_match_kfp(tmp_path):
    nested = _nested(lambda d, b: d.train(x=b).outputs["model"], lambda d, c: d.pick(models=c))
    mine, kfp = _both("nestedart", nested, tmp_path, **TRAIN_PICK)
    assert dag_shape(mine) == _renamed(dag_shape(kfp))
    for comp in ("comp-for-loop-1", "comp-for-loop-2"):
        assert mine["components"][comp]["outputDefinitions"] == _renamed(
            kfp["components"][comp]["outputDefinitions"])
    assert mine["components"]["comp-for-loop-1"]["dag"]["outputs"]["artifacts"] == {
        "pipelinechannel--train-model": {"artifactSelectors": [
            {"producerSubtask": "for-loop-2",
             "outputArtifactKey": "pipelinechannel--train-model"}]}}


def test_collected_artifacts_passed_into_a_branch(tmp_path):
    """kfp's compiler fails on this one (a TypeError in its own code), so it is checked against
    the IR alone: the branch takes the list as an input artifact list."""
    @mp.pipeline(name="artbranch")
    def ours(n: int = 3):
        items = make_items(n=n)
        with mp.ParallelFor(items.output) as a:
            t = train(x=a)
        with mp.If(n > 1):
            pick(models=mp.Collected(t.outputs["model"]))

    mine = _ours(ours, tmp_path)
    branch = mine["components"]["comp-condition-2"]
    key = "pipelinechannel--for-loop-1-pipelinechannel--train-model"
    assert branch["inputDefinitions"]["artifacts"][key] == {
        "artifactType": {"schemaTitle": "system.Model", "schemaVersion": "0.0.1"},
        "isArtifactList": True}
    assert branch["dag"]["tasks"]["pick"]["inputs"]["artifacts"]["models"] == {
        "componentInputArtifact": key}
    assert mine["root"]["dag"]["tasks"]["condition-2"]["inputs"]["artifacts"][key] == {
        "taskOutputArtifact": {"producerTask": "for-loop-1",
                               "outputArtifactKey": "pipelinechannel--train-model"}}


def test_loops_are_numbered_with_the_groups_as_kfp_numbers_them(tmp_path):
    """One counter for loops and groups in the order they open; a loop over a constant list
    takes two numbers (its item's loop-item-param-N, then for-loop-N+1)."""
    def numbers(d):
        def pipeline(n: int = 3):
            items = d.make_items(n=n)
            with d.ParallelFor(items.output) as a:
                d.square(x=a)
            with d.ParallelFor([1, 2]) as b:
                d.square(x=b)
            with d.If(n > 1):
                with d.ParallelFor(items.output) as c:
                    d.square(x=c)
        return pipeline

    mine, kfp = _both("numbers", numbers, tmp_path)
    shape, theirs_shape = dag_shape(mine), dag_shape(kfp)
    # kfp also hands the enclosing condition's operand (n) to the loop, which reads nothing of it.
    del theirs_shape["comp-for-loop-5"]["inputs"]["pipelinechannel--n"]
    del theirs_shape["comp-condition-4"]["tasks"]["for-loop-5"]["inputs"]["pipelinechannel--n"]
    assert shape == theirs_shape
    assert sorted(mine["root"]["dag"]["tasks"]) == \
        ["condition-4", "for-loop-1", "for-loop-3", "make-items"]
    assert mine["root"]["dag"]["tasks"]["for-loop-3"]["parameterIterator"] == {
        "itemInput": "pipelinechannel--loop-item-param-2", "items": {"raw": "[1,2]"}}
    assert mine["components"]["comp-for-loop-3"]["inputDefinitions"] == \
        kfp["components"]["comp-for-loop-3"]["inputDefinitions"]
    # The run records keep mlcore's own loop names.
    ours = mp.pipeline(name="numbers")(numbers(MP))
    assert [loop["name"] for loop in ours.build().to_json()["loops"]] == \
        ["for-loop-1", "for-loop-2", "for-loop-3"]


def test_loop_over_a_field_of_a_constant_outer_item_matches_kfp(tmp_path):
    def grid(d):
        def pipeline():
            with d.ParallelFor([{"xs": [1, 2], "k": 3}, {"xs": [3], "k": 4}]) as row:
                with d.ParallelFor(row.xs) as x:
                    sq = d.square(x=x)
                d.total(values=d.Collected(sq.output))
        return pipeline

    mine, kfp = _both("grid", grid, tmp_path)
    assert dag_shape(mine) == dag_shape(kfp)
    assert mine["root"]["dag"]["tasks"]["for-loop-2"]["parameterIterator"]["items"]["raw"] == \
        '[{"k":3,"xs":[1,2]},{"k":4,"xs":[3]}]'


def test_a_list_collected_inside_a_branch_cannot_leave_it():
    @mp.pipeline(name="leak")
    def leak(n: int = 3):
        items = make_items(n=n)
        with mp.If(n > 1):
            with mp.ParallelFor(items.output) as it:
                sq = square(x=it)
        total(values=mp.Collected(sq.output))

    with pytest.raises(ValueError, match=r"task 'total' input 'values' collects task 'square' of "
                                         r"ParallelFor 'for-loop-1' \(for-loop-2 on Kubeflow\) "
                                         r"from outside If/Elif/Else branch 'condition-1'"):
        mp.compile(leak)


def test_items_of_a_constant_list_are_typed_as_kfp_types_them(tmp_path):
    """A condition on a field of a constant list's item: KFP types the field by the list's
    first element (NUMBER_INTEGER here) and compares it as int(); the field is the channel
    `<item>-subvar-<field>`."""
    def field(d):
        def pipeline():
            with d.ParallelFor([{"a": 1}, {"a": 2}]) as pt:
                with d.If(pt.a == 2):
                    d.square(x=3)
            with d.ParallelFor([1, 2]) as q:
                d.square(x=q)
        return pipeline

    mine, kfp = _both("field", field, tmp_path)
    assert dag_shape(mine) == dag_shape(kfp)
    channel = "pipelinechannel--loop-item-param-1-subvar-a"
    assert mine["components"]["comp-for-loop-2"]["dag"]["tasks"]["condition-3"][
        "triggerPolicy"] == {"condition": f"int(inputs.parameter_values['{channel}']) == 2"}
    assert mine["components"]["comp-for-loop-5"]["inputDefinitions"]["parameters"] == {
        "pipelinechannel--loop-item-param-4": {"parameterType": "NUMBER_INTEGER"}}


def _nested(produce, collect):
    """Two nested loops, the inner over make_items(outer item), collecting what `produce` gives
    (d, item) -> its output into `collect` outside both."""
    def build(d):
        def pipeline(n: int = 3):
            items = d.make_items(n=n)
            with d.ParallelFor(items.output) as a:
                inner = d.make_items(n=a)
                with d.ParallelFor(inner.output) as b:
                    out = produce(d, b)
            collect(d, d.Collected(out))
        return pipeline
    return build
