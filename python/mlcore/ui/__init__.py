"""mlcore.ui: one dashboard for a home's pipeline runs, studies, training curves, registered
models, model servers and devices.

``start(home=..., port=0)`` serves it on 127.0.0.1 from C++ threads (a notebook stays
responsive) and returns a handle with ``.url`` and ``.stop()``; ``Dashboard(home)`` answers the
same JSON the pages read, as Python dicts. Read-only unless a ``token`` is given; then changes
(promoting a model alias) need ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import json
import os
from typing import Optional, Sequence

from .. import _mlcore

__all__ = ["Dashboard", "DashboardServer", "start", "static_dir"]


def static_dir() -> str:
    """The directory of the dashboard's pages as shipped in this package."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")


class Dashboard:
    """The dashboard's data calls over ``home`` (default: $MLCORE_HOME, else ~/.mlcore). Each
    returns what the matching /ui/api endpoint answers, as a dict (``run_dag`` an SVG text).
    Unknown ids raise KeyError; a missing or damaged store raises ValueError/RuntimeError."""

    def __init__(self, home=None, *, token: Optional[str] = None,
                 log_dirs: Sequence[str] = (), static: Optional[str] = None):
        self._d = _mlcore.ui.Dashboard(home=str(home or ""), token=token or "",
                                       log_dirs=[str(d) for d in log_dirs],
                                       static_dir=str(static or ""))

    @property
    def home(self) -> str:
        return self._d.home

    def runs(self, *, state="", experiment="", pipeline="", min_duration=-1.0,
             max_duration=-1.0, offset=0, limit=50) -> dict:
        return json.loads(self._d.runs(state, experiment, pipeline, float(min_duration),
                                       float(max_duration), int(offset), int(limit)))

    def run(self, run_id: str) -> dict:
        return json.loads(self._d.run(run_id))

    def run_dag(self, run_id: str) -> str:
        return self._d.run_dag(run_id)

    def task_log(self, run_id: str, task: str, stream: str = "stdout") -> str:
        return self._d.task_log(run_id, task, stream)

    def artifacts(self, *, offset=0, limit=50) -> dict:
        return json.loads(self._d.artifacts(int(offset), int(limit)))

    def artifact(self, artifact_id: int) -> dict:
        return json.loads(self._d.artifact(int(artifact_id)))

    def artifact_bytes(self, artifact_id: int, path: str = "") -> bytes:
        return self._d.artifact_bytes(int(artifact_id), path)[0]

    def schedules(self) -> dict:
        return json.loads(self._d.schedules())

    def studies(self) -> dict:
        return json.loads(self._d.studies())

    def trials(self, study: str, *, state="", sort="number", descending=False, offset=0,
               limit=50) -> dict:
        return json.loads(self._d.trials(study, state, sort, bool(descending), int(offset),
                                         int(limit)))

    def study_plots(self, study: str) -> dict:
        return json.loads(self._d.study_plots(study))

    def trial(self, study: str, number: int) -> dict:
        return json.loads(self._d.trial(study, int(number)))

    def trial_log(self, study: str, number: int, stream: str = "stdout",
                  max_bytes: int = 1 << 20) -> str:
        """The last ``max_bytes`` of a command trial's stdout or stderr ("" when it kept none)."""
        return self._d.trial_log(study, int(number), stream, int(max_bytes))

    def training_runs(self) -> dict:
        return json.loads(self._d.training_runs())

    def training_curves(self, name: str, after_step: int = -1) -> dict:
        return json.loads(self._d.training_curves(name, int(after_step)))

    def models(self) -> dict:
        return json.loads(self._d.models())

    def model(self, name: str) -> dict:
        return json.loads(self._d.model(name))

    def promote_alias(self, model: str, alias: str, version: int, *, token: str) -> None:
        self._d.promote_alias(token, model, alias, int(version))

    def servers(self) -> dict:
        return json.loads(self._d.servers())

    def resources(self) -> dict:
        return json.loads(self._d.resources())


class DashboardServer:
    """A running dashboard: ``url`` (ends with /ui/), ``stop()``; a context manager. In a
    notebook its display is a link to the page."""

    def __init__(self, dashboard: Dashboard, host: str, port: int, threads: int):
        self.dashboard = dashboard
        self._server = _mlcore.ui.make_server(dashboard._d, host, int(port), int(threads))
        self._server.start()

    @property
    def url(self) -> str:
        return self._server.url + "/ui/"

    @property
    def running(self) -> bool:
        return self._server.running

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self) -> str:
        return f"mlcore.ui.DashboardServer({self.url if self.running else 'stopped'})"

    def _repr_html_(self) -> str:
        from html import escape
        return f'<a href="{escape(self.url)}" target="_blank">mlcore dashboard: {escape(self.url)}</a>'


def start(home=None, port: int = 0, *, host: str = "127.0.0.1", token: Optional[str] = None,
          log_dirs: Sequence[str] = (), static: Optional[str] = None,
          threads: int = 2) -> DashboardServer:
    """Serves the dashboard of ``home`` on ``host:port`` (port 0: any free one; read ``.url``).
    ``log_dirs``: where training runs' TensorBoard event files are (default <home>/logs).
    ``static``: serve the pages from this directory instead of the built-in copies."""
    return DashboardServer(Dashboard(home, token=token, log_dirs=log_dirs, static=static),
                           host, port, threads)
