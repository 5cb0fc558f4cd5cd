"""mlcore.kube's PyTorchJob and TFJob manifests, checked against the kubeflow-training SDK's
models, and the environment the operator gives each pod."""

import json

import pytest

import mlcore.kube as kube

models = pytest.importorskip("kubeflow.training.models")
from kubeflow.training.api_client import ApiClient  # noqa: E402


class _Response:
    def __init__(self, data):
        self.data = json.dumps(data)


def _roundtrip(manifest, model):
    """The manifest loaded into the SDK's model (which validates types and required fields) and
    written back: equal to the input when the SDK knows every field we wrote."""
    client = ApiClient()
    obj = client.deserialize(_Response(manifest), model)
    assert isinstance(obj, getattr(models, model))
    return obj, client.sanitize_for_serialization(obj)


def test_pytorch_job_loads_into_the_sdk_model_unchanged(tmp_path):
    job = kube.pytorch_job("digits-ddp", image="registry.example/digits:1",
                           command=["train.py", "--epochs", "3"], workers=2, gpus=2, cpu=4,
                           memory="8Gi", env={"MLCORE_LOG_LEVEL": "info"}, max_restarts=3)
    obj, back = _roundtrip(job, "KubeflowOrgV1PyTorchJob")
    assert back == job
    assert obj.spec.nproc_per_node == "2"
    assert obj.spec.elastic_policy.max_restarts == 3
    assert obj.spec.elastic_policy.min_replicas == obj.spec.elastic_policy.max_replicas == 3
    master = obj.spec.pytorch_replica_specs["Master"]
    worker = obj.spec.pytorch_replica_specs["Worker"]
    assert (master.replicas, worker.replicas) == (1, 2)
    c = worker.template.spec.containers[0]
    assert c.name == "pytorch"
    assert c.command == ["python", "-m", "mlcore", "launch", "train.py", "--epochs", "3"]
    assert c.resources.limits == {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "2"}
    assert c.ports[0].name == "pytorchjob-port" and c.ports[0].container_port == 23456
    path = kube.write_manifest(job, tmp_path / "job.yaml")
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load(open(path)) == job


def test_tf_job_loads_into_the_sdk_model_unchanged():
    job = kube.tf_job("digits-tf", image="img", command=["train.py"], workers=3, cpu=1)
    obj, back = _roundtrip(job, "KubeflowOrgV1TFJob")
    assert back == job
    assert set(obj.spec.tf_replica_specs) == {"Chief", "Worker"}
    assert obj.spec.tf_replica_specs["Worker"].template.spec.containers[0].name == "tensorflow"


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="Bad_Name"), "DNS label"),
    (dict(workers=-1), "workers"),
    (dict(nproc_per_node=0), "nproc_per_node"),
])
def test_bad_arguments_are_refused(kwargs, message):
    args = dict(name="ok", image="img", command=["t.py"])
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        kube.pytorch_job(**args)


def test_operator_env_of_each_pod_is_read_back_by_dist():
    import mlcore.dist as dist

    job = kube.pytorch_job("j", image="img", command=["t.py"], workers=1, nproc_per_node=1)
    envs = [kube.operator_env(job, "Master", 0), kube.operator_env(job, "Worker", 0)]
    assert envs[1]["MASTER_ADDR"] == "j-master-0" and envs[1]["RANK"] == "1"
    parsed = [dist.read_env(e) for e in envs]
    assert [(p.source, p.rank, p.world_size) for p in parsed] == [("pytorchjob", 0, 2),
                                                                  ("pytorchjob", 1, 2)]
    # Older operators count pods in WORLD_SIZE; with nprocPerNode 2 the pod itself cannot run
    # the script (it needs the launcher), and the error says so.
    job2 = kube.pytorch_job("j", image="img", command=["t.py"], workers=1, nproc_per_node=2)
    with pytest.raises(ValueError, match="mlcore launch"):
        dist.read_env(kube.operator_env(job2, "Worker", 0, world_size_counts="pods"))
    tf = kube.tf_job("t", image="img", command=["t.py"], workers=2)
    tf_envs = [kube.operator_env(tf, "Chief", 0)] + [kube.operator_env(tf, "Worker", i)
                                                      for i in range(2)]
    assert [dist.read_env(e).rank for e in tf_envs] == [0, 1, 2]
    assert dist.read_env(tf_envs[2]).init_method == "tcp://t-chief-0.default.svc:2222"
