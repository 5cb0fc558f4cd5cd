"""Pipelines from Python: definition-time validation, in-process and subprocess components,
artifacts and lineage, caching, records and control flow, on real stores and processes."""

from typing import NamedTuple

import pytest

from mlcore import pipelines as mp
from mlcore.pipelines import Dataset, Input, Metrics, Model, Output


@mp.component
def make_data(n: int, data: Output[Dataset]):
    with open(data.path, "w") as f:
        f.write("\n".join(str(i) for i in range(n)))
    data.metadata["rows"] = n


@mp.component(mode="subprocess")
def train(data: Input[Dataset], model: Output[Model], lr: float = 0.1) -> float:
    rows = data.read_text().split("\n")
    with open(model.path, "w") as f:
        f.write(f"w={len(rows) * lr}")
    model.metadata["framework"] = "toy"
    print("trained on", len(rows), "rows")
    return len(rows) * lr


class Scores(NamedTuple):
    accuracy: float
    label: str


@mp.component
def evaluate(model: Input[Model], metrics: Output[Metrics]) -> Scores:
    metrics.log_metric("accuracy", 0.75)
    return Scores(0.75, model.read_text())


@mp.pipeline
def train_pipeline(n: int = 10, lr: float = 0.5):
    data = make_data(n=n)
    t = train(data=data.outputs["data"], lr=lr)
    e = evaluate(model=t.outputs["model"])
    return {"loss": t.outputs["output"], "accuracy": e.outputs["accuracy"],
            "model": t.outputs["model"]}


def test_run_records_outputs_artifacts_and_lineage():
    run = mp.run(train_pipeline, arguments={"n": 4}, experiment="exp1").wait()
    assert run.status == "succeeded", run.error
    assert run.outputs["loss"] == pytest.approx(2.0)
    assert run.outputs["accuracy"] == 0.75
    model = run.outputs["model"]
    assert isinstance(model, Model)
    assert model.read_text() == "w=2.0"
    assert model.metadata == {"framework": "toy"}
    assert model.producer["task"] == "train"
    assert [c["task"] for c in model.consumers] == ["evaluate"]
    tasks = {t.name: t for t in run.tasks}
    assert set(tasks) == {"make-data", "train", "evaluate"}
    assert all(t.state == "succeeded" for t in tasks.values())
    assert "trained on 4 rows" in tasks["train"].logs()
    assert tasks["evaluate"].outputs["label"] == "w=2.0"
    data = tasks["make-data"].outputs["data"]
    assert data.metadata["rows"] == 4 and data.read_text() == "0\n1\n2\n3"
    assert [r.id for r in mp.runs(experiment="exp1")] == [run.id]
    assert mp.runs(experiment="nope") == []
    assert mp.runs(namespace="other-team") == []


def test_cache_hits_across_processes_state_cached():
    first = mp.run(train_pipeline).wait()
    assert first.status == "succeeded"
    second = mp.run(train_pipeline).wait()
    assert [t.state for t in second.tasks] == ["cached"] * 3
    assert second.outputs["loss"] == first.outputs["loss"]
    third = mp.run(train_pipeline, arguments={"lr": 0.25}).wait()
    states = {t.name: t.state for t in third.tasks}
    assert states == {"make-data": "cached", "train": "succeeded", "evaluate": "succeeded"}
    fresh = mp.run(train_pipeline, enable_caching=False).wait()
    assert {t.state for t in fresh.tasks} == {"succeeded"}


@mp.component
def add(a: int, b: int) -> int:
    return a + b


@mp.component
def takes_int(x: int) -> int:
    return x


@mp.component
def takes_dataset(d: Input[Dataset]) -> int:
    return 1


def test_definition_errors_name_component_and_input():
    @mp.pipeline
    def wrong_type():
        d = make_data(n=3)
        takes_int(x=d.outputs["data"])

    with pytest.raises(ValueError, match="component 'takes-int'.*input 'x' expects int but is "
                                         "given a Dataset"):
        wrong_type.build()

    @mp.pipeline
    def unknown_input():
        add(a=1, b=2, c=3)

    with pytest.raises(ValueError, match="component 'add' has no input 'c'"):
        unknown_input.build()

    @mp.pipeline
    def missing():
        add(a=1)

    with pytest.raises(ValueError, match="missing input 'b'"):
        missing.build()

    @mp.pipeline
    def bad_constant():
        add(a="one", b=2)

    with pytest.raises(ValueError, match="input 'a': expected int, got string"):
        bad_constant.build()

    @mp.pipeline
    def artifact_from_constant():
        takes_dataset(d=3)

    with pytest.raises(ValueError, match="must come from a task output"):
        artifact_from_constant.build()

    @mp.pipeline
    def cycle():
        a = add(a=1, b=2)
        b = add(a=a.output, b=2)
        a.after(b)

    with pytest.raises(ValueError, match="cycle"):
        cycle.build()

    with pytest.raises(ValueError, match="has no parameter 'm'"):
        mp.run(train_pipeline, arguments={"m": 1})
    with pytest.raises(ValueError, match="parameter 'n': expected int"):
        mp.run(train_pipeline, arguments={"n": "ten"})
    with pytest.raises(TypeError, match="needs a type annotation"):
        @mp.component
        def untyped(x):
            return x


def test_task_names_are_unique_and_after_orders_without_data():
    order = []

    @mp.component
    def note(tag: str):
        order.append(tag)

    @mp.pipeline
    def ordered():
        first = note(tag="first")
        note(tag="second").after(first)

    run = mp.run(ordered, enable_caching=False).wait()
    assert run.status == "succeeded"
    assert [t.name for t in run.tasks] == ["note", "note-2"]
    assert order == ["first", "second"]


@mp.component
def flip() -> str:
    return "heads"


@mp.component
def say(word: str) -> str:
    return word


@mp.component
def fail_now():
    raise RuntimeError("deliberate")


def test_if_elif_else_and_exit_handler():
    @mp.pipeline
    def branches():
        f = flip()
        with mp.If(f.output == "tails"):
            say(word="tails")
        with mp.Elif(f.output == "heads"):
            say(word="heads")
        with mp.Else():
            say(word="edge")
        cleanup = say(word="cleanup")
        with mp.ExitHandler(cleanup):
            fail_now()

    run = mp.run(branches, enable_caching=False).wait()
    assert run.status == "failed"
    states = {t.name: (t.state, t.outputs.get("output")) for t in run.tasks}
    assert states["say"][0] == "skipped"
    assert states["say-2"] == ("succeeded", "heads")
    assert states["say-3"][0] == "skipped"
    assert states["say-4"] == ("succeeded", "cleanup")
    assert "deliberate" in run.error and "fail-now" in run.error


@mp.component
def total(values: list) -> int:
    return sum(values)


def test_parallel_for_results_gathered_into_a_list():
    @mp.pipeline
    def gather(extra: int = 1000):
        outs = []
        for item in mp.ParallelFor([1, 2, 3]):
            outs.append(add(a=item, b=item).output)
        return total(values=outs + [extra, 7]).output

    run = mp.run(gather).wait()
    assert run.status == "succeeded", run.error
    assert run.outputs == {"output": 2 + 4 + 6 + 1000 + 7}

    @mp.pipeline
    def gather_artifacts():
        total(values=[make_data(n=1).outputs["data"]])

    with pytest.raises(ValueError, match="only parameters can be gathered"):
        gather_artifacts.build()

    @mp.pipeline
    def gather_into_int():
        takes_int(x=[add(a=1, b=2).output])

    with pytest.raises(ValueError, match="only a list input can gather"):
        gather_into_int.build()


def test_parallel_for_with_parallelism_and_nested_pipeline():
    @mp.pipeline
    def inner(x: int = 0):
        return add(a=x, b=100).output

    @mp.pipeline
    def fan():
        outs = []
        for item in mp.ParallelFor([1, 2, 3, 4], parallelism=2):
            outs.append(add(a=item, b=item))
        return {"nested": inner(x=5), "last": outs[-1]}

    built = fan.build()
    assert len(built.task_names) == 5
    run = mp.run(fan).wait()
    assert run.status == "succeeded", run.error
    assert run.outputs == {"nested": 105, "last": 8}
    with pytest.raises(TypeError, match="with mlcore.ParallelFor"):
        @mp.pipeline
        def dynamic():
            for _ in mp.ParallelFor(flip().output):
                pass
        dynamic.build()


def test_component_called_outside_a_pipeline_is_the_function():
    assert add(2, 3) == 5
    with pytest.raises(TypeError, match="mlcore.run"):
        train_pipeline()


def test_pipeline_digest_is_stable_and_tracks_code():
    assert train_pipeline.digest == train_pipeline.build().digest
    assert len(train_pipeline.digest) == 64


def test_svg_views_and_progress(capsys):
    svg = train_pipeline._repr_svg_()
    assert svg.startswith("<svg") and svg.count("<rect") == 3 and svg.count("<polyline") == 2
    run = mp.run(train_pipeline).wait(progress=True)
    assert "3/3 tasks" in capsys.readouterr().err
    coloured = run._repr_svg_()
    assert coloured.count('fill="#a5d6a7"') == 3  # succeeded
    assert "train: succeeded" in coloured
    page = run._repr_html_()
    assert "<table>" in page and "<svg" in page and page.count("<rect") == 3
