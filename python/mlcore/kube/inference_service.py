"""A KServe InferenceService that runs mlcore's server as a custom V2 (Open Inference Protocol)
runtime: the predictor is one container running ``mlcore-server`` on the model KServe's storage
initializer downloads from ``storage_uri`` into /mnt/models.

    manifest = mlcore.kube.inference_service(
        "digits", "s3://models/digits/3", image="registry.example/mlcore-server:0.1",
        gpus=1, max_replicas=4)
    yaml.safe_dump(manifest, open("digits-isvc.yaml", "w"))

HTTP (KServe V1 and V2) listens on 8080 and gRPC (inference.GRPCInferenceService) on 8081, the
ports KServe's V2 runtimes use. Knative gives a pod one port, so a service exposing both runs in
KServe's RawDeployment mode; pass ``grpc_port=None`` for a Serverless (scale-to-zero) HTTP-only
service. The dict loads into the kserve SDK's V1beta1InferenceService unchanged.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Union

__all__ = ["inference_service"]

_MODEL_DIR = "/mnt/models"  # where KServe's storage initializer puts storageUri's content
_RAW = "RawDeployment"
_SERVERLESS = "Serverless"


def _quantity(value) -> str:
    return str(value)


def _server_args(name, repository, host, http_port, grpc_port, poll_interval_ms,
                 extra_args) -> List[str]:
    model = (["--model-repository", _MODEL_DIR] if repository
             else ["--model", f"{name}={_MODEL_DIR}"])
    args = [*model, "--host", host, "--http-port", str(http_port)]
    if grpc_port is not None:
        args += ["--grpc-port", str(grpc_port)]
    if repository and poll_interval_ms:
        args += ["--poll-interval-ms", str(int(poll_interval_ms))]
    return args + [str(a) for a in extra_args or []]


def _check(name, storage_uri, image, http_port, grpc_port, gpus, min_replicas, max_replicas,
           deployment_mode):
    if not name or not all(c.isalnum() or c == "-" for c in name) or not name[0].isalpha() \
            or name != name.lower() or len(name) > 45:
        # The predictor's Knative/Deployment names add suffixes to it; DNS labels stop at 63.
        raise ValueError(f"InferenceService name {name!r} must be a lowercase DNS label of at "
                         f"most 45 characters starting with a letter")
    if not storage_uri or "://" not in storage_uri:
        raise ValueError(f"storage_uri must be a URI KServe can download (s3://, gs://, pvc://, "
                         f"https://...), got {storage_uri!r}")
    if not image:
        raise ValueError("image must name a container image holding mlcore-server")
    for label, port in (("http_port", http_port), ("grpc_port", grpc_port)):
        if port is not None and not (0 < int(port) < 65536):
            raise ValueError(f"{label} must be a TCP port, got {port!r}")
    if grpc_port is not None and int(grpc_port) == int(http_port):
        raise ValueError("http_port and grpc_port must differ")
    if int(gpus) < 0:
        raise ValueError(f"gpus must be >= 0, got {gpus!r}")
    if min_replicas < 0 or (max_replicas is not None and max_replicas < max(min_replicas, 1)):
        raise ValueError(f"replicas must satisfy 0 <= min_replicas <= max_replicas, got "
                         f"{min_replicas}, {max_replicas}")
    if deployment_mode not in (None, _RAW, _SERVERLESS):
        raise ValueError(f"deployment_mode must be {_RAW!r} or {_SERVERLESS!r}, got "
                         f"{deployment_mode!r}")
    if deployment_mode == _SERVERLESS and grpc_port is not None:
        raise ValueError("a Serverless (Knative) predictor has one port: pass grpc_port=None "
                         "or use RawDeployment")


def inference_service(name: str, storage_uri: str, image: str, *, namespace: str = "default",
                      repository: bool = False, http_port: int = 8080,
                      grpc_port: Optional[int] = 8081, host: str = "0.0.0.0",
                      cpu: Union[str, int, float] = "1", memory: str = "1Gi", gpus: int = 0,
                      min_replicas: int = 1, max_replicas: Optional[int] = None,
                      deployment_mode: Optional[str] = None, poll_interval_ms: int = 0,
                      env: Optional[Dict[str, str]] = None,
                      extra_args: Optional[List[str]] = None,
                      service_account: Optional[str] = None,
                      labels: Optional[Dict[str, str]] = None,
                      annotations: Optional[Dict[str, str]] = None) -> dict:
    """The InferenceService manifest (a dict, ready for yaml.safe_dump or kubectl apply).

    ``storage_uri`` holds one model directory (an mlcore checkpoint, served as ``name``), or a
    model repository (``<model>/<version>/`` folders plus config.json) when ``repository``;
    ``poll_interval_ms`` then makes the server pick up versions added to a mounted volume.
    ``gpus`` requests and limits nvidia.com/gpu; cpu and memory are requested and limited alike,
    so the pod gets the Guaranteed QoS class the latency figures assume. ``deployment_mode``
    defaults to RawDeployment when gRPC is exposed and Serverless otherwise.
    """
    _check(name, storage_uri, image, http_port, grpc_port, gpus, min_replicas, max_replicas,
           deployment_mode)
    mode = deployment_mode or (_RAW if grpc_port is not None else _SERVERLESS)
    resources = {"cpu": _quantity(cpu), "memory": _quantity(memory)}
    if gpus:
        resources["nvidia.com/gpu"] = str(int(gpus))
    ports = [{"containerPort": int(http_port), "name": "http1", "protocol": "TCP"}]
    if grpc_port is not None:
        ports.append({"containerPort": int(grpc_port), "name": "h2c", "protocol": "TCP"})
    probe = {"httpGet": {"path": "/v2/health/ready", "port": int(http_port)},
             "periodSeconds": 5, "failureThreshold": 3}
    container = {
        "name": "kserve-container",  # the name KServe looks for in a custom predictor
        "image": image,
        "command": ["mlcore-server"],
        "args": _server_args(name, repository, host, http_port, grpc_port, poll_interval_ms,
                             extra_args),
        # A custom container gets the storage initializer when it carries STORAGE_URI.
        "env": [{"name": "STORAGE_URI", "value": storage_uri}] + [
            {"name": k, "value": str(v)} for k, v in sorted((env or {}).items())],
        "ports": ports,
        "readinessProbe": probe,
        "resources": {"requests": dict(resources), "limits": dict(resources)},
    }
    predictor = {"minReplicas": int(min_replicas), "containers": [container]}
    if max_replicas is not None:
        predictor["maxReplicas"] = int(max_replicas)
    if service_account:
        predictor["serviceAccountName"] = service_account
    metadata = {"name": name, "namespace": namespace,
                "annotations": {"serving.kserve.io/deploymentMode": mode, **(annotations or {})},
                "labels": {"app.kubernetes.io/managed-by": "mlcore", **(labels or {})}}
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": metadata, "spec": {"predictor": predictor}}
