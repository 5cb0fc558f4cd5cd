"""mlcore.models and `mlcore models`: versions, aliases, lineage, errors, concurrent processes."""

import json
import os
import subprocess
import sys

import pytest

import mlcore


def _model_dir(tmp_path, name, weights):
    d = tmp_path / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "weights.bin").write_bytes(weights)
    (d / "config.json").write_text('{"units": 3}')
    return d


def test_register_alias_materialize(tmp_path):
    d = _model_dir(tmp_path, "m", b"one")
    v1 = mlcore.models.register("digits", d, metrics={"accuracy": 0.9}, tags={"by": "test"})
    assert (v1.name, v1.version, v1.metrics, v1.tags) == ("digits", 1, {"accuracy": 0.9},
                                                           {"by": "test"})
    (d / "weights.bin").write_bytes(b"two")
    v2 = mlcore.models.register("digits", str(d))
    assert v2.version == 2 and v2.digest != v1.digest
    mlcore.models.set_alias("digits", "production", 1)
    assert mlcore.models.get("digits@production").version == 1
    mlcore.models.set_alias("digits", "production", 2)
    assert mlcore.models.get("digits@production").version == 2
    assert mlcore.models.get("digits").version == 2
    path = mlcore.models.materialize("digits/1")
    assert open(os.path.join(path, "weights.bin"), "rb").read() == b"one"
    [model] = mlcore.models.list()
    assert (model.name, model.latest_version, model.aliases) == ("digits", 2, {"production": 2})
    assert [v.version for v in mlcore.models.versions("digits")] == [1, 2]
    with pytest.raises(ValueError, match="production"):
        mlcore.models.delete_version("digits", 2)
    mlcore.models.delete_version("digits", 2, force=True)
    assert mlcore.models.get("digits").version == 1


def test_bad_input_is_a_clear_error(tmp_path):
    d = _model_dir(tmp_path, "m", b"w")
    for bad in ["", "../x", "a/b", "..", "x y"]:
        with pytest.raises(ValueError, match="model name|model reference"):
            mlcore.models.register(bad, d)
    with pytest.raises(KeyError, match="does not exist"):
        mlcore.models.register("m", tmp_path / "missing")
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        mlcore.models.get("nope")
    mlcore.models.register("m", d)
    with pytest.raises(KeyError, match="no version 4"):
        mlcore.models.get("m/4")
    with pytest.raises(KeyError, match="no alias 'staging'"):
        mlcore.models.get("m@staging")
    with pytest.raises(ValueError, match="bad model reference"):
        mlcore.models.get("m/../../etc")
    with pytest.raises(TypeError):
        mlcore.models.register("m", d, metrics={"f": object()})


def test_trial_lineage(tmp_path):
    class FakeStudy:
        study_name = "search"

    class FakeTrial:
        number = 4
        study = FakeStudy()

    v = mlcore.models.register("t", _model_dir(tmp_path, "m", b"w"), trial=FakeTrial())
    assert v.lineage == {"study": "search", "trial": 4}


def test_pipeline_artifact_lineage(tmp_path):
    @mlcore.component
    def train(model: mlcore.Output[mlcore.Model]):
        with open(model.path, "w") as f:
            f.write("weights")

    @mlcore.pipeline
    def p():
        train()

    run = mlcore.run(p).wait()
    assert run.status == "succeeded"
    v = mlcore.models.register("frompipe", f"run://{run.id}/train/model")
    assert v.lineage["run_id"] == run.id and v.lineage["task"] == "train"
    assert v.lineage["output"] == "model" and v.lineage["artifact_id"] > 0
    path = mlcore.models.materialize("frompipe")
    assert open(os.path.join(path, "model")).read() == "weights"


_WRITER = """
import sys, mlcore
for i in range(int(sys.argv[2])):
    mlcore.models.register("race", sys.argv[1], tags={"writer": sys.argv[3]})
"""


def test_concurrent_processes_get_unique_contiguous_versions(tmp_path):
    d = _model_dir(tmp_path, "m", b"same")
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(d), "6", str(i)])
             for i in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    versions = mlcore.models.versions("race")
    assert [v.version for v in versions] == list(range(1, 25))
    writers = [v.tags["writer"] for v in versions]
    assert sorted(writers) == sorted(str(i) for i in range(4) for _ in range(6))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "mlcore", "models", *args], capture_output=True,
                          text=True, timeout=120)


def test_cli(tmp_path):
    d = _model_dir(tmp_path, "m", b"w")
    out = _cli("register", "digits", str(d), "--metric", "accuracy=0.5", "--tag", "k=v",
               "--alias", "staging")
    assert out.returncode == 0, out.stderr
    assert "registered digits/1" in out.stdout and "as staging" in out.stdout
    assert _cli("register", "digits", str(d)).returncode == 0
    out = _cli("alias", "digits", "production", "2")
    assert out.returncode == 0 and "digits@production -> 2" in out.stdout
    out = _cli("list")
    assert "digits" in out.stdout and "production->2" in out.stdout
    out = _cli("show", "digits@staging")
    assert "digits/1" in out.stdout and '"accuracy": 0.5' in out.stdout
    out = _cli("show", "digits")
    assert "2 versions" in out.stdout
    out = _cli("delete", "digits/2")
    assert out.returncode == 1 and "production" in out.stderr
    assert _cli("delete", "digits/2", "--force").returncode == 0
    out = _cli("show", "nope")
    assert out.returncode == 1 and "unknown model 'nope'" in out.stderr
    dest = tmp_path / "pulled"
    out = _cli("pull", "digits/1", str(dest))
    assert out.returncode == 0 and (dest / "weights.bin").read_bytes() == b"w"
    assert json.loads((dest / "config.json").read_text()) == {"units": 3}
