"""Artifact types and the Input[...] / Output[...] annotations of component functions."""

from __future__ import annotations

import functools
import typing
from typing import Any, Dict, Optional


class Artifact:
    """A file or directory a task produced or consumes (``.path``) plus free-form ``.metadata``.

    Inside a component, an ``Output[Model]`` argument's ``.path`` is where to write the file (or
    a directory: ``model.save(out.path)`` of mlcore.nn) and its ``.metadata`` dict is recorded
    with it; an ``Input[Dataset]`` argument's ``.path`` is a read-only file in the artifact store,
    checked against its sha256 before the task starts, or for a directory the task's own copy,
    every file checked. A finished run's directory artifact ``.path`` is its manifest;
    ``mlcore.store.ArtifactStore().get_directory(a.digest, dest)`` copies the tree out.
    """

    type_name = "Artifact"

    def __init__(self, path: Optional[str] = None, metadata: Optional[Dict[str, Any]] = None,
                 digest: Optional[str] = None, uri: Optional[str] = None,
                 artifact_id: Optional[int] = None, producer: Optional[Dict[str, str]] = None,
                 _consumers=None):
        self.path = path
        self.metadata = dict(metadata or {})
        self.digest = digest
        self.uri = uri
        self.id = artifact_id
        self._producer = producer
        self._consumers = _consumers

    @property
    def producer(self) -> Optional[Dict[str, str]]:
        """``{"run_id", "task", "output"}`` of the task that wrote it (recorded artifacts)."""
        return self._producer

    @property
    def consumers(self):
        """``[{"run_id", "task", "input"}]``: the tasks that read it (recorded artifacts)."""
        return self._consumers() if self._consumers else []

    def read_text(self) -> str:
        with open(self.path, encoding="utf-8") as f:
            return f.read()

    def read_bytes(self) -> bytes:
        with open(self.path, "rb") as f:
            return f.read()

    def __repr__(self):
        digest = (self.digest or "")[:12]
        return f"{type(self).__name__}(path={self.path!r}, digest={digest!r}, metadata={self.metadata!r})"


class Dataset(Artifact):
    type_name = "Dataset"


class Model(Artifact):
    type_name = "Model"


class Metrics(Artifact):
    type_name = "Metrics"

    def log_metric(self, name: str, value: float) -> None:
        """Records a scalar in the artifact's metadata (what Kubeflow's UI shows)."""
        self.metadata[name] = value


ARTIFACT_TYPES = {cls.type_name: cls for cls in (Artifact, Dataset, Model, Metrics)}


@functools.lru_cache(maxsize=None)
def _marker(direction: str, artifact_type: type) -> type:
    if typing.get_origin(artifact_type) is list:
        # Input[List[Model]]: the artifacts a ParallelFor's iterations wrote, gathered with
        # mlcore.Collected (a list of lists across nested loops).
        (item,) = typing.get_args(artifact_type) or (None,)
        if direction != "input" or not (isinstance(item, type) and issubclass(item, Artifact)):
            raise TypeError(f"{direction.capitalize()}[List[...]]: only inputs take a list, of "
                            f"one artifact type (Input[List[Model]]), not {artifact_type!r}")
        return type(f"Input[List[{item.__name__}]]", (list,), {"_mlcore_io": (direction, item),
                                                               "_mlcore_list": True})
    if not (isinstance(artifact_type, type) and issubclass(artifact_type, Artifact)):
        raise TypeError(f"{direction.capitalize()}[...] takes an artifact type (Artifact, Dataset, "
                        f"Model, Metrics), not {artifact_type!r}")
    # A subclass, so that typing accepts it as an annotation; it remembers its direction.
    name = f"{direction.capitalize()}[{artifact_type.__name__}]"
    return type(name, (artifact_type,), {"_mlcore_io": (direction, artifact_type)})


class Input:
    """``Input[Dataset]``: an artifact the component reads."""

    def __class_getitem__(cls, artifact_type):
        return _marker("input", artifact_type)


class Output:
    """``Output[Model]``: an artifact the component writes (at ``.path``)."""

    def __class_getitem__(cls, artifact_type):
        return _marker("output", artifact_type)
