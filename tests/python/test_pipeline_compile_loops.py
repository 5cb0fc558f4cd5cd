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
    _kfp_doc, _ours, dag_shape, k_make_items, k_square, k_total, make_items, square, total)


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


def test_collected_artifacts_compile_as_an_artifact_list(tmp_path):
    @kfp_dsl.pipeline(name="arts")
    def theirs(n: int = 3):
        items = k_make_items(n=n)
        with kfp_dsl.ParallelFor(items.output) as it:
            t = k_train(x=it)
        k_pick(models=kfp_dsl.Collected(t.outputs["model"]))

    @mp.pipeline(name="arts")
    def ours(n: int = 3):
        items = make_items(n=n)
        with mp.ParallelFor(items.output) as it:
            t = train(x=it)
        pick(models=mp.Collected(t.outputs["model"]))

    mine, kfp = _ours(ours, tmp_path), _kfp_doc(theirs, tmp_path)
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
    @kfp_dsl.pipeline(name="nested")
    def theirs(n: int = 3):
        items = k_make_items(n=n)
        with kfp_dsl.ParallelFor(items.output) as a:
            inner = k_make_items(n=a)
            with kfp_dsl.ParallelFor(inner.output) as b:
                sq = k_square(x=b)
        k_total(values=kfp_dsl.Collected(sq.output))

    @mp.pipeline(name="nested")
    def ours(n: int = 3):
        items = make_items(n=n)
        with mp.ParallelFor(items.output) as a:
            inner = make_items(n=a)
            with mp.ParallelFor(inner.output) as b:
                sq = square(x=b)
        total(values=mp.Collected(sq.output))

    mine, kfp = _ours(ours, tmp_path), _kfp_doc(theirs, tmp_path)
    assert dag_shape(mine) == dag_shape(kfp)
    outer = mine["components"]["comp-for-loop-1"]
    assert outer["dag"]["outputs"]["parameters"]["pipelinechannel--square-output"] == {
        "valueFromParameter": {"producerSubtask": "for-loop-2",
                               "outputParameterKey": "pipelinechannel--square-output"}}
    assert outer["outputDefinitions"]["parameters"] == {
        "pipelinechannel--square-output": {"parameterType": "LIST"}}


def test_collected_artifacts_across_nested_loops_match_kfp(tmp_path):
    @kfp_dsl.pipeline(name="nestedart")
    def theirs(n: int = 3):
        items = k_make_items(n=n)
        with kfp_dsl.ParallelFor(items.output) as a:
            inner = k_make_items(n=a)
            with kfp_dsl.ParallelFor(inner.output) as b:
                t = k_train(x=b)
        k_pick(models=kfp_dsl.Collected(t.outputs["model"]))

    @mp.pipeline(name="nestedart")
    def ours(n: int = 3):
        items = make_items(n=n)
        with mp.ParallelFor(items.output) as a:
            inner = make_items(n=a)
            with mp.ParallelFor(inner.output) as b:
                t = train(x=b)
        pick(models=mp.Collected(t.outputs["model"]))

    mine, kfp = _ours(ours, tmp_path), _kfp_doc(theirs, tmp_path)
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
    @kfp_dsl.pipeline(name="numbers")
    def theirs(n: int = 3):
        items = k_make_items(n=n)
        with kfp_dsl.ParallelFor(items.output) as a:
            k_square(x=a)
        with kfp_dsl.ParallelFor([1, 2]) as b:
            k_square(x=b)
        with kfp_dsl.If(n > 1):
            with kfp_dsl.ParallelFor(items.output) as c:
                k_square(x=c)

    @mp.pipeline(name="numbers")
    def ours(n: int = 3):
        items = make_items(n=n)
        with mp.ParallelFor(items.output) as a:
            square(x=a)
        with mp.ParallelFor([1, 2]) as b:
            square(x=b)
        with mp.If(n > 1):
            with mp.ParallelFor(items.output) as c:
                square(x=c)

    mine, kfp = _ours(ours, tmp_path), _kfp_doc(theirs, tmp_path)
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
    assert [loop["name"] for loop in ours.build().to_json()["loops"]] == \
        ["for-loop-1", "for-loop-2", "for-loop-3"]


def test_loop_over_a_field_of_a_constant_outer_item_matches_kfp(tmp_path):
    @kfp_dsl.pipeline(name="grid")
    def theirs():
        with kfp_dsl.ParallelFor([{"xs": [1, 2], "k": 3}, {"xs": [3], "k": 4}]) as row:
            with kfp_dsl.ParallelFor(row.xs) as x:
                sq = k_square(x=x)
            k_total(values=kfp_dsl.Collected(sq.output))

    @mp.pipeline(name="grid")
    def ours():
        with mp.ParallelFor([{"xs": [1, 2], "k": 3}, {"xs": [3], "k": 4}]) as row:
            with mp.ParallelFor(row.xs) as x:
                sq = square(x=x)
            total(values=mp.Collected(sq.output))

    mine, kfp = _ours(ours, tmp_path), _kfp_doc(theirs, tmp_path)
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
    @kfp_dsl.pipeline(name="field")
    def theirs():
        with kfp_dsl.ParallelFor([{"a": 1}, {"a": 2}]) as pt:
            with kfp_dsl.If(pt.a == 2):
                k_square(x=3)
        with kfp_dsl.ParallelFor([1, 2]) as q:
            k_square(x=q)

    @mp.pipeline(name="field")
    def ours():
        with mp.ParallelFor([{"a": 1}, {"a": 2}]) as pt:
            with mp.If(pt.a == 2):
                square(x=3)
        with mp.ParallelFor([1, 2]) as q:
            square(x=q)

    mine, kfp = _ours(ours, tmp_path), _kfp_doc(theirs, tmp_path)
    assert dag_shape(mine) == dag_shape(kfp)
    channel = "pipelinechannel--loop-item-param-1-subvar-a"
    assert mine["components"]["comp-for-loop-2"]["dag"]["tasks"]["condition-3"][
        "triggerPolicy"] == {"condition": f"int(inputs.parameter_values['{channel}']) == 2"}
    assert mine["components"]["comp-for-loop-5"]["inputDefinitions"]["parameters"] == {
        "pipelinechannel--loop-item-param-4": {"parameterType": "NUMBER_INTEGER"}}
