"""Running pipelines on the local executor and reading back what ran: mlcore.run, Run,
mlcore.runs, mlcore.compile."""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from typing import Any, Dict, List, Optional, Sequence

from .. import _mlcore
from .._busy_timeout import busy_timeout_seconds as _busy_timeout
from . import _view
from ._artifacts import ARTIFACT_TYPES
from ._dsl import PipelineDef

_cpp = _mlcore.pipeline
_clients: Dict[tuple, Any] = {}
_clients_lock = threading.Lock()


def _home(home: Optional[str]) -> str:
    """`home`, else the C++ store's default ($MLCORE_HOME, else ~/.mlcore)."""
    return home if home else _mlcore.store.default_home()


def client(home: Optional[str] = None, namespace: str = "default",
           busy_timeout: Optional[float] = None, artifacts: Optional[str] = None):
    """The process's C++ Client for (home, namespace, busy_timeout). Kept for the life of the
    process: runs in flight hold it, and dropping it waits for them. busy_timeout: seconds a
    store call waits for another connection's write lock before it fails with TimeoutError
    (None: 30); each distinct value gets its own client (and store connection). artifacts:
    where artifacts are also kept ("s3://bucket/prefix"; None: $MLCORE_ARTIFACTS, "none":
    local only; see docs/object_storage.md)."""
    seconds = _busy_timeout(busy_timeout)
    # The default's key stays (home, namespace): tests and tools place clients under it.
    key = (_home(home), namespace) if seconds is None else (_home(home), namespace, seconds)
    if artifacts is not None:
        key += (artifacts,)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = _cpp.Client(key[0], namespace, busy_timeout=seconds,
                                        artifacts=artifacts or "")
        return _clients[key]


_in_flight = []  # handles of runs started by this process


@atexit.register
def _wait_for_runs_at_exit():
    # Worker threads of an unfinished run call back into Python; let them finish before the
    # interpreter goes away (an unwaited run would otherwise be cut off mid-task).
    for handle in _in_flight:
        if not handle.done:
            handle.wait()


class Task:
    """One task of a run, as recorded: name, state, attempts, error, outputs, logs."""

    def __init__(self, record: dict, run: "Run"):
        self._r = record
        self._run = run

    name = property(lambda self: self._r["name"])
    state = property(lambda self: self._r["state"])
    status = state
    component = property(lambda self: self._r["component"])
    attempts = property(lambda self: self._r["attempts"])
    error = property(lambda self: self._r["error"])
    started_at = property(lambda self: self._r["started_at"])
    finished_at = property(lambda self: self._r["finished_at"])

    @property
    def outputs(self) -> Dict[str, Any]:
        out = dict(self._r["outputs"].get("parameters", {}))
        for name, a in self._r["outputs"].get("artifacts", {}).items():
            out[name] = self._run._artifact(a, self.name, name)
        return out

    def logs(self, stream: str = "stdout") -> str:
        """The task's stdout (or "stderr") log; empty when it wrote none."""
        path = self._r["stderr_path" if stream == "stderr" else "stdout_path"]
        if not path or not os.path.exists(path):
            return ""
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def __repr__(self):
        return f"<task {self.name}: {self.state}>"


class Run:
    """A pipeline run: ``wait()``, ``status``, ``tasks``, ``outputs``, ``resume()``."""

    def __init__(self, run_id: str, client_, handle=None, pipeline=None, options=None):
        self.id = run_id
        self._client = client_
        self._handle = handle
        self._pipeline = pipeline
        self._options = options or {}

    def wait(self, timeout: Optional[float] = None, progress: bool = False) -> "Run":
        """Blocks until the run finishes (TimeoutError after `timeout` seconds); `progress`
        draws a progress bar of finished tasks on stderr while waiting."""
        if not progress:
            if self._handle is not None:
                self._handle.wait(timeout)
            return self
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            states = [t["state"] for t in self._client.list_tasks(self.id)]
            finished = self._handle.done if self._handle is not None else self.done
            if finished:
                _view.write_progress(_view.progress_line(
                    [t["state"] for t in self._client.list_tasks(self.id)]), final=True)
                if self._handle is not None:
                    self._handle.wait(0)  # raises what the run's end raised (a refused record)
                return self
            _view.write_progress(_view.progress_line(states))
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run '{self.id}' did not finish within {timeout} s")
            if self._handle is not None:
                try:
                    self._handle.wait(0.2)
                except TimeoutError:
                    pass
            else:
                time.sleep(0.2)

    @property
    def record(self) -> dict:
        return self._client.get_run(self.id)

    @property
    def status(self) -> str:
        return self.record["state"]

    state = status

    @property
    def error(self) -> str:
        return self.record["error"]

    @property
    def done(self) -> bool:
        return self.status not in ("running", "pending")

    @property
    def experiment(self) -> str:
        return self.record["experiment"]

    @property
    def arguments(self) -> Dict[str, Any]:
        return self.record["arguments"]

    @property
    def tasks(self) -> List[Task]:
        return [Task(t, self) for t in self._client.list_tasks(self.id)]

    def task(self, name: str) -> Task:
        tasks = self.tasks
        for t in tasks:
            if t.name == name:
                return t
        known = ", ".join(t.name for t in tasks) or "none"
        raise KeyError(f"run {self.id} has no task '{name}' (tasks: {known})")

    @property
    def outputs(self) -> Dict[str, Any]:
        out = {}
        for name, value in self.record["outputs"].items():
            if isinstance(value, dict) and "digest" in value and "uri" in value:
                out[name] = self._artifact(value, None, name)
            else:
                out[name] = value
        return out

    @property
    def artifacts(self) -> list:
        """Every artifact this run produced, with .producer and .consumers."""
        return [self._artifact_from_record(a) for a in self._client.list_artifacts(self.id)]

    def _artifact_from_record(self, a):
        cls = ARTIFACT_TYPES.get(a["type"], ARTIFACT_TYPES["Artifact"])
        c = self._client
        return cls(path=c.artifact_path(a["digest"]), metadata=a["metadata"], digest=a["digest"],
                   uri=a["uri"], artifact_id=a["id"],
                   producer={"run_id": a["run_id"], "task": a["task"], "output": a["output"]},
                   _consumers=lambda: c.artifact_consumers(a["id"]))

    def _artifact(self, entry, task, output):
        if "id" in entry:
            try:
                return self._artifact_from_record(self._client.get_artifact(entry["id"]))
            except KeyError:
                pass
        cls = ARTIFACT_TYPES.get(entry.get("type"), ARTIFACT_TYPES["Artifact"])
        return cls(path=self._client.artifact_path(entry["digest"]),
                   metadata=entry.get("metadata"), digest=entry["digest"], uri=entry.get("uri"))

    def resume(self, pipeline: Optional[PipelineDef] = None, **options) -> "Run":
        """Resumes this (failed or interrupted) run under the same id; finished tasks keep
        their outputs. Needs the pipeline object unless this Run started it."""
        pipeline = pipeline or self._pipeline
        if pipeline is None:
            raise ValueError(f"run {self.id}: pass the pipeline to resume it with")
        opts = dict(self._options)
        opts.update(options)
        opts.pop("arguments", None)
        return run(pipeline, resume=self.id, **opts)

    def __repr__(self):
        return f"<run {self.id} {self.status}>"

    def spec(self) -> str:
        """The spec (JSON text) of the pipeline version this run ran, as the store keeps it."""
        return self._client.get_run_spec(self.id)

    def _repr_svg_(self):
        return _view.dag_svg(self.spec(), {t.name: t.state for t in self.tasks})

    def _repr_html_(self):
        tasks = self.tasks
        svg = _view.dag_svg(self.spec(), {t.name: t.state for t in tasks})
        return _view.run_html(self.id, self.status, svg, tasks)


def run(pipeline: PipelineDef, arguments: Optional[Dict[str, Any]] = None,
        experiment: str = "Default", *, resume: Optional[str] = None, wait: bool = False,
        max_parallelism: int = 0, cpu_slots: float = 0.0, gpu_slots: int = -1,
        enable_caching: bool = True, namespace: str = "default",
        home: Optional[str] = None, busy_timeout: Optional[float] = None,
        artifacts: Optional[str] = None) -> Run:
    """Starts `pipeline` on the local executor and returns its Run (``run.wait()`` to block).

    ``resume=run_id`` resumes a failed or interrupted run: tasks that finished are not run
    again. ``max_parallelism`` bounds the tasks running at once (0: one per CPU), ``gpu_slots``
    the devices shared by GPU tasks (-1: every CUDA device). ``busy_timeout``: seconds the
    run's store calls wait for another connection's write lock (None: 30; see ``client``).
    ``artifacts="s3://bucket/prefix"`` publishes outputs there and reads inputs back from there,
    checked (None: $MLCORE_ARTIFACTS; see docs/object_storage.md).
    """
    if not isinstance(pipeline, PipelineDef):
        raise TypeError(f"mlcore.run takes a @pipeline, not {type(pipeline).__name__}")
    c = client(home, namespace, busy_timeout, artifacts)
    options = dict(experiment=experiment, max_parallelism=max_parallelism, cpu_slots=cpu_slots,
                   gpu_slots=gpu_slots, enable_caching=enable_caching, namespace=namespace,
                   home=home, busy_timeout=busy_timeout, artifacts=artifacts)
    handle = c.start(pipeline.build(), json.dumps(arguments or {}), experiment, max_parallelism,
                     cpu_slots, gpu_slots, enable_caching, resume or "")
    _in_flight[:] = [h for h in _in_flight if not h.done] + [handle]
    r = Run(handle.id, c, handle, pipeline, options)
    return r.wait() if wait else r


def runs(experiment: Optional[str] = None, pipeline: Optional[str] = None,
         state: Optional[str] = None, namespace: str = "default",
         home: Optional[str] = None, limit: int = 1000,
         busy_timeout: Optional[float] = None, newest_first: bool = False) -> List[Run]:
    """Recorded runs, oldest first (or newest first), filtered by experiment, pipeline name
    and state (ValueError for a word that is not a run state)."""
    if isinstance(pipeline, PipelineDef):
        pipeline = pipeline.name
    c = client(home, namespace, busy_timeout)
    return [Run(r["id"], c) for r in c.list_runs(experiment or "", pipeline or "", state or "",
                                                 limit, newest_first)]


def get_run(run_id: str, namespace: str = "default", home: Optional[str] = None,
            busy_timeout: Optional[float] = None) -> Run:
    """The run with this id, or with the one id of this namespace that starts with it (as git
    takes commit id prefixes): KeyError when none does, ValueError when several do."""
    c = client(home, namespace, busy_timeout)
    try:
        c.get_run(run_id)
    except KeyError:
        run_id = c.resolve_run_id(run_id)
    return Run(run_id, c)


def compile(pipeline: PipelineDef, path: Optional[str] = None, *,  # noqa: A001
            base_image: Optional[str] = None,
            packages_to_install: Optional[Sequence[str]] = None) -> str:
    """Writes the KFP v2 IR (PipelineSpec YAML) of `pipeline` to `path`; returns the text.

    Components that name no image run in ``base_image`` (default: the pipeline's, else
    ``mlcore:<version>``, which the repository's Containerfile builds); ``packages_to_install``
    (default: the pipeline's) are pip-installed when each container starts, before the
    component's own. No CPU limit is compiled unless a component set ``cpu``."""
    if not isinstance(pipeline, PipelineDef):
        raise TypeError(f"mlcore.compile takes a @pipeline, not {type(pipeline).__name__}")
    if isinstance(packages_to_install, str):
        raise TypeError("packages_to_install is a list of requirement strings")
    image = base_image or pipeline.base_image or ""
    packages = list(pipeline.packages_to_install if packages_to_install is None
                    else packages_to_install)
    text = pipeline.build().compile_kfp(base_image=image, packages_to_install=packages)
    if path is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return text
