"""Calls a component function with the inputs of one task and writes its outputs back.

The same code runs in-process (called from the C++ executor with the task's context) and in a
fresh Python process (``python -m mlcore.pipelines._subprocess``), so both modes behave alike:
parameters arrive as JSON values, artifacts as objects with ``.path``/``.metadata``, return values
become output parameters written to the files the executor reads.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import typing

from ._artifacts import ARTIFACT_TYPES


@functools.lru_cache(maxsize=None)
def _hints(func):
    return typing.get_type_hints(func), tuple(inspect.signature(func).parameters)


def return_outputs(func) -> typing.List[typing.Tuple[str, typing.Any]]:
    """[(output name, annotation)] of a function's return value: none, one ("output") or the
    fields of a NamedTuple."""
    hints = _hints(func)[0]
    ret = hints.get("return", None)
    if ret is None or ret is type(None):
        return []
    fields = getattr(ret, "__annotations__", None)
    if isinstance(ret, type) and issubclass(ret, tuple) and hasattr(ret, "_fields") and fields:
        return [(name, fields[name]) for name in ret._fields]
    return [("output", ret)]


def _write_parameter(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f)


def _input_artifact(entry, default_cls):
    """An input artifact object from its executor-input entry; a list input's entry is a list
    (of lists, across nested loops)."""
    if isinstance(entry, list):
        return [_input_artifact(e, default_cls) for e in entry]
    cls = ARTIFACT_TYPES.get(entry.get("type"), default_cls)
    return cls(path=entry["path"], metadata=entry.get("metadata"), digest=entry.get("digest"))


def invoke(func, executor_input: dict, set_output=None) -> None:
    """Calls func; each output parameter goes to set_output(name, value) when given (in-process),
    else to the file the executor named for it (subprocess)."""
    hints, parameter_names = _hints(func)
    params = executor_input.get("parameters", {})
    inputs = executor_input.get("inputs", {})
    outputs = executor_input.get("outputs", {})
    kwargs = {}
    written = {}
    for name in parameter_names:
        annotation = hints.get(name)
        io = getattr(annotation, "_mlcore_io", None)
        if io and io[0] == "input":
            kwargs[name] = _input_artifact(inputs[name], io[1])
        elif io and io[0] == "output":
            entry = outputs[name]
            artifact = io[1](path=entry["path"], metadata={})
            kwargs[name] = artifact
            written[name] = (artifact, entry["metadata_path"])
        elif name in params:
            value = params[name]
            kwargs[name] = float(value) if annotation is float else value
    result = func(**kwargs)
    specs = return_outputs(func)
    if len(specs) == 1 and specs[0][0] == "output":
        values = {"output": result}
    elif specs:
        values = dict(zip([n for n, _ in specs], result))
    else:
        values = {}
    paths = executor_input.get("output_parameters", {})
    for name, value in values.items():
        if set_output is not None:
            set_output(name, value)
        else:
            _write_parameter(paths[name], value)
    for name, (artifact, metadata_path) in written.items():
        if artifact.type_name == "Metrics" and not os.path.exists(artifact.path):
            # Metrics live in metadata; the file holds the same scalars, so it has content.
            with open(artifact.path, "w", encoding="utf-8") as f:
                json.dump(artifact.metadata, f, sort_keys=True)
        if artifact.metadata:
            with open(metadata_path, "w", encoding="utf-8") as f:
                json.dump(artifact.metadata, f)


def from_kfp(executor_input: dict) -> dict:
    """Kubeflow's ExecutorInput ({{$}} on a cluster) in the executor's own form."""

    def local(uri: str) -> str:
        for prefix, mount in (("gs://", "/gcs/"), ("minio://", "/minio/"), ("s3://", "/s3/")):
            if uri.startswith(prefix):
                return mount + uri[len(prefix):]
        return uri

    inputs = executor_input.get("inputs", {})
    outputs = executor_input.get("outputs", {})
    ours = {"parameters": dict(inputs.get("parameterValues", {})), "inputs": {}, "outputs": {},
            "output_parameters": {}}
    for name, entry in inputs.get("artifacts", {}).items():
        art = entry["artifacts"][0]
        ours["inputs"][name] = {"type": art.get("type", {}).get("schemaTitle", "system.Artifact")
                                .split(".")[-1], "path": local(art["uri"]),
                                "metadata": art.get("metadata", {})}
    for name, entry in outputs.get("artifacts", {}).items():
        art = entry["artifacts"][0]
        path = local(art["uri"])
        ours["outputs"][name] = {"path": path, "metadata_path": path + ".metadata.json"}
    for name, entry in outputs.get("parameters", {}).items():
        ours["output_parameters"][name] = entry["outputFile"]
    return ours
