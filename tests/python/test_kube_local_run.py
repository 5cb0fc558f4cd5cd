"""The pods of mlcore.kube manifests started on 127.0.0.1 with exactly the environment the
Training Operator sets for them (the master's service name swapped for 127.0.0.1 and a free
port), running the manifest's container command: they form one group and train. And an HPO
study whose command trials are `mlcore launch` runs, rank 0 reporting the metric."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

import mlcore.hpo as hpo
import mlcore.kube as kube

pytest.importorskip("sklearn.datasets")

TRAIN = """
    import os
    import numpy as np
    from sklearn.datasets import load_digits
    import mlcore.dist as dist
    import mlcore.nn as nn
    import mlcore.optim as optim

    lr = float(os.environ.get("LR", "0.1"))
    for arg in os.sys.argv[1:]:
        if arg.startswith("--lr="):
            lr = float(arg[5:])
    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    dp = dist.DataParallel(timeout=60)
    model = nn.Sequential([nn.Dense(32), nn.ReLU(), nn.Dense(10)])
    model.build((64,), seed=0)
    model.compile(optimizer=optim.SGD(lr, momentum=0.9), metrics=["accuracy"])
    h = model.fit(x, y, epochs=4, batch_size=16, strategy=dp)
    logs = model.evaluate(x, y, strategy=dp)
    if dp.rank == 0:
        print(f"world={dp.world_size} accuracy={logs['accuracy']:.4f} "
              f"first_loss={h.history['loss'][0]:.4f} last_loss={h.history['loss'][-1]:.4f}")
"""

# Variables a launched worker or an operator pod sets; the test process's own must not leak in.
DIST_VARS = ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE",
             "GROUP_RANK", "TF_CONFIG", "MLCORE_RESTART_COUNT", "TORCHELASTIC_RESTART_COUNT")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_pods(tmp_path, manifest, pods, localize):
    (tmp_path / "train.py").write_text(textwrap.dedent(TRAIN))
    base = {k: v for k, v in os.environ.items() if k not in DIST_VARS and not k.startswith("PET_")}
    procs = []
    for rtype, index in pods:
        env = localize(kube.operator_env(manifest, rtype, index))
        spec = manifest["spec"]["pytorchReplicaSpecs" if manifest["kind"] == "PyTorchJob"
                                else "tfReplicaSpecs"][rtype]
        argv = list(spec["template"]["spec"]["containers"][0]["command"])
        argv[0] = sys.executable  # the image's "python"
        procs.append(subprocess.Popen(argv, cwd=tmp_path, env=dict(base, **env),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [p.communicate(timeout=300) for p in procs]
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, results)]


def _metrics(line):
    return dict(kv.split("=") for kv in line.split("] ", 1)[-1].split())


def test_pytorchjob_pods_train_as_one_group(tmp_path):
    job = kube.pytorch_job("digits", image="img", command=["train.py"], workers=1,
                           nproc_per_node=2, max_restarts=1)
    port = str(_free_port())

    def localize(env):
        for k in ("MASTER_ADDR", "PET_MASTER_ADDR"):
            env[k] = "127.0.0.1"
        for k in ("MASTER_PORT", "PET_MASTER_PORT"):
            env[k] = port
        env["PET_RDZV_ENDPOINT"] = f"127.0.0.1:{port}"
        return env

    results = _start_pods(tmp_path, job, [("Master", 0), ("Worker", 0)], localize)
    for code, out, err in results:
        assert code == 0, out + err
    master_out = results[0][1]
    line = next(line for line in master_out.splitlines() if "accuracy=" in line)
    assert line.startswith("[rank 0] ")
    m = _metrics(line)
    assert m["world"] == "4"  # 2 pods x nprocPerNode 2
    assert float(m["accuracy"]) > 0.8
    assert float(m["last_loss"]) < float(m["first_loss"])
    assert "accuracy=" not in results[1][1]  # only rank 0 reports


def test_tfjob_pods_train_as_one_group(tmp_path):
    job = kube.tf_job("digits", image="img", command=["train.py"], workers=1)
    port = _free_port()

    def localize(env):
        config = json.loads(env["TF_CONFIG"])
        for rtype, hosts in config["cluster"].items():
            config["cluster"][rtype] = [f"127.0.0.1:{port}" for _ in hosts]
        env["TF_CONFIG"] = json.dumps(config)
        return env

    results = _start_pods(tmp_path, job, [("Chief", 0), ("Worker", 0)], localize)
    for code, out, err in results:
        assert code == 0, out + err
    m = _metrics(next(line for line in results[0][1].splitlines() if "accuracy=" in line))
    assert m["world"] == "2" and float(m["accuracy"]) > 0.8


def test_study_trials_are_mlcore_launch_runs_reporting_from_rank_0(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(TRAIN))
    objective = hpo.CommandObjective(
        f"{sys.executable} -m mlcore launch --nproc-per-node 2 {script} --lr={{lr}}", "accuracy",
        {"lr": hpo.FloatDistribution(0.05, 0.2, log=True)}, timeout=240,
        env={k: "" for k in DIST_VARS})
    study = hpo.create_study(direction="maximize", sampler="random", seed=0)
    study.optimize(objective, n_trials=2)
    for t in study.trials:
        assert t.state == "complete", t.error
        assert t.value > 0.8
