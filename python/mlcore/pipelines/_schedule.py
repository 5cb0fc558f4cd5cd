"""Recurring runs: mlcore.schedule, mlcore.schedules, and the loop behind `mlcore scheduler`.

A schedule names its pipeline by import path ("module:function", or "path/to/file.py:function")
so that the long-lived scheduler process can load it again; the records, the cron arithmetic,
the claiming of each scheduled time and the loop are C++ (mlcore._mlcore.pipeline_schedule).
"""

from __future__ import annotations

import datetime
import importlib
import importlib.util
import json
import os
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Union

from .. import _mlcore
from . import _run
from ._dsl import PipelineDef

_cpp = _mlcore.pipeline_schedule
# Defaults come from the C++ option structs (ScheduleOptions, SchedulerOptions): one source.
SCHEDULE_DEFAULTS = _cpp.schedule_defaults()
SCHEDULER_DEFAULTS = _cpp.scheduler_defaults()
_books: Dict[tuple, Any] = {}
_books_lock = threading.Lock()


def _book(home: Optional[str], namespace: str, busy_timeout: Optional[float] = None):
    seconds = _run._busy_timeout(busy_timeout)
    key = (_run._home(home), namespace, seconds)
    with _books_lock:
        if key not in _books:
            _books[key] = _cpp.Schedules(_run.client(home, namespace, seconds))
        return _books[key]


def load_pipeline(ref: str):
    """The pipeline that `ref` ("module:name" or "file.py:name") names: a @pipeline, or a
    pipeline built with the C++ API's binding (``mlcore._mlcore.pipeline.Pipeline``, e.g. of
    command components). ValueError naming `ref` when it cannot be loaded or is neither."""
    if ":" not in ref:
        raise ValueError(f"expected MODULE:PIPELINE, got {ref!r}")
    module_name, attr = ref.rsplit(":", 1)
    try:
        if module_name.endswith(".py") or os.path.sep in module_name:
            spec = importlib.util.spec_from_file_location(
                os.path.splitext(os.path.basename(module_name))[0], module_name)
            if spec is None or not os.path.exists(module_name):
                raise ValueError(f"cannot load {module_name}: no such file")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"cannot import {module_name!r} for {ref}: {e}") from e
    p = getattr(module, attr, None)
    if not isinstance(p, (PipelineDef, _mlcore.pipeline.Pipeline)):
        raise ValueError(f"{ref} is not a @pipeline (nor a built mlcore._mlcore.pipeline."
                         "Pipeline)")
    return p


def _import_path(pipeline: Union[PipelineDef, str]) -> str:
    if isinstance(pipeline, str):
        load_pipeline(pipeline)  # fail now, not at the first fire
        return pipeline
    if not isinstance(pipeline, PipelineDef):
        raise TypeError("mlcore.schedule takes a @pipeline or a 'module:function' path, not "
                        f"{type(pipeline).__name__}")
    func = pipeline.func
    module = sys.modules.get(func.__module__)
    if "<locals>" in func.__qualname__:
        raise ValueError(f"pipeline '{pipeline.name}' is defined inside a function; the "
                         "scheduler cannot import it (define it at module level)")
    if func.__module__ == "__main__" or module is None:
        path = getattr(module, "__file__", None)
        if not path:
            raise ValueError(f"pipeline '{pipeline.name}' is defined in an interactive session; "
                             "pass a 'module:function' path the scheduler can import")
        return f"{os.path.abspath(path)}:{func.__qualname__}"
    return f"{func.__module__}:{func.__qualname__}"


def _seconds(t) -> Optional[float]:
    if t is None:
        return None
    if isinstance(t, datetime.datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=datetime.timezone.utc)
        return t.timestamp()
    return float(t)


def _utc(seconds: Optional[float]) -> Optional[datetime.datetime]:
    if seconds is None:
        return None
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)


class Schedule:
    """A recurring run as recorded: ``pause() resume() delete() next_times(n) runs() fires()``.
    Attributes (id, name, cron, pipeline, arguments, enabled, last_fire, ...) are read from the
    store at each access, so another process's pause shows up."""

    def __init__(self, record: dict, book, home, namespace, busy_timeout=None):
        self._id = record["id"]
        self._cache = record
        self._book = book
        self._home = home
        self._namespace = namespace
        self._busy_timeout = busy_timeout

    @property
    def id(self) -> str:
        return self._id

    @property
    def record(self) -> dict:
        self._cache = self._book.get(self._id)
        return self._cache

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        rec = self.record
        if name not in rec:
            raise AttributeError(f"Schedule has no attribute '{name}'")
        if name in ("last_fire", "created_at", "updated_at", "watermark"):
            return _utc(rec[name])
        return rec[name]

    def pause(self) -> "Schedule":
        self._book.pause(self._id)
        return self

    def resume(self) -> "Schedule":
        """Fires again from now on; times that passed while paused are not run."""
        self._book.resume(self._id)
        return self

    def delete(self) -> None:
        self._book.delete(self._id)

    def next_times(self, n: int = 5) -> List[datetime.datetime]:
        return [_utc(t) for t in self._book.next_times(self._id, n)]

    def fires(self, limit: int = 1000) -> List[dict]:
        """Each scheduled time fired, latest first: scheduled_time, state ("started", "retrying",
        "failed", "lost", "claimed"), run_id, error, attempts (tries to start the run),
        retry_at (when a "retrying" fire is tried again), lease_owner and lease_until (the
        scheduler holding the fire and when its lease runs out)."""
        out = []
        for f in self._book.fires(self._id, limit):
            f = dict(f)
            f["scheduled_time"] = _utc(f["scheduled_time"])
            f["fired_at"] = _utc(f["fired_at"])
            if f.get("retry_at") is not None:
                f["retry_at"] = _utc(f["retry_at"])
            if f.get("lease_until") is not None:
                f["lease_until"] = _utc(f["lease_until"])
            out.append(f)
        return out

    def runs(self) -> List[_run.Run]:
        """The runs this schedule started, latest scheduled time first."""
        c = _run.client(self._home, self._namespace, self._busy_timeout)
        return [_run.Run(f["run_id"], c) for f in self._book.fires(self._id) if f["run_id"]]

    def __repr__(self):
        rec = self._cache
        state = "enabled" if rec["enabled"] else "paused"
        return f"<schedule {rec['name']} '{rec['cron']}' {rec['pipeline']} {state}>"


def schedule(pipeline: Union[PipelineDef, str], cron: str,
             arguments: Optional[Dict[str, Any]] = None, *,
             max_concurrency: int = SCHEDULE_DEFAULTS["max_concurrency"],
             catchup: str = SCHEDULE_DEFAULTS["catchup"],
             max_catchup: int = SCHEDULE_DEFAULTS["max_catchup"],
             experiment: str = SCHEDULE_DEFAULTS["experiment"], name: Optional[str] = None,
             time_zone: str = SCHEDULE_DEFAULTS["time_zone"], start_after=None,
             namespace: str = "default", home: Optional[str] = None,
             busy_timeout: Optional[float] = None) -> Schedule:
    """Records a recurring run of `pipeline` on `cron` (five fields or @daily...), fired by
    the `mlcore scheduler` process.

    ``catchup`` says what happens to times missed while no scheduler ran: "skip" (none run),
    "once" (one run stands for all), "all" (each runs, at most ``max_catchup`` latest ones).
    ``max_concurrency`` bounds this schedule's runs in flight (0: no bound). ``start_after``
    (datetime or Unix seconds; default now): the first fire is the first cron time after it.
    ``busy_timeout``: seconds the store calls (of this and the returned Schedule) wait for
    another connection's write lock before TimeoutError (None: 30; see mlcore.client).
    """
    if isinstance(pipeline, PipelineDef):
        pipeline.build()  # a mistake in the pipeline shows now, not at 3 a.m.
    path = _import_path(pipeline)
    args = json.dumps(arguments or {})
    book = _book(home, namespace, busy_timeout)
    rec = book.create("python", path, args, cron, time_zone, experiment, max_concurrency,
                      catchup, max_catchup, name or "", _seconds(start_after))
    return Schedule(rec, book, home, namespace, busy_timeout)


def schedules(namespace: str = "default", home: Optional[str] = None,
              busy_timeout: Optional[float] = None) -> List[Schedule]:
    """Every schedule of the namespace, oldest first. busy_timeout: as for schedule()."""
    book = _book(home, namespace, busy_timeout)
    return [Schedule(r, book, home, namespace, busy_timeout) for r in book.list()]


def get_schedule(id_or_name: str, namespace: str = "default",
                 home: Optional[str] = None, busy_timeout: Optional[float] = None) -> Schedule:
    """KeyError when the namespace has no such schedule. busy_timeout: as for schedule()."""
    book = _book(home, namespace, busy_timeout)
    return Schedule(book.get(id_or_name), book, home, namespace, busy_timeout)


def _file_clock(path: str):
    # Test-only: the scheduler's "now" read from a file holding Unix seconds.
    def now() -> float:
        with open(path, encoding="utf-8") as f:
            return float(f.read().strip())
    return now


def make_scheduler(namespace: str = "default", home: Optional[str] = None,
                   poll: float = SCHEDULER_DEFAULTS["poll"],
                   misfire_grace: float = SCHEDULER_DEFAULTS["misfire_grace"],
                   clock_file: Optional[str] = None, log=None,
                   start_retries: int = SCHEDULER_DEFAULTS["start_retries"],
                   start_backoff: float = SCHEDULER_DEFAULTS["start_backoff"],
                   start_backoff_factor: float = SCHEDULER_DEFAULTS["start_backoff_factor"],
                   start_max_backoff: float = SCHEDULER_DEFAULTS["start_max_backoff"],
                   keep_fires: int = SCHEDULER_DEFAULTS["keep_fires"],
                   busy_timeout: Optional[float] = None,
                   lease: float = SCHEDULER_DEFAULTS["lease"]):
    """A C++ Scheduler that starts Python pipelines with mlcore.run (in this process).

    A fire whose run cannot start (the pipeline does not load, its arguments are refused) is
    tried again ``start_retries`` times, ``start_backoff`` seconds later, then that times
    ``start_backoff_factor`` (at most ``start_max_backoff``), before it is recorded failed.
    ``keep_fires``: fire records kept per schedule (0: all). ``busy_timeout``: seconds the
    scheduler's and its runs' store calls wait for another connection's write lock (None: 30).
    ``lease``: seconds a claimed fire stays this scheduler's without being renewed (renewed every
    third of it while its run is alive); another scheduler takes over a fire whose lease ran out.
    """
    client = _run.client(home, namespace, busy_timeout)

    def launch(rec: dict, scheduled_time: float) -> str:
        try:
            p = load_pipeline(rec["pipeline"])
        except ValueError as e:
            raise RuntimeError(str(e)) from None
        if isinstance(p, PipelineDef):
            run_id = _run.run(p, arguments=rec["arguments"], experiment=rec["experiment"],
                              namespace=namespace, home=home, busy_timeout=busy_timeout).id
        else:
            # A pipeline built with the C++ API (command or C++ components): started as is.
            run_id = client.start(p, json.dumps(rec["arguments"]), rec["experiment"], 0, 0.0, -1,
                                  True, "").id
        if log is not None:
            log(f"schedule {rec['name']}: {_utc(scheduled_time):%Y-%m-%d %H:%M} UTC -> "
                f"run {run_id}")
        return run_id

    now = _file_clock(clock_file) if clock_file else None
    return _cpp.Scheduler(client, launch, registered=False, poll=poll,
                          misfire_grace=misfire_grace, now=now, start_retries=start_retries,
                          start_backoff=start_backoff, start_backoff_factor=start_backoff_factor,
                          start_max_backoff=start_max_backoff, keep_fires=keep_fires,
                          lease=lease)


def wait_for_runs(run_ids, namespace: str = "default", home: Optional[str] = None,
                  poll: float = 0.05, busy_timeout: Optional[float] = None) -> None:
    """Blocks until the recorded runs `run_ids` have finished."""
    for run_id in run_ids:
        r = _run.get_run(run_id, namespace=namespace, home=home, busy_timeout=busy_timeout)
        while not r.done:
            time.sleep(poll)
