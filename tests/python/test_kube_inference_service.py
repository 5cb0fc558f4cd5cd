"""mlcore.kube.inference_service: a KServe InferenceService running mlcore-server as a custom V2
runtime, checked by loading it into the kserve SDK's models."""

import importlib.util
import json
import subprocess
import sys

import pytest

from mlcore.kube.inference_service import inference_service

if importlib.util.find_spec("kserve") is None:
    pytest.skip("the kserve SDK is not installed", allow_module_level=True)

# kserve's package registers its own copy of the V2 protocol's protobuf messages (package
# "inference"), as tritonclient.grpc does: both in one process is a descriptor-pool clash, and
# the gRPC tests import tritonclient. So the SDK runs in a child process.
_LOAD = """
import json, sys
import kserve
import kubernetes.client.models as k8s
# kserve's deserializer looks every type up in kserve.models, but metadata and containers are the
# Kubernetes client's V1ObjectMeta, V1Container...: lend them.
for name in dir(k8s):
    if name.startswith("V1") and not hasattr(kserve.models, name):
        setattr(kserve.models, name, getattr(k8s, name))
class Response:
    data = sys.stdin.read()
client = kserve.ApiClient()
obj = client.deserialize(Response(), "V1beta1InferenceService")
assert isinstance(obj, kserve.V1beta1InferenceService)
print(json.dumps(client.sanitize_for_serialization(obj)))
"""


def _load(manifest):
    """The manifest loaded into kserve.V1beta1InferenceService (which checks every field's type)
    and written back by the SDK."""
    out = subprocess.run([sys.executable, "-c", _LOAD], input=json.dumps(manifest),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_loads_into_the_kserve_sdk_unchanged():
    m = inference_service("digits", "s3://models/digits/3", "registry.example/mlcore-server:0.1",
                          gpus=1, cpu=4, memory="8Gi", max_replicas=3,
                          env={"MLCORE_LOG_LEVEL": "info"})
    assert _load(m) == m
    assert m["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    predictor = m["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 3)
    c = predictor["containers"][0]
    assert c["name"] == "kserve-container" and c["command"] == ["mlcore-server"]
    assert c["args"] == ["--model", "digits=/mnt/models", "--host", "0.0.0.0", "--http-port",
                         "8080", "--grpc-port", "8081"]
    assert [(p["containerPort"], p["name"]) for p in c["ports"]] == [(8080, "http1"),
                                                                      (8081, "h2c")]
    assert c["resources"]["limits"] == {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"}
    assert c["resources"]["requests"] == c["resources"]["limits"]
    assert {e["name"]: e["value"] for e in c["env"]} == {"STORAGE_URI": "s3://models/digits/3",
                                                         "MLCORE_LOG_LEVEL": "info"}
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"


def test_http_only_repository_is_serverless():
    m = inference_service("repo", "pvc://models/repo", "img:1", repository=True, grpc_port=None,
                          poll_interval_ms=5000, min_replicas=0)
    assert _load(m) == m
    assert m["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    c = m["spec"]["predictor"]["containers"][0]
    assert c["args"] == ["--model-repository", "/mnt/models", "--host", "0.0.0.0",
                         "--http-port", "8080", "--poll-interval-ms", "5000"]
    assert len(c["ports"]) == 1 and "nvidia.com/gpu" not in c["resources"]["limits"]


def test_a_manifest_the_sdk_refuses_fails_the_check():
    m = inference_service("digits", "s3://m/d", "img:1")
    m["spec"]["predictor"]["minReplicas"] = "many"
    out = subprocess.run([sys.executable, "-c", _LOAD], input=json.dumps(m), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode != 0 or json.loads(out.stdout) != m


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
