"""mlcore.pipelines.OneOf (KFP's dsl.OneOf): the reader after an If/Elif/Else chain gets the
output of the branch that ran, locally (parameters and artifacts, through the cache too); bad
OneOfs are refused when the reader is added; and mlcore.compile emits the condition-branches
outputs KFP's compiler emits for the same kfp.dsl pipeline."""

import pytest

from mlcore import pipelines as mp
from mlcore.pipelines import Dataset, Input, Model, Output


@mp.component
def pick_word(word: str) -> str:
    return word


@mp.component
def say(msg: str) -> str:
    return msg


@mp.component
def echo(msg: str) -> str:
    return msg


@mp.component
def make(out: Output[Dataset], text: str = "x"):
    with open(out.path, "w") as f:
        f.write(text)


@mp.component
def make_model(out: Output[Model]):
    with open(out.path, "w") as f:
        f.write("m")


@mp.component
def read(d: Input[Dataset]) -> str:
    with open(d.path) as f:
        return f.read()


@mp.component
def count(n: int) -> int:
    return n


@mp.pipeline(name="oneof-local")
def chain(word: str = "a"):
    w = pick_word(word=word)
    with mp.If(w.output == "a"):
        a = say(msg="from a")
        ad = make(text="data a")
    with mp.Elif(w.output == "b"):
        b = say(msg="from b")
        bd = make(text="data b")
    with mp.Else():
        c = say(msg="from c")
        cd = make(text="data c")
    echo(msg=mp.OneOf(a.output, b.output, c.output))
    read(d=mp.OneOf(ad.outputs["out"], bd.outputs["out"], cd.outputs["out"]))


@pytest.mark.parametrize("word", ["a", "b", "c"])
def test_reader_gets_the_branch_that_ran(word):
    run = mp.run(chain, arguments={"word": word}, enable_caching=False).wait()
    assert run.state == "succeeded", run.record.get("error")
    tasks = {t.name: t for t in run.tasks}
    assert tasks["echo"].outputs["output"] == f"from {word}"
    assert tasks["read"].outputs["output"] == f"data {word}"
    branch = {"a": "say", "b": "say-2", "c": "say-3"}[word]
    for name in ("say", "say-2", "say-3"):
        assert tasks[name].state == ("succeeded" if name == branch else "skipped")


def test_cache_key_is_the_value_the_reader_got():
    first = mp.run(chain, arguments={"word": "a"}).wait()
    other = mp.run(chain, arguments={"word": "b"}).wait()
    again = mp.run(chain, arguments={"word": "a"}).wait()
    assert first.task("echo").state == "succeeded"
    assert other.task("echo").state == "succeeded"
    assert other.task("echo").outputs["output"] == "from b"
    assert again.task("echo").state == "cached"
    assert again.task("read").state == "cached"
    assert again.task("read").outputs["output"] == "data a"


def _define(body):
    @mp.pipeline(name="oneof-bad")
    def p(word: str = "a"):
        body(word)
    return p


def _chain(word, with_else=True):
    with mp.If(word == "a"):
        a = say(msg="a")
        ad = make()
    with mp.Elif(word == "b"):
        b = say(msg="b")
        bm = make_model()
    out = {"a": a, "ad": ad, "b": b, "bm": bm}
    if with_else:
        with mp.Else():
            out["c"] = say(msg="c")
    return out


def test_definition_errors_name_the_problem():
    def same_branch(word):
        t = _chain(word)
        say(msg=mp.OneOf(t["a"].output, t["a"].output))

    def mixed(word):
        t = _chain(word)
        say(msg=mp.OneOf(t["a"].output, t["bm"].outputs["out"]))

    def artifact_types(word):
        t = _chain(word)
        read(d=mp.OneOf(t["ad"].outputs["out"], t["bm"].outputs["out"]))

    def two_chains(word):
        t = _chain(word)
        with mp.If(word == "x"):
            x = say(msg="x")
        with mp.Else():
            say(msg="y")
        say(msg=mp.OneOf(t["a"].output, x.output))

    def outside(word):
        t = _chain(word)
        o = say(msg="o")
        say(msg=mp.OneOf(t["a"].output, o.output))

    def no_else(word):
        t = _chain(word, with_else=False)
        say(msg=mp.OneOf(t["a"].output, t["b"].output))

    def wrong_input_type(word):
        t = _chain(word)
        count(n=mp.OneOf(t["a"].output, t["c"].output))

    cases = {
        same_branch: "items 0 and 1 both come from branch 'condition-",
        mixed: "item 1 (make-model.out) is a Model but item 0 is a str",
        artifact_types: "is a Model but item 0 is a Dataset",
        two_chains: "come from different If/Elif/Else chains",
        outside: "task 'say-4' is not directly in an If/Elif/Else branch",
        no_else: "which has no Else",
        wrong_input_type: "expects int but is given a str",
    }
    for body, message in cases.items():
        with pytest.raises(ValueError, match="OneOf|expects") as e:
            _define(body).build()
        assert message in str(e.value), (body.__name__, str(e.value))
    with pytest.raises(TypeError, match="takes task outputs"):
        mp.OneOf("a constant")


# The compile comparison with kfp's compiler for the same kfp.dsl pipeline.
yaml = pytest.importorskip("yaml")
kfp_dsl = pytest.importorskip("kfp.dsl")
kfp_compiler = pytest.importorskip("kfp.compiler")


def _kfp_components():
    @kfp_dsl.component(base_image="python:3.11")
    def pick_word(word: str) -> str:
        return word

    @kfp_dsl.component(base_image="python:3.11")
    def say(msg: str) -> str:
        return msg

    @kfp_dsl.component(base_image="python:3.11")
    def echo(msg: str) -> str:
        return msg

    @kfp_dsl.component(base_image="python:3.11")
    def make(out: kfp_dsl.Output[kfp_dsl.Dataset], text: str = "x"):
        with open(out.path, "w") as f:
            f.write(text)

    @kfp_dsl.component(base_image="python:3.11")
    def read(d: kfp_dsl.Input[kfp_dsl.Dataset]) -> str:
        with open(d.path) as f:
            return f.read()

    return locals()


def _shape(doc):
    """The DAG facts both compilers decide: per DAG component its tasks' component, deps and
    input sources, its inputs and its dag outputs (OneOf selectors included). kfp calls a single
    output 'Output' where mlcore says 'output'."""
    import json
    shape = {}
    comps = doc["components"]
    for name, comp in [("root", doc["root"])] + [(k, v) for k, v in comps.items() if "dag" in v]:
        tasks = {}
        for tname, t in comp["dag"]["tasks"].items():
            ins = {**t.get("inputs", {}).get("parameters", {}),
                   **t.get("inputs", {}).get("artifacts", {})}
            tasks[tname] = {"after": sorted(t.get("dependentTasks", [])), "inputs": ins,
                            "trigger": t.get("triggerPolicy", {})}
        shape[name] = {"tasks": tasks, "outputs": comp["dag"].get("outputs", {}),
                       "outdefs": comp.get("outputDefinitions", {}),
                       "indefs": comp.get("inputDefinitions", {})}
    text = json.dumps(shape, sort_keys=True).replace("-Output", "-output")
    return json.loads(text.replace('"Output"', '"output"'))


def test_compile_matches_kfp_oneof(tmp_path):
    k = _kfp_components()

    @kfp_dsl.pipeline(name="oneof-local")
    def theirs(word: str = "a"):
        w = k["pick_word"](word=word)
        with kfp_dsl.If(w.output == "a"):
            a = k["say"](msg="from a")
            ad = k["make"](text="data a")
        with kfp_dsl.Elif(w.output == "b"):
            b = k["say"](msg="from b")
            bd = k["make"](text="data b")
        with kfp_dsl.Else():
            c = k["say"](msg="from c")
            cd = k["make"](text="data c")
        k["echo"](msg=kfp_dsl.OneOf(a.output, b.output, c.output))
        k["read"](d=kfp_dsl.OneOf(ad.outputs["out"], bd.outputs["out"], cd.outputs["out"]))

    kpath = tmp_path / "kfp.yaml"
    kfp_compiler.Compiler().compile(theirs, str(kpath))
    theirs_doc = yaml.safe_load(kpath.read_text())
    ours_doc = yaml.safe_load(mp.compile(chain, str(tmp_path / "ours.yaml")))
    assert _shape(ours_doc) == _shape(theirs_doc)
    # The facts spelled out, as KFP's backend reads them.
    outs = ours_doc["components"]["comp-condition-branches-1"]["dag"]["outputs"]
    sel = outs["parameters"]["pipelinechannel--condition-branches-1-oneof-1"]
    assert [s["producerSubtask"] for s in sel["valueFromOneof"]["parameterSelectors"]] == \
        ["condition-2", "condition-3", "condition-4"]
    arts = outs["artifacts"]["pipelinechannel--condition-branches-1-oneof-2"]
    assert arts["artifactSelectors"][2] == {"producerSubtask": "condition-4",
                                            "outputArtifactKey": "pipelinechannel--make-3-out"}
    reader = ours_doc["root"]["dag"]["tasks"]["read"]
    assert reader["dependentTasks"] == ["condition-branches-1"]
    assert reader["inputs"]["artifacts"]["d"]["taskOutputArtifact"] == {
        "producerTask": "condition-branches-1",
        "outputArtifactKey": "pipelinechannel--condition-branches-1-oneof-2"}


def test_compile_matches_kfp_reader_in_a_group_after_the_chain(tmp_path):
    k = _kfp_components()

    @kfp_dsl.pipeline(name="oneof-nested")
    def theirs(w: str = "a"):
        with kfp_dsl.If(w == "a"):
            a = k["say"](msg="a")
        with kfp_dsl.Else():
            b = k["say"](msg="b")
        with kfp_dsl.If(w != "z"):
            k["echo"](msg=kfp_dsl.OneOf(a.output, b.output))

    @mp.pipeline(name="oneof-nested")
    def ours(w: str = "a"):
        with mp.If(w == "a"):
            a = say(msg="a")
        with mp.Else():
            b = say(msg="b")
        with mp.If(w != "z"):
            echo(msg=mp.OneOf(a.output, b.output))

    kpath = tmp_path / "kfp.yaml"
    kfp_compiler.Compiler().compile(theirs, str(kpath))
    theirs_doc = yaml.safe_load(kpath.read_text())
    ours_doc = yaml.safe_load(mp.compile(ours, str(tmp_path / "ours.yaml")))
    assert _shape(ours_doc) == _shape(theirs_doc)
    # Locally the reader inside the If gets the Else's value.
    run = mp.run(ours, arguments={"w": "q"}).wait()
    assert run.task("echo").outputs["output"] == "b"


def test_oneof_in_a_parallel_for_body_runs_per_iteration():
    @mp.pipeline(name="oneof-loop")
    def looped(items: list = [1, 2, 3]):
        with mp.ParallelFor(items) as it:
            with mp.If(it == 2):
                a = say(msg="two")
            with mp.Else():
                b = say(msg="other")
            echo(msg=mp.OneOf(a.output, b.output))

    run = mp.run(looped).wait()
    assert run.state == "succeeded"
    got = {t.name: t.outputs["output"] for t in run.tasks if t.name.startswith("echo[")}
    assert got == {"echo[0]": "other", "echo[1]": "two", "echo[2]": "other"}


def test_plain_read_of_a_branch_is_refused_at_compile_naming_oneof(tmp_path):
    @mp.pipeline(name="plain-read")
    def plain(word: str = "a"):
        with mp.If(word == "a"):
            a = say(msg="a")
        with mp.Else():
            say(msg="b")
        say(msg=a.output)

    with pytest.raises(Exception, match="OneOf"):
        mp.compile(plain, str(tmp_path / "p.yaml"))


def test_oneof_is_reexported_at_the_top_level_like_the_other_dsl_names():
    import mlcore
    import mlcore.pipelines
    assert mlcore.OneOf is mlcore.pipelines.OneOf and "OneOf" in mlcore.__all__
