"""Plots of a study as hand-written SVG: no matplotlib, no display server. Each function returns
an SVG object that Jupyter renders inline (``_repr_svg_``) and that ``save(path)`` writes."""

import html
import math

from .._mlcore import hpo as _core


class SVG:
    """An SVG document (``text``); shown inline in notebooks, written with ``save``."""

    def __init__(self, text):
        self.text = text

    def _repr_svg_(self):
        return self.text

    def save(self, path):
        with open(path, "w") as f:
            f.write(self.text)

    def __str__(self):
        return self.text


_W, _H, _L, _R, _T, _B = 640, 400, 70, 20, 40, 50


def _scale(lo, hi, a, b):
    if not (hi > lo):
        lo, hi = lo - 0.5, hi + 0.5
    return lambda v: a + (v - lo) / (hi - lo) * (b - a)


def plot_optimization_history(study, target=None, target_name="value"):
    """Each complete trial's value (dots) and the best value so far (a step line) against the
    trial number. Multi-objective studies need ``target`` (a function of a FrozenTrial)."""
    if len(study.directions) > 1 and target is None:
        raise ValueError("a multi-objective study needs target=lambda t: t.values[i]")
    get = target or (lambda t: t.value)
    trials = [t for t in study.trials if t.state == "complete"]
    points = [(t.number, get(t)) for t in trials]
    points = [(n, v) for n, v in points if v is not None and math.isfinite(v)]
    title = f"Optimization history of {study.name}"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
             f'viewBox="0 0 {_W} {_H}" font-family="sans-serif" font-size="12">',
             f'<text x="{_W / 2}" y="20" text-anchor="middle" font-size="14">'
             f'{html.escape(title)}</text>']
    if not points:
        parts.append(f'<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle">'
                     'no complete trials</text></svg>')
        return SVG("".join(parts))
    xs = [n for n, _ in points]
    ys = [v for _, v in points]
    sx = _scale(min(xs), max(xs), _L, _W - _R)
    sy = _scale(min(ys), max(ys), _H - _B, _T)
    parts.append(f'<line x1="{_L}" y1="{_H - _B}" x2="{_W - _R}" y2="{_H - _B}" stroke="#000"/>'
                 f'<line x1="{_L}" y1="{_T}" x2="{_L}" y2="{_H - _B}" stroke="#000"/>')
    for k in range(5):  # axis ticks
        xv = min(xs) + (max(xs) - min(xs)) * k / 4
        yv = min(ys) + (max(ys) - min(ys)) * k / 4
        parts.append(f'<text x="{sx(xv):.1f}" y="{_H - _B + 16}" text-anchor="middle">'
                     f'{xv:.0f}</text>')
        parts.append(f'<text x="{_L - 6}" y="{sy(yv) + 4:.1f}" text-anchor="end">{yv:.4g}</text>')
    parts.append(f'<text x="{_W / 2}" y="{_H - 12}" text-anchor="middle">trial</text>'
                 f'<text x="16" y="{_H / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 16 {_H / 2})">{html.escape(target_name)}</text>')
    minimize = study.directions[0] == "minimize" if target is None else True
    best, line = None, []
    for n, v in points:
        if best is None or (v < best if minimize else v > best):
            best = v
        if line:
            line.append(f"{sx(n):.1f},{line[-1].split(',')[1]}")
        line.append(f"{sx(n):.1f},{sy(best):.1f}")
    parts.append(f'<polyline class="best" fill="none" stroke="#d62728" stroke-width="2" '
                 f'points="{" ".join(line)}"/>')
    for n, v in points:
        parts.append(f'<circle class="trial" cx="{sx(n):.1f}" cy="{sy(v):.1f}" r="3" '
                     f'fill="#1f77b4"><title>trial {n}: {v:.6g}</title></circle>')
    parts.append("</svg>")
    return SVG("".join(parts))


def param_importances(study, target=None, bins=8, evaluator="binned", n_trees=64, seed=0):
    """How much of the objective's variance each parameter explains, summing to 1.

    evaluator="fanova": functional ANOVA over a random forest of n_trees trees fitted to the
    complete trials (as Optuna's FanovaImportanceEvaluator): each parameter's main effect,
    averaged over all the others, over the forest's total variance; parameters that not every
    complete trial has are left out. C++ FanovaImportances.

    evaluator="binned" (default): the correlation ratio
    (variance of the per-bin mean objective, weighted by bin size, over the total variance),
    computed over the complete trials that have the parameter, then normalized to sum to 1.
    Numbers are cut into ``bins`` equal-count bins; choices are their own bins. A cheap,
    model-free stand-in for fANOVA: it sees main effects, not interactions. Computed by the
    C++ ParamImportances (include/mlcore/hpo/importance.h)."""
    if len(study.directions) > 1 and target is None:
        raise ValueError("a multi-objective study needs target=lambda t: t.values[i]")
    get = target or (lambda t: t.value)
    trials = []
    for t in study.trials:
        if t.state == "complete":
            value = get(t)
            if value is not None:
                trials.append((t.params, t.distributions, value))
    if evaluator == "fanova":
        return dict(_core.fanova_importances(trials, n_trees=n_trees, seed=seed))
    if evaluator != "binned":
        raise ValueError(f"evaluator must be 'binned' or 'fanova', not {evaluator!r}")
    return dict(_core.param_importances(trials, bins))


def plot_param_importances(study, target=None, bins=8):
    """param_importances as horizontal bars, most important first (SVG)."""
    imp = param_importances(study, target=target, bins=bins)
    row = 26
    h = _T + row * max(len(imp), 1) + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{h}" '
             f'viewBox="0 0 {_W} {h}" font-family="sans-serif" font-size="12">',
             f'<text x="{_W / 2}" y="20" text-anchor="middle" font-size="14">'
             f'Parameter importances of {html.escape(study.name)}</text>']
    left, width = 160, _W - 160 - 80
    for i, (name, v) in enumerate(imp.items()):
        y = _T + i * row
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{html.escape(name)}'
                     f'</text><rect class="importance" x="{left}" y="{y + 3}" '
                     f'width="{v * width:.1f}" height="{row - 8}" fill="#1f77b4">'
                     f'<title>{html.escape(name)}: {v:.3f}</title></rect>'
                     f'<text x="{left + v * width + 6:.1f}" y="{y + 15}">{v:.3f}</text>')
    parts.append("</svg>")
    return SVG("".join(parts))


def plot_parallel_coordinate(study, params=None, target=None, target_name="value"):
    """One vertical axis per parameter (log scale for log ranges, evenly spaced choices for
    categories) and one for the objective; each complete trial is a line across them, darker
    for better values (SVG)."""
    if len(study.directions) > 1 and target is None:
        raise ValueError("a multi-objective study needs target=lambda t: t.values[i]")
    get = target or (lambda t: t.value)
    trials = [t for t in study.trials if t.state == "complete" and get(t) is not None]
    names = list(params) if params else sorted({n for t in trials for n in t.params})
    axes = names + [target_name]
    n_axes = len(axes)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
             f'viewBox="0 0 {_W} {_H}" font-family="sans-serif" font-size="12">',
             f'<text x="{_W / 2}" y="20" text-anchor="middle" font-size="14">'
             f'Parallel coordinates of {html.escape(study.name)}</text>']
    xs = [_L + (_W - _L - _R - 40) * (i / max(n_axes - 1, 1)) for i in range(n_axes)]
    scales = []
    for i, name in enumerate(axes):
        if i == n_axes - 1:
            vals = [get(t) for t in trials]
            scales.append(_scale(min(vals, default=0), max(vals, default=1), _H - _B, _T))
            continue
        with_p = [t for t in trials if name in t.params and name in t.distributions]
        dist = with_p[0].distributions[name] if with_p else None
        if dist is not None and dist.type in ("categorical", "discrete"):
            choices = [str(c) for c in dist.choices]
            pos = _scale(0, max(len(choices) - 1, 1), _H - _B, _T)
            scales.append(lambda v, c=choices, p=pos: p(c.index(str(v))) if str(v) in c else None)
        elif dist is not None:
            f = math.log if dist.log else float
            s = _scale(f(dist.low), f(dist.high), _H - _B, _T)
            scales.append(lambda v, s=s, f=f: s(f(v)))
        else:
            scales.append(lambda v: None)
    vals = [get(t) for t in trials]
    lo, hi = min(vals, default=0), max(vals, default=1)
    minimize = study.directions[0] == "minimize" if target is None else True
    for t in trials:
        v = get(t)
        q = (v - lo) / (hi - lo) if hi > lo else 0.5
        goodness = 1 - q if minimize else q
        pts = []
        for i, name in enumerate(axes):
            y = scales[i](v) if i == n_axes - 1 else (
                scales[i](t.params[name]) if name in t.params else None)
            if y is not None:
                pts.append(f"{xs[i]:.1f},{y:.1f}")
        shade = int(220 - 180 * goodness)
        parts.append(f'<polyline class="trial" fill="none" stroke="rgb({shade},{shade},255)" '
                     f'stroke-opacity="0.8" points="{" ".join(pts)}">'
                     f'<title>trial {t.number}: {v:.6g}</title></polyline>')
    for i, name in enumerate(axes):
        parts.append(f'<line class="axis" x1="{xs[i]:.1f}" y1="{_T}" x2="{xs[i]:.1f}" '
                     f'y2="{_H - _B}" stroke="#000"/><text x="{xs[i]:.1f}" y="{_H - _B + 18}" '
                     f'text-anchor="middle">{html.escape(name)}</text>')
    parts.append("</svg>")
    return SVG("".join(parts))
