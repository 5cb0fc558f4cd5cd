"""mlcore.compile gives If/Elif/Else, ExitHandler and pipelines used as components the sub-DAG
shape KFP's own compiler gives them: each new shape parses into PipelineSpec with no unknown
fields, loads with the kfp SDK, and matches what kfp compiles for the same pipeline written with
kfp.dsl (component and DAG task names, dependencies, triggers, iterators, where inputs come
from)."""

import json
from types import SimpleNamespace

import pytest
import yaml

from mlcore import pipelines as mp
from mlcore.pipelines import Dataset, Output

pipeline_spec_pb2 = pytest.importorskip("kfp.pipeline_spec.pipeline_spec_pb2")
json_format = pytest.importorskip("google.protobuf.json_format")
kfp_dsl = pytest.importorskip("kfp.dsl")
kfp_compiler = pytest.importorskip("kfp.compiler")
kfp_components = pytest.importorskip("kfp.components")

from test_pipeline_compile import _parse  # noqa: E402  (the IR parsed with no unknown fields)


def _kfp_doc(pipeline_func, tmp_path):
    path = tmp_path / "kfp.yaml"
    kfp_compiler.Compiler().compile(pipeline_func, str(path))
    return yaml.safe_load(path.read_text())


def _ours(pipeline_def, tmp_path):
    path = tmp_path / "ours.yaml"
    text = mp.compile(pipeline_def, str(path))
    doc, _, _ = _parse(text)
    loaded = kfp_components.load_component_from_file(str(path))
    assert loaded.name == pipeline_def.name
    return doc


def _numbers_as_floats(x):
    if isinstance(x, list):
        return [_numbers_as_floats(v) for v in x]
    if isinstance(x, dict):
        return {k: _numbers_as_floats(v) for k, v in x.items()}
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else x


def _source(v):
    """Where a task input comes from: a constant, a component input or a task output."""
    selector = ("selector", v["parameterExpressionSelector"]) \
        if "parameterExpressionSelector" in v else ()
    if "runtimeValue" in v:
        return ("const", _numbers_as_floats(v["runtimeValue"]["constant"]))
    for kind in ("componentInputParameter", "componentInputArtifact"):
        if kind in v:
            return ("input", v[kind]) + selector
    out = v.get("taskOutputParameter") or v["taskOutputArtifact"]
    return ("task", out["producerTask"],
            out.get("outputParameterKey") or out["outputArtifactKey"]) + selector


def _iterator(it):
    """A constant list's items as values (kfp writes the JSON with spaces, mlcore without)."""
    if it and "raw" in it.get("items", {}):
        return {**it, "items": {"raw": json.loads(it["items"]["raw"])}}
    return it


def dag_shape(doc):
    """What the compilers decide about DAGs: per DAG component (and the root), its tasks with the
    component they run (a sub-DAG by name, a container as 'leaf'), display name, dependencies,
    trigger, iterator and input sources; the component's inputs and dag outputs. kfp calls a
    single output 'Output' where mlcore says 'output'; numbers are compared as floats."""
    comps = doc["components"]
    shape = {}
    scopes = [("root", doc["root"])] + [(k, v) for k, v in comps.items() if "dag" in v]
    for name, comp in scopes:
        tasks = {}
        for tname, t in comp["dag"]["tasks"].items():
            ref = t["componentRef"]["name"]
            inputs = {**t.get("inputs", {}).get("parameters", {}),
                      **t.get("inputs", {}).get("artifacts", {})}
            tasks[tname] = {
                "runs": ref if "dag" in comps.get(ref, {}) else "leaf",
                "name": t["taskInfo"]["name"],
                "after": sorted(t.get("dependentTasks", [])),
                "trigger": t.get("triggerPolicy", {}),
                "iterator": _iterator(t.get("parameterIterator")),
                "limit": t.get("iteratorPolicy"),
                "inputs": {k: _source(v) for k, v in inputs.items()},
            }
        defs = comp.get("inputDefinitions", {})
        shape[name] = {
            "tasks": tasks,
            "inputs": {k: v["parameterType"] for k, v in defs.get("parameters", {}).items()},
            "artifact_inputs": sorted(defs.get("artifacts", {})),
            "outputs": comp["dag"].get("outputs", {}),
        }
    text = json.dumps(shape, sort_keys=True).replace("-Output", "-output")
    return json.loads(text.replace('"Output"', '"output"'))


# The same components for both compilers: kfp's from kfp.dsl (named as ours are: kfp names a
# component after its function), ours from their python_func.

def _kfp_components():
    @kfp_dsl.component(base_image="python:3.11")
    def flip(n: int) -> str:
        return "heads" if n % 2 else "tails"

    @kfp_dsl.component(base_image="python:3.11")
    def num() -> float:
        return 0.75

    @kfp_dsl.component(base_image="python:3.11")
    def show(msg: str, x: int = 1) -> int:
        print(msg)
        return x

    @kfp_dsl.component(base_image="python:3.11")
    def dbl(v: int) -> int:
        return 2 * v

    @kfp_dsl.component(base_image="python:3.11")
    def add_one(v: int, tag: str) -> int:
        return v + 1

    @kfp_dsl.component(base_image="python:3.11")
    def make(out: kfp_dsl.Output[kfp_dsl.Dataset], n: int = 1):
        with open(out.path, "w") as f:
            f.write(str(n))

    @kfp_dsl.component(base_image="python:3.11")
    def use(d: kfp_dsl.Input[kfp_dsl.Dataset]) -> int:
        return 1

    @kfp_dsl.component(base_image="python:3.11")
    def make_items(n: int) -> list:
        return list(range(n))

    @kfp_dsl.component(base_image="python:3.11")
    def square(x: int) -> int:
        return x * x

    @kfp_dsl.component(base_image="python:3.11")
    def total(values: list) -> int:
        return sum(values)

    return locals()


_K = _kfp_components()
k_flip, k_num, k_show, k_dbl, k_add_one = (_K[n] for n in ("flip", "num", "show", "dbl",
                                                          "add_one"))
k_make, k_use, k_make_items, k_square, k_total = (_K[n] for n in ("make", "use", "make_items",
                                                                  "square", "total"))

flip = mp.component(k_flip.python_func, name="flip")
num = mp.component(k_num.python_func, name="num")
show = mp.component(k_show.python_func, name="show")
dbl = mp.component(k_dbl.python_func, name="dbl")
add_one = mp.component(k_add_one.python_func, name="add-one")
make_items = mp.component(k_make_items.python_func, name="make-items")
square = mp.component(k_square.python_func, name="square")
total = mp.component(k_total.python_func, name="total")


@mp.component(name="make")
def make(out: Output[Dataset], n: int = 1):
    with open(out.path, "w") as f:
        f.write(str(n))


@mp.component(name="use")
def use(d: mp.Input[Dataset]) -> int:
    return 1


# One pipeline for both compilers: a test writes it once as build(d), d being the namespace of
# kfp's DSL and components (KFP) or ours (MP), and _both compiles it with each.
_DSL = ("pipeline", "ParallelFor", "If", "Elif", "Else", "ExitHandler", "Collected", "Dataset")
_COMPONENTS = ("flip", "num", "show", "dbl", "add_one", "make", "use", "make_items", "square",
               "total")
# A pipeline used as a component gives a task in kfp (its output is .output), the output in mlcore.
KFP = SimpleNamespace(**{n: getattr(kfp_dsl, n) for n in _DSL}, **{n: _K[n] for n in _COMPONENTS},
                      pipeline_output=lambda task: task.output)
MP = SimpleNamespace(**{n: getattr(mp, n) for n in _DSL}, **{n: globals()[n] for n in _COMPONENTS},
                     pipeline_output=lambda output: output)


def _both(name, build, tmp_path, **more):
    """(our IR, kfp's IR) for the pipeline `name` that build(d) writes; `more` gives a module's
    own components as name=(ours, kfp's)."""
    docs = []
    for i, (dsl, compile_doc) in enumerate(((MP, _ours), (KFP, _kfp_doc))):
        d = SimpleNamespace(**vars(dsl), **{k: v[i] for k, v in more.items()})
        docs.append(compile_doc(d.pipeline(name=name)(build(d)), tmp_path))
    return tuple(docs)


def test_if_elif_else_chain_and_nested_if_match_kfp(tmp_path):
    def conds(d):
        def pipeline(n: int = 3, tag: str = "t"):
            f = d.flip(n=n)
            v = d.num()
            with d.If(f.output == "heads"):
                d.show(msg=tag)
                with d.If(v.output > 0.5):
                    d.show(msg=f.output, x=n)
            with d.Elif(f.output == "tails"):
                d.show(msg="tails")
            with d.Else():
                d.show(msg="else")
            with d.If(n > 2):
                d.show(msg="big")
        return pipeline

    mine, kfp = _both("conds", conds, tmp_path)
    assert dag_shape(mine) == dag_shape(kfp)
    # The facts spelled out, as KFP's backend reads them.
    root = mine["root"]["dag"]["tasks"]
    assert sorted(root) == ["condition-6", "condition-branches-1", "flip", "num"]
    assert root["condition-branches-1"]["dependentTasks"] == ["flip", "num"]
    chain = mine["components"]["comp-condition-branches-1"]["dag"]["tasks"]
    assert chain["condition-4"]["triggerPolicy"]["condition"] == (
        "!(inputs.parameter_values['pipelinechannel--flip-output'] == 'heads') && "
        "inputs.parameter_values['pipelinechannel--flip-output'] == 'tails'")
    nested = mine["components"]["comp-condition-3"]["dag"]["tasks"]["condition-2"]
    assert nested["triggerPolicy"]["condition"] == \
        "inputs.parameter_values['pipelinechannel--num-output'] > 0.5"
    inner = mine["components"]["comp-condition-2"]["dag"]["tasks"]["show-2"]
    assert inner["inputs"]["parameters"]["msg"] == \
        {"componentInputParameter": "pipelinechannel--flip-output"}
    assert "triggerPolicy" not in inner


def test_exit_handler_and_pipelines_as_components_match_kfp(tmp_path):
    def exits(d):
        inner = _inner(d)

        @d.pipeline(name="inner-art")
        def inner_art(n: int) -> d.Dataset:
            return d.make(n=n).outputs["out"]

        def pipeline(n: int = 3, tag: str = "t"):
            cleanup = d.show(msg=tag)
            with d.ExitHandler(cleanup):
                f = d.flip(n=n)
                with d.If(f.output == "x", "named-if"):
                    d.show(msg=f.output)
                inner(a=n)
            d.show(msg="after")
            art = inner_art(n=n)
            d.use(d=d.pipeline_output(art))
        return pipeline

    mine, kfp = _both("exits", exits, tmp_path)
    assert dag_shape(mine) == dag_shape(kfp)
    root = mine["root"]["dag"]["tasks"]
    assert root["show"]["dependentTasks"] == ["exit-handler-1"]
    assert root["show"]["triggerPolicy"] == {"strategy": "ALL_UPSTREAM_TASKS_COMPLETED"}
    assert root["use"]["inputs"]["artifacts"]["d"] == \
        {"taskOutputArtifact": {"producerTask": "inner-art", "outputArtifactKey": "output"}}
    sub = mine["components"]["comp-inner"]
    assert sub["dag"]["outputs"]["parameters"]["output"]["valueFromParameter"] == \
        {"producerSubtask": "add-one", "outputParameterKey": "output"}
    assert sub["inputDefinitions"]["parameters"]["s"]["defaultValue"] == "q"
    guarded = mine["components"]["comp-exit-handler-1"]["dag"]["tasks"]
    assert guarded["condition-2"]["taskInfo"]["name"] == "named-if"


def test_conditions_inside_loops_match_kfp(tmp_path):
    def loopcond(d):
        def pipeline(n: int = 3, k: int = 2):
            items = d.make_items(n=n)
            with d.ParallelFor(items.output) as item:
                with d.If(k > 1):
                    d.square(x=item)
        return pipeline

    mine, kfp = _both("loopcond", loopcond, tmp_path)
    assert dag_shape(mine) == dag_shape(kfp)


def test_loop_inside_a_condition_with_collected_results(tmp_path):
    """kfp numbers loops with the groups: the loop opened after the If is for-loop-2 on
    Kubeflow (mlcore's run records still call it for-loop-1)."""
    def condloop(d):
        def pipeline(n: int = 3):
            items = d.make_items(n=n)
            with d.If(n > 1):
                with d.ParallelFor(items.output, parallelism=2) as it:
                    sq = d.square(x=it)
                d.total(values=d.Collected(sq.output))
        return pipeline

    mine_shape, theirs_shape = map(dag_shape, _both("condloop", condloop, tmp_path))
    assert "for-loop-2" in mine_shape["comp-condition-1"]["tasks"]
    # kfp also hands the enclosing condition's operand (n) to the loop, which reads nothing of it.
    del theirs_shape["comp-for-loop-2"]["inputs"]["pipelinechannel--n"]
    del theirs_shape["comp-condition-1"]["tasks"]["for-loop-2"]["inputs"]["pipelinechannel--n"]
    assert mine_shape == theirs_shape


def test_collected_through_a_branch_inside_the_loop_matches_kfp(tmp_path):
    def sparse(d):
        def pipeline(n: int = 3):
            items = d.make_items(n=n)
            with d.ParallelFor(items.output) as it:
                with d.If(it > 1):
                    sq = d.square(x=it)
            d.total(values=d.Collected(sq.output))
        return pipeline

    mine, kfp = map(dag_shape, _both("sparse", sparse, tmp_path))
    # kfp compares a loop item with a number as strings ('1'); mlcore compares numbers.
    branch = mine["comp-for-loop-1"]["tasks"]["condition-2"]
    assert branch.pop("trigger") == {"condition": "double(inputs.parameter_values["
                                                  "'pipelinechannel--make-items-output-loop-item'"
                                                  "]) > 1"}
    del kfp["comp-for-loop-1"]["tasks"]["condition-2"]["trigger"]
    assert mine == kfp
    assert mine["comp-condition-2"]["outputs"]["parameters"]["pipelinechannel--square-output"] == \
        {"valueFromParameter": {"producerSubtask": "square", "outputParameterKey": "output"}}


def test_literal_list_of_outputs_matches_kfp(tmp_path):
    def lit(d):
        def pipeline(n: int = 3):
            a = d.square(x=n)
            b = d.square(x=2)
            d.total(values=[a.output, b.output, 3, n])
        return pipeline

    mine, kfp = _both("lit", lit, tmp_path)
    assert dag_shape(mine) == dag_shape(kfp)
    values = mine["root"]["dag"]["tasks"]["total"]["inputs"]["parameters"]["values"]
    assert values["runtimeValue"]["constant"][0] == \
        "{{$.inputs.parameters['pipelinechannel--square-output']}}"


def test_reading_a_branch_output_outside_it_is_refused_naming_the_task():
    @mp.pipeline(name="leaky")
    def leaky(n: int = 3):
        f = flip(n=n)
        with mp.If(f.output == "heads"):
            v = flip(n=1)
        show(msg=v.output)

    # Locally `show` is skipped with the branch; Kubeflow has no way to pass the value out.
    with pytest.raises(ValueError, match=r"task 'show' input 'msg' reads output 'output' of "
                                         r"task 'flip-2' inside If/Elif/Else branch "
                                         r"'condition-1'.*OneOf"):
        mp.compile(leaky)


def test_else_must_follow_an_if():
    @mp.pipeline(name="lonely")
    def lonely():
        with mp.Else():
            num()

    with pytest.raises(ValueError, match="mlcore.Else: an Elif or Else must follow an If"):
        lonely.build()


def test_groups_keep_run_time_behaviour():
    """A pipeline used inside an If branch runs (inlined) only when the branch holds, and its
    output flows on; the exit task still runs after everything it guards."""
    inner = _inner(MP)

    @mp.pipeline(name="outer")
    def outer(n: int = 3):
        cleanup = show(msg="bye")
        with mp.ExitHandler(cleanup):
            f = flip(n=n)
            with mp.If(f.output == "heads"):
                r = inner(a=n)
                show(msg="in", x=r)
            with mp.Else():
                inner(a=100)

    built = outer.build()
    assert [g["kind"] for g in built.groups] == [
        "exit-handler", "condition", "pipeline", "condition-branches", "condition", "pipeline"]
    run = mp.run(outer, arguments={"n": 3}).wait()
    assert run.status == "succeeded", run.error
    states = {t.name: (t.state, t.outputs.get("output")) for t in run.tasks}
    assert states["dbl"] == ("succeeded", 6)
    assert states["add-one"] == ("succeeded", 7)
    assert states["show-2"] == ("succeeded", 7)
    assert states["dbl-2"][0] == "skipped" and states["add-one-2"][0] == "skipped"
    assert states["show"][0] == "succeeded"


def test_groups_leave_the_pipeline_digest_as_explicit_conditions_give_it():
    """Groups are for the compiler: a pipeline's tasks, conditions and digest (its version and
    cache identity) are what the same tasks with their conditions spelled out give."""
    from mlcore import _mlcore

    @mp.pipeline(name="same")
    def grouped(n: int = 3):
        f = flip(n=n)
        with mp.If(f.output == "heads"):
            show(msg="a")
            with mp.If(n > 1):
                show(msg="b")
        with mp.Elif(f.output == "tails"):
            show(msg="c")
        with mp.Else():
            show(msg="d")

    heads = (["output", "flip", "output"], "==", '"heads"')
    tails = (["output", "flip", "output"], "==", '"tails"')
    big = (["param", "n"], ">", "1")
    plain = _mlcore.pipeline.Pipeline("same", [("n", "int", "3")])
    plain.add_task("flip", flip._cpp, {"n": ["param", "n"]})
    plain.add_task("show", show._cpp, {"msg": ["const", '"a"']}, conditions=[(*heads, False)])
    plain.add_task("show-2", show._cpp, {"msg": ["const", '"b"']},
                   conditions=[(*heads, False), (*big, False)])
    plain.add_task("show-3", show._cpp, {"msg": ["const", '"c"']},
                   conditions=[(*heads, True), (*tails, False)])
    plain.add_task("show-4", show._cpp, {"msg": ["const", '"d"']},
                   conditions=[(*heads, True), (*tails, True)])
    assert grouped.build().to_json() == plain.to_json()
    assert grouped.digest == plain.digest


def test_pipeline_outputs_leave_through_the_sub_dags(tmp_path):
    @mp.pipeline(name="inner")
    def inner(a: int):
        return dbl(v=a).output

    @mp.pipeline(name="outer")
    def outer(n: int = 3):
        cleanup = show(msg="bye")
        with mp.ExitHandler(cleanup):
            inner(a=n)
        return inner(a=2)

    doc = _ours(outer, tmp_path)
    assert doc["root"]["dag"]["outputs"]["parameters"]["output"] == {
        "valueFromParameter": {"producerSubtask": "inner-2", "outputParameterKey": "output"}}
    assert doc["root"]["outputDefinitions"]["parameters"]["output"] == \
        {"parameterType": "NUMBER_INTEGER"}
    # Returned but read by no one: still an output of the inner pipeline's component, as in KFP.
    unread = doc["components"]["comp-inner"]["dag"]["outputs"]["parameters"]["output"]
    assert unread == {"valueFromParameter": {"producerSubtask": "dbl",
                                             "outputParameterKey": "output"}}

    @mp.pipeline(name="guarded-output")
    def guarded(n: int = 3):
        cleanup = show(msg="bye")
        with mp.ExitHandler(cleanup):
            d = dbl(v=n)
        return d.output

    with pytest.raises(ValueError, match=r"pipeline output 'output' reads output 'output' of "
                                         r"task 'dbl' inside ExitHandler 'exit-handler-1'"):
        mp.compile(guarded)


def test_nested_loops_compile_as_nested_sub_dags(tmp_path):
    @mp.pipeline(name="grid")
    def grid():
        with mp.ParallelFor([{"xs": [1, 2], "k": 3}, {"xs": [3], "k": 4}]) as row:
            with mp.ParallelFor(row.xs) as x:
                sq = square(x=x)
                show(msg="m", x=row.k)
            total(values=mp.Collected(sq.output))

    doc = _ours(grid, tmp_path)
    # KFP's numbers: the outer loop's constant list takes 1 (its item) and 2, the inner loop 3.
    outer = doc["components"]["comp-for-loop-2"]["dag"]["tasks"]
    inner_loop = outer["for-loop-3"]
    # The inner loop iterates over the outer item's field, fed as an input of its own ...
    fed = inner_loop["inputs"]["parameters"]["pipelinechannel--loop-item-param-1-subvar-xs"]
    assert fed == {"componentInputParameter": "pipelinechannel--loop-item-param-1",
                   "parameterExpressionSelector": 'parseJson(string_value)["xs"]'}
    assert inner_loop["parameterIterator"]["items"] == \
        {"inputParameter": "pipelinechannel--loop-item-param-1-subvar-xs"}
    # ... apart from the whole outer item, which its body reads a field of.
    body = doc["components"]["comp-for-loop-3"]["dag"]["tasks"]
    assert body["show"]["inputs"]["parameters"]["x"] == {
        "componentInputParameter": "pipelinechannel--loop-item-param-1",
        "parameterExpressionSelector": 'parseJson(string_value)["k"]'}
    # Collected inside the outer body: the inner loop's list for that outer iteration.
    assert outer["total"]["inputs"]["parameters"]["values"] == {"taskOutputParameter": {
        "producerTask": "for-loop-3", "outputParameterKey": "pipelinechannel--square-output"}}


def _inner(d):
    """A pipeline used as a component: dbl then add_one."""
    @d.pipeline(name="inner")
    def inner(a: int, s: str = "q") -> int:
        x = d.dbl(v=a)
        return d.add_one(v=x.output, tag=s).output
    return inner
