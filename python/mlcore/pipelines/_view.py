"""Notebook views: a pipeline or run drawn as an SVG DAG (tasks coloured by state) and a text
progress bar for run.wait(progress=True)."""

from __future__ import annotations

import html
import json
import sys

FINISHED = ("succeeded", "cached", "failed", "skipped", "interrupted")


def dag_svg(spec, states: dict | None = None) -> str:
    """The drawing of a pipeline spec (Pipeline.to_json() as a dict, or the stored JSON text):
    laid out and drawn by C++ (mlcore/pipeline/drawing.h), task states as colours."""
    from .._mlcore import pipeline as _native
    text = spec if isinstance(spec, str) else json.dumps(spec)
    return _native.dag_svg(text, {k: v for k, v in (states or {}).items() if v})


def dag_layout(spec, states: dict | None = None) -> dict:
    """The geometry of dag_svg's drawing: each task's box (x, y, width, height) and each
    edge's polyline."""
    from .._mlcore import pipeline as _native
    text = spec if isinstance(spec, str) else json.dumps(spec)
    return _native.dag_layout(text, {k: v for k, v in (states or {}).items() if v})


def run_html(run_id: str, status: str, svg: str | None, tasks: list) -> str:
    """A run for notebooks: its drawing (inside the HTML, which is what JupyterLab, VS Code
    and nbconvert show), then a table of its tasks."""
    rows = "".join(
        f"<tr><td>{html.escape(t.name)}</td><td>{html.escape(t.state)}</td>"
        f"<td>{t.attempts}</td><td>{_duration(t.started_at, t.finished_at)}</td>"
        f"<td>{html.escape(t.error)}</td></tr>" for t in tasks)
    drawing = f"<div>{svg}</div>" if svg else ""
    return (f"<div class=\"mlcore-run\"><p>run <code>{html.escape(run_id)}</code>: "
            f"<b>{html.escape(status)}</b></p>{drawing}<table><tr><th>task</th><th>state</th>"
            f"<th>attempts</th><th>duration</th><th>error</th></tr>{rows}</table></div>")


def _duration(start, end) -> str:
    return "" if start is None or end is None else f"{end - start:.2f} s"


def progress_line(states: list, width: int = 30) -> str:
    done = sum(s in FINISHED for s in states)
    total = max(len(states), 1)
    filled = int(width * done / total)
    failed = sum(s == "failed" for s in states)
    extra = f", {failed} failed" if failed else ""
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{len(states)} tasks{extra}"


def write_progress(line: str, final: bool = False) -> None:
    sys.stderr.write("\r" + line + ("\n" if final else ""))
    sys.stderr.flush()
