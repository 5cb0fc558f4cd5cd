"""The whole lifecycle on scikit-learn's digits, on one machine, in a few minutes:

  1. a pipeline loads and splits the data, tunes, trains and evaluates:
     - an HPO study (TPE with median pruning, 2 trials at a time, each a small training)
       picks the hidden width and learning rate,
     - the best configuration trains data-parallel on 2 processes through `mlcore launch`,
     - the model is evaluated on the held-out test split;
  2. the model is registered and aliased "production";
  3. a server serves digits@production over HTTP and gRPC, and tritonclient queries it;
  4. the same pipeline compiles to Kubeflow: training as a PyTorchJob, serving as a KServe
     InferenceService.

Everything it does is recorded in one store (MLCORE_HOME, examples/outputs/lifecycle by
default): the pipeline run and its artifacts, the study and its trials, the model versions;
`mlcore ui --home <store>` shows them.

    python examples/lifecycle.py [--home DIR] [--trials 12] [--kubeflow-yaml FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time
from typing import NamedTuple

HERE = pathlib.Path(__file__).resolve().parent
TRAIN_SCRIPT = HERE / "lifecycle_train.py"
MODEL_NAME = "digits"

from mlcore import pipelines as mp  # noqa: E402
from mlcore.pipelines import Dataset, Input, Metrics, Model, Output  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Components. Each imports what it uses inside its body: on Kubeflow a component runs from its
# source alone (carried in the compiled spec), in the mlcore image.


@mp.component
def prepare(seed: int, test_fraction: float, train: Output[Dataset], test: Output[Dataset]):
    """scikit-learn's bundled digits, scaled to [0, 1] and split (stratified) into train/test."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        (x / 16.0).astype(np.float32), y.astype(np.int64), test_size=test_fraction,
        random_state=seed, stratify=y)
    for out, (xs, ys) in ((train, (x_train, y_train)), (test, (x_test, y_test))):
        with open(out.path, "wb") as f:  # an open file: savez adds no ".npz" to the path
            np.savez(f, x=xs, y=ys)
        out.metadata["samples"] = int(len(ys))


@mp.component
def tune(train: Input[Dataset], trials: int, parallel: int, study_name: str,
         metrics: Output[Metrics]) -> NamedTuple("Best", [("hidden", int), ("lr", float)]):
    """An HPO study in the store: TPE proposes (hidden, lr); each trial trains a small MLP for a
    few epochs on 80% of the training split and reports validation accuracy each epoch, so the
    median pruner stops the hopeless ones early."""
    import json
    from collections import namedtuple

    import numpy as np

    import mlcore.hpo as hpo
    from mlcore import nn, optim

    with np.load(train.path) as d:
        x, y = d["x"], d["y"]
    cut = int(0.8 * len(y))
    xt, yt, xv, yv = x[:cut], y[:cut], x[cut:], y[cut:]

    def objective(trial):
        hidden = trial.suggest_int("hidden", 16, 128, log=True)
        lr = trial.suggest_float("lr", 1e-3, 5e-2, log=True)
        model = nn.Sequential([nn.Dense(hidden), nn.ReLU(), nn.Dense(10)])
        model.compile(optimizer=optim.Adam(lr), loss="cross_entropy", metrics=["accuracy"])
        accuracy = 0.0
        for epoch in range(6):
            model.fit(xt, yt, epochs=1, batch_size=64, seed=trial.number)
            accuracy = model.evaluate(xv, yv)["accuracy"]
            trial.report(accuracy, epoch)
            if trial.should_prune():
                raise hpo.TrialPruned()
        return accuracy

    study = hpo.create_study(name=study_name, direction="maximize", sampler="tpe",
                             pruner=hpo.MedianPruner(min_trials_required=3, start_step=1),
                             seed=0, load_if_exists=True)
    study.optimize(objective, n_trials=trials, n_parallel=parallel)
    states = [t.state for t in study.trials]
    best = study.best_trial
    summary = {"study": study_name, "best_trial": best.number, "best_accuracy": best.value,
               "complete": states.count("complete"), "pruned": states.count("pruned")}
    with open(metrics.path, "w") as f:
        json.dump(summary, f)
    metrics.metadata.update(summary)
    return namedtuple("Best", ["hidden", "lr"])(int(best.params["hidden"]),
                                                float(best.params["lr"]))


@mp.component
def train_ddp(train: Input[Dataset], hidden: int, lr: float, epochs: int, processes: int,
              script: str, model: Output[Model]):
    """The best configuration, trained data-parallel: `mlcore launch` starts `processes`
    ranks of the training script (examples/lifecycle_train.py) on this machine."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "mlcore", "launch", "--nproc-per-node",
                           str(processes), script, "--data", train.path, "--hidden", str(hidden),
                           "--lr", str(lr), "--epochs", str(epochs), "--out", model.path],
                          capture_output=True, text=True)
    print(done.stdout, end="")  # the ranks' lines, "[rank N] ...", into this task's log
    print(done.stderr, end="", file=sys.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"mlcore launch exited with status {done.returncode}: "
                           f"{done.stderr.strip().splitlines()[-1:]}")
    model.metadata.update({"hidden": hidden, "lr": lr, "processes": processes})


@mp.component(packages_to_install=["kubernetes>=28"])
def train_pytorchjob(train: Input[Dataset], hidden: int, lr: float, epochs: int,
                     manifest: dict, model: Output[Model]):
    """On Kubeflow, the training step is a PyTorchJob (as the training-operator launcher
    component does it): the job's manifest, made at compile time by mlcore.kube.pytorch_job,
    gets this run's data, hyperparameters and output location, is created, and the step waits
    for the job to succeed. The pods read and write the artifacts at the launcher's mount paths
    (/minio, /s3, /gcs), so they need the pipeline root mounted there."""
    import copy
    import time

    from kubernetes import client, config

    job = copy.deepcopy(manifest)
    values = {"{data}": train.path, "{hidden}": str(hidden), "{lr}": str(lr),
              "{epochs}": str(epochs), "{out}": model.path}
    for spec in job["spec"]["pytorchReplicaSpecs"].values():
        for c in spec["template"]["spec"]["containers"]:
            c["command"] = [values.get(a, a) for a in c["command"]]
    config.load_incluster_config()
    api = client.CustomObjectsApi()
    group, version, plural = "kubeflow.org", "v1", "pytorchjobs"
    namespace = job["metadata"]["namespace"]
    job["metadata"]["name"] = f"{job['metadata']['name']}-{int(time.time())}"
    api.create_namespaced_custom_object(group, version, namespace, plural, job)
    while True:
        status = api.get_namespaced_custom_object(group, version, namespace, plural,
                                                  job["metadata"]["name"]).get("status", {})
        done = {c["type"]: c["status"] for c in status.get("conditions", [])}
        if done.get("Succeeded") == "True":
            break
        if done.get("Failed") == "True":
            raise RuntimeError(f"PyTorchJob {job['metadata']['name']} failed: {status}")
        time.sleep(10)


@mp.component
def evaluate(model: Input[Model], test: Input[Dataset], metrics: Output[Metrics]) -> float:
    """Accuracy of the trained checkpoint on the held-out test split."""
    import json

    import numpy as np

    from mlcore import nn

    net = nn.load(model.path)
    with np.load(test.path) as d:
        predicted = net.predict(d["x"]).argmax(axis=1)
        accuracy = float((predicted == d["y"]).mean())
    with open(metrics.path, "w") as f:
        json.dump({"accuracy": accuracy}, f)
    metrics.metadata["accuracy"] = accuracy
    return accuracy


@mp.component(packages_to_install=["kubernetes>=28"])
def deploy_inference_service(model: Input[Model], accuracy: float, manifest: dict) -> str:
    """On Kubeflow, the serving step is a KServe InferenceService (as the kserve launcher
    component does it): the manifest made by mlcore.kube.inference_service, pointed at this
    run's model, is applied (created or replaced); the step waits until it is Ready and returns
    its URL."""
    import copy
    import time

    from kubernetes import client, config

    isvc = copy.deepcopy(manifest)
    container = isvc["spec"]["predictor"]["containers"][0]
    for env in container["env"]:
        if env["name"] == "STORAGE_URI":
            env["value"] = model.uri
    isvc["metadata"].setdefault("annotations", {})["mlcore.dev/test-accuracy"] = str(accuracy)
    config.load_incluster_config()
    api = client.CustomObjectsApi()
    group, version, plural = "serving.kserve.io", "v1beta1", "inferenceservices"
    namespace, name = isvc["metadata"]["namespace"], isvc["metadata"]["name"]
    try:
        old = api.get_namespaced_custom_object(group, version, namespace, plural, name)
        isvc["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        api.replace_namespaced_custom_object(group, version, namespace, plural, name, isvc)
    except client.exceptions.ApiException as e:
        if e.status != 404:
            raise
        api.create_namespaced_custom_object(group, version, namespace, plural, isvc)
    for _ in range(360):
        status = api.get_namespaced_custom_object(group, version, namespace, plural,
                                                  name).get("status", {})
        if any(c["type"] == "Ready" and c["status"] == "True"
               for c in status.get("conditions", [])):
            return status.get("url", "")
        time.sleep(5)
    raise TimeoutError(f"InferenceService {name} was not Ready within 30 minutes")


# ---------------------------------------------------------------------------------------------
# The pipeline: one definition, two targets. Locally the training step is `mlcore launch` on
# this machine and the model is registered and served by the driver afterwards; on Kubeflow the
# training step is a PyTorchJob and the serving step an InferenceService.


def training_job(image: str, processes: int = 2, workers: int = 1, namespace: str = "kubeflow"):
    """The PyTorchJob template the Kubeflow training step fills in (placeholders in braces):
    mlcore launch in each pod runs the training script, whose source travels in the job."""
    from mlcore.kube import pytorch_job

    command = ["--no-python", "python", "-c",
               "import os, sys; sys.argv[0] = 'lifecycle_train.py'; "
               "exec(compile(os.environ['MLCORE_TRAIN_SOURCE'], 'lifecycle_train.py', 'exec'))",
               "--data", "{data}", "--hidden", "{hidden}", "--lr", "{lr}", "--epochs",
               "{epochs}", "--out", "{out}"]
    return pytorch_job("lifecycle-digits", image=image, command=command, workers=workers,
                       nproc_per_node=processes, namespace=namespace, cpu=2, memory="2Gi",
                       env={"MLCORE_TRAIN_SOURCE": TRAIN_SCRIPT.read_text()})


def serving(image: str, namespace: str = "kubeflow"):
    """The InferenceService template the Kubeflow serving step points at the trained model."""
    from mlcore.kube import inference_service

    return inference_service(MODEL_NAME, "s3://set-by-the-pipeline", image, namespace=namespace,
                             cpu="1", memory="1Gi")


def make_pipeline(target: str = "local", image: str = "mlcore:0.1.0"):
    """The lifecycle pipeline for `target` "local" (this machine) or "kubeflow"."""
    if target not in ("local", "kubeflow"):
        raise ValueError(f"target must be 'local' or 'kubeflow', not {target!r}")

    @mp.pipeline(name="lifecycle-digits", base_image=image)
    def lifecycle(seed: int = 0, test_fraction: float = 0.2, trials: int = 12,
                  parallel_trials: int = 2, epochs: int = 20, processes: int = 2,
                  study_name: str = "lifecycle-digits"):
        data = prepare(seed=seed, test_fraction=test_fraction)
        best = tune(train=data.outputs["train"], trials=trials, parallel=parallel_trials,
                    study_name=study_name)
        if target == "local":
            trained = train_ddp(train=data.outputs["train"], hidden=best.outputs["hidden"],
                                lr=best.outputs["lr"], epochs=epochs, processes=processes,
                                script=str(TRAIN_SCRIPT))
        else:
            trained = train_pytorchjob(train=data.outputs["train"],
                                       hidden=best.outputs["hidden"], lr=best.outputs["lr"],
                                       epochs=epochs,
                                       manifest=training_job(image, processes=2))
        scored = evaluate(model=trained.outputs["model"], test=data.outputs["test"])
        if target == "kubeflow":
            deploy_inference_service(model=trained.outputs["model"],
                                     accuracy=scored.outputs["output"],
                                     manifest=serving(image))

    return lifecycle


def compile_for_kubeflow(path, image: str = "mlcore:0.1.0") -> str:
    """Writes the Kubeflow pipeline (KFP v2 IR) to `path`; returns the YAML text."""
    return mp.compile(make_pipeline("kubeflow", image), str(path))


# ---------------------------------------------------------------------------------------------
# The driver.


def run_pipeline(trials: int = 12, epochs: int = 20):
    """Runs the local pipeline; returns the finished run."""
    run = mp.run(make_pipeline("local"), arguments={"trials": trials, "epochs": epochs},
                 experiment="lifecycle", max_parallelism=2)
    return run.wait(timeout=900)


def register(run):
    """Registers the run's trained model (lineage: the run and its train task) with its test
    accuracy, and points the alias "production" at it."""
    import mlcore

    tasks = {t.name: t for t in run.tasks}
    accuracy = tasks["evaluate"].outputs["output"]
    train_task = "train-ddp"
    version = mlcore.models.register(MODEL_NAME, f"run://{run.id}/{train_task}/model",
                                     metrics={"test_accuracy": accuracy},
                                     tags={"framework": "mlcore", "pipeline": "lifecycle-digits"})
    mlcore.models.set_alias(MODEL_NAME, "production", version.version)
    return version, accuracy


def test_split(run):
    import numpy as np

    tasks = {t.name: t for t in run.tasks}
    with np.load(tasks["prepare"].outputs["test"].path) as d:
        return d["x"], d["y"]


def serve(home):
    """A server for digits@production on free ports (HTTP and gRPC), started."""
    import mlcore

    server = mlcore.serve.Server(http_port=0, grpc_port=0)
    server.add_registry_model(f"{MODEL_NAME}@production", home=home)
    return server.start()


def query(server, x, y):
    """Asks the server for the whole test split through tritonclient, over HTTP and gRPC;
    returns each protocol's accuracy."""
    import tritonclient.grpc as grpcclient
    import tritonclient.http as httpclient

    results = {}
    for protocol, module, url in (
            ("http", httpclient, server.url.split("//")[1]),
            ("grpc", grpcclient, f"127.0.0.1:{server.grpc_port}")):
        with module.InferenceServerClient(url) as client:
            assert client.is_model_ready(MODEL_NAME)
            correct = 0
            for start in range(0, len(y), 32):
                batch = x[start:start + 32]
                inp = module.InferInput("input", list(batch.shape), "FP32")
                inp.set_data_from_numpy(batch)
                out = client.infer(MODEL_NAME, [inp]).as_numpy("output")
                correct += int((out.argmax(axis=1) == y[start:start + 32]).sum())
            results[protocol] = correct / len(y)
    return results


def default_home() -> pathlib.Path:
    return HERE / "outputs" / "lifecycle"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="The mlcore lifecycle on the digits data.")
    p.add_argument("--home", default=None,
                   help="the store everything goes into (default: examples/outputs/lifecycle, "
                        "emptied first; 'temp' for a temporary folder)")
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--kubeflow-yaml", default=None,
                   help="where to write the Kubeflow pipeline (default: <home>/lifecycle.yaml)")
    args = p.parse_args(argv)
    if args.home == "temp":
        home = pathlib.Path(tempfile.mkdtemp(prefix="mlcore-lifecycle-"))
    else:
        home = pathlib.Path(args.home) if args.home else default_home()
        if home.exists() and not args.home:
            shutil.rmtree(home)  # the default store is the demo's own: start afresh
        home.mkdir(parents=True, exist_ok=True)
    os.environ["MLCORE_HOME"] = str(home)
    start = time.monotonic()

    run = run_pipeline(args.trials, args.epochs)
    print(f"[{time.monotonic() - start:5.1f}s] pipeline run {run.id}: {run.status}", flush=True)
    if run.status != "succeeded":
        print(run.error, file=sys.stderr)
        return 1
    tasks = {t.name: t for t in run.tasks}
    best = tasks["tune"].outputs
    study = best["metrics"].metadata
    print(f"        HPO: {study['complete']} trials complete, {study['pruned']} pruned; best "
          f"hidden={best['hidden']} lr={best['lr']:.4g} (validation accuracy "
          f"{study['best_accuracy']:.4f})", flush=True)
    print("        " + tasks["train-ddp"].logs().strip().replace("\n", "\n        "), flush=True)
    version, accuracy = register(run)
    print(f"[{time.monotonic() - start:5.1f}s] registered {MODEL_NAME} version "
          f"{version.version} (test accuracy {accuracy:.4f}) as {MODEL_NAME}@production",
          flush=True)

    x, y = test_split(run)
    server = serve(home)
    try:
        served = query(server, x, y)
        print(f"[{time.monotonic() - start:5.1f}s] served at {server.url} (HTTP) and "
              f"127.0.0.1:{server.grpc_port} (gRPC)", flush=True)
        for protocol, acc in served.items():
            print(f"        test accuracy through tritonclient.{protocol}: {acc:.4f}")
    finally:
        server.stop()

    yaml_path = pathlib.Path(args.kubeflow_yaml) if args.kubeflow_yaml else home / "lifecycle.yaml"
    compile_for_kubeflow(yaml_path)
    print(f"[{time.monotonic() - start:5.1f}s] Kubeflow pipeline (PyTorchJob training, "
          f"InferenceService serving): {yaml_path}")
    print(f"store: {home}")
    print(f"dashboard: mlcore ui --home {home}   (then open the URL it prints)")
    print(json.dumps({"test_accuracy": accuracy, "served_accuracy": served, "run": run.id}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
