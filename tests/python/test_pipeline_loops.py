"""ParallelFor decided at run time from Python: fan-out over a task's list output, gathering
with Collected, the parallelism limit (by counters), failures naming the iteration, resume."""

import threading
import time

import pytest

from mlcore import pipelines as mp

# Counters the components below keep (shared with test_pipeline_loops_nested): calls, running
# and its max, an item to fail on, and a salt the nested tests' trainers write.
_lock = threading.Lock()
_state = {"calls": 0, "running": 0, "max": 0, "fail": None, "salt": ""}


def _reset(**kw):
    _state.update(calls=0, running=0, max=0, fail=None, salt="")
    _state.update(kw)


@mp.component
def make(n: int) -> list:
    return list(range(n))


@mp.component(caching=False)
def square(x: int) -> int:
    with _lock:
        _state["calls"] += 1
        _state["running"] += 1
        _state["max"] = max(_state["max"], _state["running"])
    time.sleep(0.02)  # long enough for iterations allowed to overlap to do so
    with _lock:
        _state["running"] -= 1
    if x == _state["fail"]:
        raise ValueError(f"cannot square {x}")
    return x * x


@mp.component
def total(values: list) -> int:
    return sum(values)


def fan(parallelism=0):
    @mp.pipeline(name=f"fan-{parallelism}")
    def p(n: int = 3):
        items = make(n=n)
        with mp.ParallelFor(items.output, parallelism=parallelism) as item:
            sq = square(x=item)
        return total(values=mp.Collected(sq.output)).output
    return p


@pytest.mark.parametrize("n", [0, 1, 6])
def test_fan_out_over_a_task_output_and_collect(n):
    _reset()
    run = mp.run(fan(), arguments={"n": n}).wait()
    assert run.status == "succeeded", run.error
    assert run.outputs == {"output": sum(i * i for i in range(n))}
    assert _state["calls"] == n
    names = [t.name for t in run.tasks]
    assert names[:3] == ["make", "for-loop-1", "total"]
    assert sorted(names[3:]) == sorted(f"square[{i}]" for i in range(n))
    assert run.task("for-loop-1").outputs == {"iterations": n}


def test_parallelism_limit_is_observed():
    _reset()
    run = mp.run(fan(parallelism=2), arguments={"n": 8}, max_parallelism=8).wait()
    assert run.status == "succeeded", run.error
    assert _state["calls"] == 8
    assert 1 <= _state["max"] <= 2


def test_failing_iteration_fails_the_run_naming_it_then_resume():
    _reset(fail=2)
    p = fan()
    run = mp.run(p, arguments={"n": 4}).wait()
    assert run.status == "failed"
    assert "iteration 2" in run.error and "square[2]" in run.error
    assert "cannot square 2" in run.error
    states = {t.name: t.status for t in run.tasks}
    assert states["square[2]"] == "failed" and states["square[3]"] == "succeeded"
    assert states["total"] == "skipped"
    _reset()
    resumed = run.resume().wait()
    assert resumed.status == "succeeded", resumed.error
    assert _state["calls"] == 1  # only the failed iteration ran again
    assert resumed.outputs == {"output": 0 + 1 + 4 + 9}


def test_loop_over_constant_list_with_dict_items_and_conditions():
    @mp.component
    def scale(x: int, k: int) -> int:
        return x * k

    @mp.pipeline
    def grid():
        with mp.ParallelFor([{"x": 1, "k": 2}, {"x": 3, "k": 4}, {"x": 5, "k": 6}]) as p:
            with mp.If(p.x > 1):
                s = scale(x=p.x, k=p["k"])
        return total(values=mp.Collected(s.output)).output

    run = mp.run(grid).wait()
    assert run.status == "succeeded", run.error
    assert run.outputs == {"output": 12 + 30}
    states = {t.name: t.status for t in run.tasks}
    assert states["scale[0]"] == "skipped" and states["scale[2]"] == "succeeded"


def test_loop_mistakes_are_caught_when_defined():
    @mp.pipeline
    def leaks():
        with mp.ParallelFor([1, 2]) as item:
            sq = square(x=item)
        total(values=[sq.output])

    with pytest.raises(ValueError, match="Collected"):
        leaks.build()

    @mp.pipeline
    def inner_over_a_sibling():
        with mp.ParallelFor([[1], [2]]) as row:
            pass
        with mp.ParallelFor([3]):
            with mp.ParallelFor(row):
                pass

    with pytest.raises(ValueError, match="not nested in"):
        inner_over_a_sibling.build()

    @mp.pipeline
    def unrolled_over_output():
        for _ in mp.ParallelFor(make(n=2).output):
            pass

    with pytest.raises(TypeError, match="with mlcore.ParallelFor"):
        unrolled_over_output.build()

    @mp.pipeline
    def not_a_list():
        with mp.ParallelFor(total(values=[1]).output):
            pass

    with pytest.raises(ValueError, match="not a list"):
        not_a_list.build()


def test_iteration_logs_are_per_iteration(tmp_path):
    @mp.component(mode="subprocess", caching=False)
    def shout(x: int) -> int:
        print("iteration item", x)
        return x

    @mp.pipeline
    def loud():
        with mp.ParallelFor([7, 8]) as item:
            s = shout(x=item)
        return total(values=mp.Collected(s.output)).output

    run = mp.run(loud).wait()
    assert run.status == "succeeded", run.error
    assert "iteration item 7" in run.task("shout[0]").logs()
    assert "iteration item 8" in run.task("shout[1]").logs()


def test_drawn_dag_has_the_loop_edges():
    svg = fan(2)._repr_svg_()
    # make -> square (its items), square -> total (collected)
    assert svg.count("<rect") == 3 and svg.count("<polyline") == 2
