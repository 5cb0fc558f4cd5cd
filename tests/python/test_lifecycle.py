"""The main job (examples/lifecycle.py and lifecycle.ipynb): the notebook runs end to end under a
real Jupyter kernel (nbclient) into one store, and the same pipeline compiled for Kubeflow is a
valid KFP IR whose training step carries a PyTorchJob (checked by the kubeflow-training SDK's
models) and whose serving step an InferenceService (checked by the kserve SDK's, in a child
process: kserve and tritonclient.grpc clash on protobuf descriptors)."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import sqlite3
import subprocess
import sys

import pytest
import yaml
from notebook_helpers import printed, rich, run_notebook

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def _lifecycle():
    sys.path.insert(0, str(EXAMPLES))
    try:
        import lifecycle
    finally:
        sys.path.remove(str(EXAMPLES))
    return lifecycle


def test_lifecycle_notebook_runs_end_to_end_into_one_store(tmp_path, monkeypatch):
    pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    pytest.importorskip("sklearn")
    pytest.importorskip("tritonclient.grpc")
    home = tmp_path / "store"
    monkeypatch.setenv("LIFECYCLE_HOME", str(home))
    outputs = run_notebook(EXAMPLES / "lifecycle.ipynb", EXAMPLES, timeout=600)
    text = printed(outputs)

    assert "succeeded {" in text and "'train-ddp': 'succeeded'" in text
    assert "[rank 0]" in text and "[rank 1]" in text, "training ran on 2 processes"
    trials = int(text.split(" trials: ")[0].split()[-1])
    assert trials == 12
    accuracy = float(text.split("test accuracy ")[1].split(",")[0])
    assert accuracy > 0.9
    for protocol in ("http", "grpc"):
        served = float(text.split(f"served accuracy ({protocol}): ")[1].split()[0])
        assert served == pytest.approx(accuracy, abs=1e-6)
    assert f"mlcore ui --home {home}" in text
    for kind in ("PyTorchJob", "InferenceService"):
        assert kind in text

    # One store holds it all: the run, the study and its trials, the registered model.
    with sqlite3.connect(home / "mlcore.db") as db:
        assert db.execute("SELECT count(*) FROM pipeline_runs").fetchone()[0] == 1
        assert db.execute("SELECT count(*) FROM hpo_trials").fetchone()[0] == 12
        assert db.execute("SELECT alias, version FROM registry_aliases").fetchall() == [
            ("production", 1)]
    assert any("<svg" in d.get("text/html", "") for d in rich(outputs)), "the run's DAG is drawn"


def _task_manifest(spec, task):
    return spec["root"]["dag"]["tasks"][task]["inputs"]["parameters"]["manifest"][
        "runtimeValue"]["constant"]


def test_lifecycle_compiles_to_kubeflow_with_a_pytorchjob_and_an_inference_service(tmp_path):
    kfp_components = pytest.importorskip("kfp.components")
    training = pytest.importorskip("kubeflow.training.models")
    from kubeflow.training.api_client import ApiClient

    lifecycle = _lifecycle()
    path = tmp_path / "lifecycle.yaml"
    lifecycle.compile_for_kubeflow(path, image="registry.example/mlcore:0.1.0")
    kfp_components.load_component_from_file(str(path))
    spec = yaml.safe_load(path.read_text())
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"prepare", "tune", "train-pytorchjob", "evaluate",
                          "deploy-inference-service"}
    assert tasks["train-pytorchjob"]["dependentTasks"] == ["prepare", "tune"]
    executors = spec["deploymentSpec"]["executors"]
    for name, ex in executors.items():
        assert ex["container"]["image"] == "registry.example/mlcore:0.1.0", name
        assert "resources" not in ex["container"], name
    train = executors["exec-train-pytorchjob"]["container"]["command"]
    assert train[:2] == ["sh", "-ec"] and "'kubernetes>=28'" in train[2]

    job = _task_manifest(spec, "train-pytorchjob")

    class Response:
        data = json.dumps(job)

    obj = ApiClient().deserialize(Response(), "KubeflowOrgV1PyTorchJob")
    assert isinstance(obj, training.KubeflowOrgV1PyTorchJob)
    assert obj.kind == "PyTorchJob" and obj.spec.nproc_per_node == "2"
    master = obj.spec.pytorch_replica_specs["Master"].template.spec.containers[0]
    assert master.command[:4] == ["python", "-m", "mlcore", "launch"]
    assert "{data}" in master.command and "{out}" in master.command
    source = {e.name: e.value for e in master.env}["MLCORE_TRAIN_SOURCE"]
    assert source == (EXAMPLES / "lifecycle_train.py").read_text()

    if importlib.util.find_spec("kserve") is None:
        pytest.skip("the kserve SDK is not installed")
    isvc = _task_manifest(spec, "deploy-inference-service")
    load = ("import json, sys, kserve, kubernetes.client.models as k8s\n"
            "for n in dir(k8s):\n"
            "    if n.startswith('V1') and not hasattr(kserve.models, n):\n"
            "        setattr(kserve.models, n, getattr(k8s, n))\n"
            "class R:\n    data = sys.stdin.read()\n"
            "o = kserve.ApiClient().deserialize(R(), 'V1beta1InferenceService')\n"
            "assert isinstance(o, kserve.V1beta1InferenceService)\n"
            "c = o.spec.predictor.containers[0]\n"
            "print(json.dumps([o.kind, c.command, [e.name for e in c.env]]))\n")
    out = subprocess.run([sys.executable, "-c", load], input=json.dumps(isvc),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    kind, command, env = json.loads(out.stdout)
    assert kind == "InferenceService" and command == ["mlcore-server"] and "STORAGE_URI" in env
