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


def _complete_values(study, target):
    """(trial, value) of each complete trial whose value (``target(trial)``, or its value for
    one objective) is not None."""
    if len(study.directions) > 1 and target is None:
        raise ValueError("a multi-objective study needs target=lambda t: t.values[i]")
    get = target or (lambda t: t.value)
    for t in study.trials:
        if t.state == "complete":
            value = get(t)
            if value is not None:
                yield t, value


def _points(study, target):
    """(number, value, params, distributions) of the complete trials with a finite value."""
    points = [(t.number, float(v), dict(t.params), dict(t.distributions))
              for t, v in _complete_values(study, target) if math.isfinite(v)]
    minimize = study.directions[0] == "minimize" if target is None else True
    return points, minimize


def plot_optimization_history(study, target=None, target_name="value"):
    """Each complete trial's value (dots) and the best value so far (a step line) against the
    trial number. Multi-objective studies need ``target`` (a function of a FrozenTrial). Drawn
    by the C++ OptimizationHistorySvg (include/mlcore/hpo/plots.h)."""
    points, minimize = _points(study, target)
    return SVG(_core.plot_optimization_history(points, study.name, minimize, target_name))


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
    trials = [(t.params, t.distributions, value) for t, value in _complete_values(study, target)]
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
    for better values (SVG). Drawn by the C++ ParallelCoordinateSvg."""
    points, minimize = _points(study, target)
    return SVG(_core.plot_parallel_coordinate(points, study.name, minimize, target_name,
                                              list(params or [])))
