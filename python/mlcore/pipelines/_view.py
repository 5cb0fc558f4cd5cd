"""Notebook views: a pipeline or run drawn as an SVG DAG (tasks coloured by state) and a text
progress bar for run.wait(progress=True)."""

from __future__ import annotations

import html
import sys

COLORS = {"pending": "#e0e0e0", "running": "#90caf9", "succeeded": "#a5d6a7",
          "cached": "#c5e1a5", "failed": "#ef9a9a", "skipped": "#fff59d",
          "interrupted": "#ffcc80", None: "#eceff1"}
FINISHED = ("succeeded", "cached", "failed", "skipped", "interrupted")


def upstream_of(spec: dict) -> dict:
    """{task: sorted upstream task names} from a Pipeline.to_json() document."""

    loops = {loop["name"]: loop for loop in spec.get("loops", [])}

    def tasks_in(binding):
        if "task" in binding:
            yield binding["task"]
        if "gather" in binding:  # the loop body's task, gathered after the loop
            yield binding["gather"]
        if "loop_item" in binding:  # the task whose list the loop iterates over
            yield from tasks_in(loops[binding["loop_item"]]["items"])
        for item in binding.get("collect", []) + binding.get("one_of", []):
            yield from tasks_in(item)

    out = {}
    for t in spec["tasks"]:
        up = set(t.get("after", []))
        for b in t["arguments"].values():
            up.update(tasks_in(b))
        for c in t.get("conditions", []):
            up.update(tasks_in(c["lhs"]))
        out[t["name"]] = sorted(up)
    return out


def dag_svg(upstream: dict, states: dict | None = None) -> str:
    """Tasks in columns by depth (longest upstream path), edges left to right."""
    states = states or {}
    depth = {}

    def level(name):
        if name not in depth:
            depth[name] = 1 + max((level(u) for u in upstream[name]), default=-1)
        return depth[name]

    columns = {}
    for name in upstream:
        columns.setdefault(level(name), []).append(name)
    w, h, dx, dy = 150, 34, 190, 50
    pos = {n: (20 + d * dx, 20 + i * dy) for d, names in columns.items()
           for i, n in enumerate(names)}
    width = 40 + (max(columns, default=0) + 1) * dx
    height = 40 + max((len(v) for v in columns.values()), default=1) * dy
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             'font-family="sans-serif" font-size="12">']
    for name, ups in upstream.items():
        x2, y2 = pos[name]
        for u in ups:
            x1, y1 = pos[u]
            parts.append(f'<line x1="{x1 + w}" y1="{y1 + h / 2}" x2="{x2}" y2="{y2 + h / 2}" '
                         'stroke="#607d8b"/>')
    for name, (x, y) in pos.items():
        state = states.get(name)
        label = html.escape(name if len(name) <= 20 else name[:19] + "…")
        title = html.escape(f"{name}: {state}" if state else name)
        parts.append(f'<g><title>{title}</title><rect x="{x}" y="{y}" width="{w}" height="{h}" '
                     f'rx="6" fill="{COLORS.get(state, COLORS[None])}" stroke="#455a64"/>'
                     f'<text x="{x + 8}" y="{y + 21}">{label}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


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
