"""mlcore.kube.inference_service: a KServe InferenceService running mlcore-server as a custom V2
runtime, checked by loading it into the kserve SDK's models."""

import json

import pytest

from mlcore.kube.inference_service import inference_service

kserve = pytest.importorskip("kserve")


class _Response:
    def __init__(self, data):
        self.data = json.dumps(data)


@pytest.fixture(autouse=True)
def _kubernetes_types(monkeypatch):
    """kserve's deserializer looks every type up in kserve.models, but the InferenceService's
    metadata and containers are the Kubernetes client's V1ObjectMeta, V1Container...: lend them."""
    k8s = pytest.importorskip("kubernetes.client.models")
    for name in dir(k8s):
        if name.startswith("V1") and not hasattr(kserve.models, name):
            monkeypatch.setattr(kserve.models, name, getattr(k8s, name), raising=False)


def _load(manifest):
    client = kserve.ApiClient()
    obj = client.deserialize(_Response(manifest), "V1beta1InferenceService")
    assert isinstance(obj, kserve.V1beta1InferenceService)
    return obj, client.sanitize_for_serialization(obj)


def test_loads_into_the_kserve_sdk_unchanged():
    m = inference_service("digits", "s3://models/digits/3", "registry.example/mlcore-server:0.1",
                          gpus=1, cpu=4, memory="8Gi", max_replicas=3, env={"MLCORE_LOG_LEVEL":
                                                                             "info"})
    obj, back = _load(m)
    assert back == m
    assert obj.metadata.annotations["serving.kserve.io/deploymentMode"] == "RawDeployment"
    predictor = obj.spec.predictor
    assert (predictor.min_replicas, predictor.max_replicas) == (1, 3)
    c = predictor.containers[0]
    assert c.name == "kserve-container" and c.command == ["mlcore-server"]
    assert c.args == ["--model", "digits=/mnt/models", "--host", "0.0.0.0", "--http-port", "8080",
                      "--grpc-port", "8081"]
    assert [(p.container_port, p.name) for p in c.ports] == [(8080, "http1"), (8081, "h2c")]
    assert c.resources.limits == {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"}
    assert c.resources.requests == c.resources.limits
    assert {e.name: e.value for e in c.env} == {"STORAGE_URI": "s3://models/digits/3",
                                                "MLCORE_LOG_LEVEL": "info"}
    assert c.readiness_probe.http_get.path == "/v2/health/ready"


def test_http_only_repository_is_serverless():
    m = inference_service("repo", "pvc://models/repo", "img:1", repository=True, grpc_port=None,
                          poll_interval_ms=5000, min_replicas=0)
    obj, back = _load(m)
    assert back == m
    assert obj.metadata.annotations["serving.kserve.io/deploymentMode"] == "Serverless"
    c = obj.spec.predictor.containers[0]
    assert c.args == ["--model-repository", "/mnt/models", "--host", "0.0.0.0", "--http-port",
                      "8080", "--poll-interval-ms", "5000"]
    assert len(c.ports) == 1 and "nvidia.com/gpu" not in c.resources.limits


@pytest.mark.parametrize("kwargs,match", [
    ({"name": "Digits"}, "DNS label"), ({"name": "a_b"}, "DNS label"),
    ({"storage_uri": "models/digits"}, "storage_uri"), ({"image": ""}, "image"),
    ({"grpc_port": 8080}, "differ"), ({"http_port": 70000}, "TCP port"), ({"gpus": -1}, "gpus"),
    ({"min_replicas": 2, "max_replicas": 1}, "replicas"),
    ({"deployment_mode": "Serverless"}, "one port"), ({"deployment_mode": "Raw"}, "RawDeployment"),
])
def test_bad_arguments_are_refused(kwargs, match):
    args = {"name": "digits", "storage_uri": "s3://m/d", "image": "img:1", **kwargs}
    with pytest.raises(ValueError, match=match):
        inference_service(args.pop("name"), args.pop("storage_uri"), args.pop("image"), **args)
