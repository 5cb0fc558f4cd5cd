"""Loops in loops and gathered artifacts from Python: ParallelFor inside ParallelFor (over the
outer item or a task of the outer body), Collected as lists of lists, and Collected artifact
outputs read as Input[List[Model]], with lineage and the cache keyed by the artifacts' content."""

from typing import List

import pytest

from mlcore import pipelines as mp
from mlcore.pipelines import Input, Model

from test_pipeline_loops import _reset, _state, square, total  # noqa: E402,F401  (shared)


@mp.component
def keep(values: list) -> list:
    return values


@mp.component
def upto(n: int) -> list:
    return list(range(1, n + 1))


def grid(outer=0, inner=0):
    @mp.pipeline(name=f"grid-{outer}-{inner}")
    def p(rows: list):
        with mp.ParallelFor(rows, parallelism=outer) as row:
            with mp.ParallelFor(row, parallelism=inner) as x:
                sq = square(x=x)
            row_sum = total(values=mp.Collected(sq.output))
        return {"total": total(values=mp.Collected(row_sum.output)).output,
                "grid": keep(values=mp.Collected(sq.output)).output}
    return p


ROWS = [[1, 2], [3], [], [4, 5, 6]]


def test_nested_loop_over_the_outer_item_gathers_lists_of_lists():
    _reset()
    run = mp.run(grid(), arguments={"rows": ROWS}).wait()
    assert run.status == "succeeded", run.error
    assert run.outputs == {"total": 91, "grid": [[1, 4], [9], [], [16, 25, 36]]}
    assert _state["calls"] == 6
    states = {t.name: t.status for t in run.tasks}
    assert states["square[3][2]"] == "succeeded"
    assert states["for-loop-2[1]"] == "succeeded"
    assert states["total[0]"] == "succeeded"  # the row sums, one per outer iteration
    assert run.task("for-loop-2[3]").outputs == {"iterations": 3}
    assert run.task("total[0]").outputs == {"output": 5}


def test_nested_loop_over_a_task_of_the_outer_body():
    _reset()

    @mp.pipeline
    def triangles():
        with mp.ParallelFor([2, 3]) as n:
            xs = upto(n=n)
            with mp.ParallelFor(xs.output) as x:
                sq = square(x=x)
        return keep(values=mp.Collected(sq.output)).output

    run = mp.run(triangles).wait()
    assert run.status == "succeeded", run.error
    assert run.outputs == {"output": [[1, 4], [1, 4, 9]]}
    assert run.task("upto[1]").outputs == {"output": [1, 2, 3]}


def test_parallelism_holds_at_each_level():
    _reset()
    run = mp.run(grid(outer=1, inner=2), arguments={"rows": [[1, 2, 3], [4, 5, 6]]},
                 max_parallelism=8).wait()
    assert run.status == "succeeded", run.error
    assert _state["calls"] == 6 and 1 <= _state["max"] <= 2


def test_failing_inner_iteration_names_it_and_resume_runs_only_it():
    _reset(fail=5)
    run = mp.run(grid(), arguments={"rows": ROWS}).wait()
    assert run.status == "failed"
    assert "square[3][1]" in run.error and "cannot square 5" in run.error
    _reset()
    resumed = run.resume().wait()
    assert resumed.status == "succeeded", resumed.error
    assert _state["calls"] == 1
    assert resumed.outputs["total"] == 91


@mp.component(caching=False)
def train(x: int, model: mp.Output[mp.Model]):
    with open(model.path, "w") as f:
        f.write(f"model-{x}{_state['salt']}")
    model.metadata["x"] = x


@mp.component
def pick(models: mp.Input[List[mp.Model]]) -> str:
    _state["calls"] += 1
    assert all(isinstance(m, mp.Model) for m in models)
    return ",".join(m.read_text() for m in models)


def pick_rows(models: Input[List[Model]]) -> str:
    # Bare names: a subprocess component's source is run with them defined.
    return ";".join(",".join(m.read_text() for m in row) for row in models)


@mp.pipeline
def train_all(xs: list):
    with mp.ParallelFor(xs) as x:
        t = train(x=x)
    return pick(models=mp.Collected(t.outputs["model"])).output


def test_collected_artifacts_feed_a_list_input_with_lineage():
    _reset()
    run = mp.run(train_all, arguments={"xs": [3, 1, 2]}).wait()
    assert run.status == "succeeded", run.error
    assert run.outputs == {"output": "model-3,model-1,model-2"}
    arts = {a.producer["task"]: a for a in run.artifacts}
    assert sorted(arts) == ["train[0]", "train[1]", "train[2]"]
    for i in range(3):
        consumers = arts[f"train[{i}]"].consumers
        assert [(c["task"], c["input"]) for c in consumers] == [("pick", f"models[{i}]")]
        assert arts[f"train[{i}]"].metadata == {"x": [3, 1, 2][i]}


def test_collected_artifacts_are_cached_by_content():
    _reset()
    assert mp.run(train_all, arguments={"xs": [1, 2]}).wait().status == "succeeded"
    again = mp.run(train_all, arguments={"xs": [1, 2]}).wait()
    assert again.task("pick").status == "cached"
    assert _state["calls"] == 1
    _state["salt"] = "b"  # the trainers write other bytes: pick's key changes
    changed = mp.run(train_all, arguments={"xs": [1, 2]}).wait()
    assert changed.task("pick").status == "succeeded"
    assert changed.outputs == {"output": "model-1b,model-2b"}


@pytest.mark.parametrize("mode", ["inprocess", "subprocess"])
def test_collected_artifacts_across_nested_loops(mode):
    _reset()
    reader = mp.component(pick_rows, mode=mode, name=f"pick-rows-{mode}")

    @mp.pipeline(name=f"nested-models-{mode}")
    def nested(rows: list):
        with mp.ParallelFor(rows) as row:
            with mp.ParallelFor(row) as x:
                t = train(x=x)
        return reader(models=mp.Collected(t.outputs["model"])).output

    run = mp.run(nested, arguments={"rows": [[1, 2], [3]]}).wait()
    assert run.status == "succeeded", run.error
    assert run.outputs == {"output": "model-1,model-2;model-3"}


def test_artifact_list_mistakes_are_caught_when_defined():
    @mp.component
    def one(model: mp.Input[mp.Model]) -> str:
        return model.read_text()

    @mp.pipeline
    def single_input():
        with mp.ParallelFor([1, 2]) as x:
            t = train(x=x)
        one(model=mp.Collected(t.outputs["model"]))

    with pytest.raises(ValueError, match="must be a list of Model artifacts"):
        single_input.build()

    with pytest.raises(TypeError, match="only inputs take a list"):
        @mp.component
        def writes_many(models: mp.Output[List[mp.Model]]):
            pass
