"""Training Operator manifests for mlcore scripts: PyTorchJob and TFJob.

    job = mlcore.kube.pytorch_job("digits", image="registry/digits:1", command=["train.py"],
                                  workers=1, nproc_per_node=2, gpus=2, max_restarts=3)
    mlcore.kube.write_manifest(job, "digits.yaml")        # kubectl apply -f digits.yaml

A PyTorchJob runs ``python -m mlcore launch <command>`` in every pod (one Master, ``workers``
Workers); the launcher reads the operator's PET_NNODES, PET_NPROC_PER_NODE, PET_NODE_RANK and
MASTER_ADDR / MASTER_PORT, starts nprocPerNode ranks per pod and restarts the group after a
failure (PET_MAX_RESTARTS). A TFJob runs the script once per pod (a Chief and Workers), which
reads its rank from TF_CONFIG. ``operator_env`` gives the environment the operator sets in a
given pod, so a test can start the same processes on one machine.
"""

from __future__ import annotations

import json

PYTORCH_PORT = 23456  # the operator's default for the port named pytorchjob-port
TF_PORT = 2222  # and for tfjob-port


def _resources(cpu, memory, gpus):
    limits, requests = {}, {}
    if cpu is not None:
        limits["cpu"] = requests["cpu"] = str(cpu)
    if memory is not None:
        limits["memory"] = requests["memory"] = str(memory)
    if gpus:
        limits["nvidia.com/gpu"] = str(int(gpus))  # a quantity; extended resources: limits only
    out = {}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return out


def _container(name, image, command, port_name, port, cpu, memory, gpus, env):
    c = {"name": name, "image": image, "command": list(command),
         "ports": [{"name": port_name, "containerPort": int(port)}]}
    resources = _resources(cpu, memory, gpus)
    if resources:
        c["resources"] = resources
    if env:
        c["env"] = [{"name": str(k), "value": str(v)} for k, v in env.items()]
    return c


def _replica(replicas, container, restart_policy):
    return {"replicas": int(replicas), "restartPolicy": restart_policy,
            "template": {"spec": {"containers": [container]}}}


def _check_name(name):
    if not name or len(name) > 63 or not all(c.isalnum() or c == "-" for c in name) \
            or not name[0].isalpha() or name != name.lower():
        raise ValueError(f"job name {name!r} must be a DNS label: lower-case letters, digits "
                         "and '-', starting with a letter, at most 63 characters")


def pytorch_job(name, image, command, workers=1, nproc_per_node=None, namespace="default",
                cpu=None, memory=None, gpus=0, env=None, max_restarts=None,
                restart_policy="OnFailure", port=PYTORCH_PORT, python="python"):
    """A kubeflow.org/v1 PyTorchJob (a dict) running ``command`` (the script and its arguments,
    or ``["-m", "module", ...]``) under ``mlcore launch`` in 1 Master + ``workers`` Worker pods.

    nproc_per_node: ranks per pod (default: ``gpus`` or 1), written as spec.nprocPerNode.
    cpu, memory, gpus: each pod's resources (gpus as nvidia.com/gpu limits).
    max_restarts: with a value, an elasticPolicy of fixed size (min = max = all pods) whose
    maxRestarts the launcher honours by restarting its group; the pods' restartPolicy restarts
    a pod that dies as a whole.
    """
    _check_name(name)
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    nproc = int(nproc_per_node if nproc_per_node is not None else (gpus or 1))
    if nproc < 1:
        raise ValueError(f"nproc_per_node must be >= 1, got {nproc}")
    launch = [python, "-m", "mlcore", "launch", *[str(c) for c in command]]
    container = _container("pytorch", image, launch, "pytorchjob-port", port, cpu, memory, gpus,
                           env)
    specs = {"Master": _replica(1, container, restart_policy)}
    if workers:
        specs["Worker"] = _replica(workers, json.loads(json.dumps(container)), restart_policy)
    spec = {"pytorchReplicaSpecs": specs, "nprocPerNode": str(nproc),
            "runPolicy": {"cleanPodPolicy": "None"}}
    if max_restarts is not None:
        pods = 1 + workers
        spec["elasticPolicy"] = {"minReplicas": pods, "maxReplicas": pods,
                                 "maxRestarts": int(max_restarts), "rdzvBackend": "c10d"}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def tf_job(name, image, command, workers=1, chief=True, namespace="default", cpu=None,
           memory=None, gpus=0, env=None, restart_policy="OnFailure", port=TF_PORT,
           python="python"):
    """A kubeflow.org/v1 TFJob (a dict) running ``python -u <command>`` once per pod: a Chief
    (rank 0, unless ``chief=False``) and ``workers`` Workers, each reading its rank from the
    TF_CONFIG the operator sets."""
    _check_name(name)
    if workers < 0 or (workers == 0 and not chief):
        raise ValueError("a TFJob needs a chief or at least one worker")
    argv = [python, "-u", *[str(c) for c in command]]
    container = _container("tensorflow", image, argv, "tfjob-port", port, cpu, memory, gpus, env)
    specs = {}
    if chief:
        specs["Chief"] = _replica(1, container, restart_policy)
    if workers:
        specs["Worker"] = _replica(workers, json.loads(json.dumps(container)), restart_policy)
    return {"apiVersion": "kubeflow.org/v1", "kind": "TFJob",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"tfReplicaSpecs": specs, "runPolicy": {"cleanPodPolicy": "None"}}}


def write_manifest(manifest, path):
    """Writes ``manifest`` as YAML (JSON when PyYAML is not installed; kubectl reads both)."""
    try:
        import yaml

        text = yaml.safe_dump(manifest, sort_keys=False)
    except ImportError:
        text = json.dumps(manifest, indent=2) + "\n"
    with open(path, "w") as f:
        f.write(text)
    return path


def _container_of(spec):
    return spec["template"]["spec"]["containers"][0]


def _port(spec, port_name, default):
    for p in _container_of(spec).get("ports", []):
        if p.get("name") == port_name:
            return int(p["containerPort"])
    return default


def operator_env(manifest, replica_type, index, world_size_counts="processes"):
    """The environment the Training Operator gives the main container of pod
    ``<name>-<replica_type>-<index>`` of ``manifest`` (the container's own env included).

    PyTorchJob: MASTER_ADDR/MASTER_PORT (and PET_MASTER_*), RANK (the pod's: Master 0, Worker
    i+1), WORLD_SIZE, PET_NNODES, PET_NPROC_PER_NODE, PET_NODE_RANK, and with an elasticPolicy
    PET_RDZV_* and PET_MAX_RESTARTS. WORLD_SIZE counts processes (pods x nprocPerNode) as newer
    operators set it, or pods with ``world_size_counts="pods"`` as older ones did.
    TFJob: TF_CONFIG with every pod's service address.
    """
    name, kind, spec = manifest["metadata"]["name"], manifest["kind"], manifest["spec"]
    ns = manifest["metadata"].get("namespace", "default")
    if kind == "PyTorchJob":
        specs = spec["pytorchReplicaSpecs"]
        own = specs[replica_type]
        env = {e["name"]: e["value"] for e in _container_of(own).get("env", [])}
        pods = sum(int(s["replicas"]) for s in specs.values())
        nproc = int(spec.get("nprocPerNode", "1"))
        port = _port(specs["Master"], "pytorchjob-port", PYTORCH_PORT)
        rank = int(index) + (1 if replica_type == "Worker" else 0)
        master = f"{name}-master-0"
        world = pods * nproc if world_size_counts == "processes" else pods
        env.update({"PYTHONUNBUFFERED": "0", "MASTER_ADDR": master, "MASTER_PORT": str(port),
                    "PET_MASTER_ADDR": master, "PET_MASTER_PORT": str(port),
                    "WORLD_SIZE": str(world), "RANK": str(rank), "PET_NNODES": str(pods),
                    "PET_NPROC_PER_NODE": str(nproc), "PET_NODE_RANK": str(rank)})
        elastic = spec.get("elasticPolicy")
        if elastic:
            env.update({"PET_RDZV_BACKEND": elastic.get("rdzvBackend", "c10d"),
                        "PET_RDZV_ENDPOINT": f"{master}:{port}", "PET_RDZV_ID": name,
                        "PET_NNODES": f"{elastic['minReplicas']}:{elastic['maxReplicas']}",
                        "PET_MAX_RESTARTS": str(elastic.get("maxRestarts", 0))})
        return env
    if kind == "TFJob":
        specs = spec["tfReplicaSpecs"]
        env = {e["name"]: e["value"] for e in _container_of(specs[replica_type]).get("env", [])}
        cluster = {}
        for rtype, s in specs.items():
            port = _port(s, "tfjob-port", TF_PORT)
            cluster[rtype.lower()] = [f"{name}-{rtype.lower()}-{i}.{ns}.svc:{port}"
                                      for i in range(int(s["replicas"]))]
        env["TF_CONFIG"] = json.dumps({"cluster": cluster,
                                       "task": {"type": replica_type.lower(), "index": int(index)},
                                       "environment": "cloud"})
        return env
    raise ValueError(f"operator_env: unknown kind {kind!r} (PyTorchJob or TFJob)")
