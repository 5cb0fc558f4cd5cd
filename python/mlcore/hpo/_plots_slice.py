"""Slice and contour plots of a study, hand-written SVG like those of _plots: shown inline in
notebooks (each trial a point with a tooltip: number, parameters, value), written by ``save``.
"""

import html
import math

from ._plots import SVG


def _target(study, target):
    if len(study.directions) > 1 and target is None:
        raise ValueError("a multi-objective study needs target=lambda t: t.values[i]")
    return target or (lambda t: t.value)


def _complete(study, get):
    out = []
    for t in study.trials:
        if t.state != "complete":
            continue
        v = get(t)
        if v is not None and math.isfinite(v):
            out.append((t, v))
    return out


def _axis(trials, name):
    """(position of a value in [0, 1] or None, tick labels as (position, text)) for a
    parameter: log scale for log ranges, evenly spaced choices for categories."""
    dists = [t.distributions[name] for t, _ in trials if name in t.distributions]
    dist = dists[0] if dists else None
    if dist is not None and dist.type in ("categorical", "discrete"):
        choices = [str(c) for c in dist.choices]
        span = max(len(choices) - 1, 1)
        ticks = [(i / span, c) for i, c in enumerate(choices)]
        return (lambda v: choices.index(str(v)) / span if str(v) in choices else None), ticks
    if dist is not None:
        f = math.log if dist.log else float
        lo, hi = f(dist.low), f(dist.high)
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        ticks = []
        for k in range(3):
            x = lo + (hi - lo) * k / 2
            ticks.append((k / 2, f"{math.exp(x) if dist.log else x:.3g}"))
        return (lambda v: (f(v) - lo) / (hi - lo)), ticks
    return (lambda v: None), []


def _color(q):
    """Blue (0: best) to yellow (1: worst)."""
    q = min(max(q, 0.0), 1.0)
    r, g, b = int(40 + 210 * q), int(60 + 160 * q), int(200 - 160 * q)
    return f"rgb({r},{g},{b})"


def _tooltip(t, v):
    params = ", ".join(f"{k}={p}" for k, p in t.params.items())
    return html.escape(f"trial {t.number}: {v:.6g} ({params})")


def _header(w, h, title):
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">',
            f'<text x="{w / 2}" y="18" text-anchor="middle" font-size="14">'
            f'{html.escape(title)}</text>']


def plot_slice(study, params=None, target=None, target_name="value"):
    """One panel per parameter: each complete trial's objective value (y) against its value of
    that parameter (x; log scale for log ranges), coloured by trial number (blue: early,
    yellow: late). Shows which values of each parameter give good results (SVG)."""
    get = _target(study, target)
    trials = _complete(study, get)
    names = list(params) if params else sorted({n for t, _ in trials for n in t.params})
    pw, ph, top, left = 220, 200, 40, 60
    w = left + pw * max(len(names), 1) + 10
    h = top + ph + 50
    parts = _header(w, h, f"Slice plot of {study.name}")
    if not trials or not names:
        parts.append(f'<text x="{w / 2}" y="{h / 2}" text-anchor="middle">'
                     'no complete trials</text></svg>')
        return SVG("".join(parts))
    values = [v for _, v in trials]
    lo, hi = min(values), max(values)
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    y_of = lambda v: top + ph - (v - lo) / (hi - lo) * ph  # noqa: E731
    for k in range(5):
        yv = lo + (hi - lo) * k / 4
        parts.append(f'<text x="{left - 6}" y="{y_of(yv) + 4:.1f}" text-anchor="end">'
                     f'{yv:.4g}</text>')
    parts.append(f'<text x="14" y="{top + ph / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + ph / 2})">{html.escape(target_name)}</text>')
    last = max(t.number for t, _ in trials) or 1
    for i, name in enumerate(names):
        x0 = left + i * pw + 10
        inner = pw - 20
        pos, ticks = _axis(trials, name)
        parts.append(f'<g class="panel" data-param="{html.escape(name)}">'
                     f'<rect x="{x0}" y="{top}" width="{inner}" height="{ph}" fill="none" '
                     f'stroke="#888"/><text x="{x0 + inner / 2}" y="{top + ph + 36}" '
                     f'text-anchor="middle">{html.escape(name)}</text>')
        for p, label in ticks:
            parts.append(f'<text x="{x0 + p * inner:.1f}" y="{top + ph + 14}" '
                         f'text-anchor="middle">{html.escape(label)}</text>')
        for t, v in trials:
            p = pos(t.params[name]) if name in t.params else None
            if p is None:
                continue
            parts.append(f'<circle class="trial" cx="{x0 + p * inner:.1f}" cy="{y_of(v):.1f}" '
                         f'r="3.5" fill="{_color(t.number / last)}" fill-opacity="0.85">'
                         f'<title>{_tooltip(t, v)}</title></circle>')
        parts.append("</g>")
    parts.append("</svg>")
    return SVG("".join(parts))


def _surface(points, n):
    """The objective on an n x n grid over [0, 1]^2, interpolated from (x, y, value) points by
    inverse-distance weighting (exact at the points, smooth between)."""
    grid = []
    for j in range(n):
        row = []
        for i in range(n):
            gx, gy = (i + 0.5) / n, (j + 0.5) / n
            num = den = 0.0
            for x, y, v in points:
                d2 = (x - gx) ** 2 + (y - gy) ** 2
                if d2 < 1e-12:
                    num, den = v, 1.0
                    break
                w = 1.0 / d2
                num += w * v
                den += w
            row.append(num / den)
        grid.append(row)
    return grid


def _contour_panel(parts, trials, nx, ny, x0, y0, size, lo, hi, minimize, n):
    px, tx = _axis(trials, nx)
    py, ty = _axis(trials, ny)
    pts = []
    for t, v in trials:
        if nx in t.params and ny in t.params:
            a, b = px(t.params[nx]), py(t.params[ny])
            if a is not None and b is not None:
                pts.append((a, b, v, t))
    parts.append(f'<g class="panel" data-x="{html.escape(nx)}" data-y="{html.escape(ny)}">')
    q = lambda v: (v - lo) / (hi - lo) if minimize else (hi - v) / (hi - lo)  # noqa: E731
    if pts:
        cell = size / n
        for j, row in enumerate(_surface([(a, b, v) for a, b, v, _ in pts], n)):
            for i, v in enumerate(row):
                parts.append(f'<rect class="cell" x="{x0 + i * cell:.1f}" '
                             f'y="{y0 + size - (j + 1) * cell:.1f}" width="{cell + 0.3:.1f}" '
                             f'height="{cell + 0.3:.1f}" fill="{_color(q(v))}" '
                             f'fill-opacity="0.55"/>')
    parts.append(f'<rect x="{x0}" y="{y0}" width="{size}" height="{size}" fill="none" '
                 f'stroke="#888"/>')
    for p, label in tx:
        parts.append(f'<text x="{x0 + p * size:.1f}" y="{y0 + size + 13}" '
                     f'text-anchor="middle">{html.escape(label)}</text>')
    for p, label in ty:
        parts.append(f'<text x="{x0 - 4}" y="{y0 + size - p * size + 4:.1f}" '
                     f'text-anchor="end">{html.escape(label)}</text>')
    parts.append(f'<text x="{x0 + size / 2}" y="{y0 + size + 28}" text-anchor="middle">'
                 f'{html.escape(nx)}</text><text x="{x0 - 44}" y="{y0 + size / 2}" '
                 f'text-anchor="middle" transform="rotate(-90 {x0 - 44} {y0 + size / 2})">'
                 f'{html.escape(ny)}</text>')
    for a, b, v, t in pts:
        parts.append(f'<circle class="trial" cx="{x0 + a * size:.1f}" '
                     f'cy="{y0 + size - b * size:.1f}" r="3" fill="#000" fill-opacity="0.7">'
                     f'<title>{_tooltip(t, v)}</title></circle>')
    parts.append("</g>")


def plot_contour(study, params=None, target=None, target_name="value", resolution=24):
    """The objective over pairs of parameters: a colour surface interpolated from the complete
    trials (blue: good, yellow: bad) with the trials as dots. Two parameters give one panel;
    more give one panel per pair (a matrix, x the column's, y the row's parameter) (SVG)."""
    get = _target(study, target)
    trials = _complete(study, get)
    names = list(params) if params else sorted({n for t, _ in trials for n in t.params})
    if len(names) < 2:
        raise ValueError(f"a contour plot needs two parameters or more; study {study.name!r} "
                         f"has {names}")
    pairs = [(names[0], names[1])] if len(names) == 2 else [
        (a, b) for b in names for a in names if a != b]
    cols = 1 if len(names) == 2 else len(names)
    rows = 1 if len(names) == 2 else len(names)
    size, pad, top = 240 if cols == 1 else 160, 70, 40
    w, h = pad + cols * (size + pad), top + rows * (size + pad)
    parts = _header(w, h, f"Contour plot of {study.name} ({target_name})")
    values = [v for _, v in trials]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    minimize = study.directions[0] == "minimize" if target is None else True
    for nx, ny in pairs:
        c = 0 if cols == 1 else names.index(nx)
        r = 0 if rows == 1 else names.index(ny)
        _contour_panel(parts, trials, nx, ny, pad + c * (size + pad), top + r * (size + pad),
                       size, lo, hi, minimize, resolution)
    parts.append("</svg>")
    return SVG("".join(parts))
