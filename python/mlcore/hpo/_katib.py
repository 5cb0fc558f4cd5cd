"""Katib Experiment export: a locally tuned search as a kubeflow.org/v1beta1 Experiment."""

from .._mlcore import hpo as _core
from ._distributions import space_entries


def to_katib(
    path=None,
    *,
    name,
    metric,
    search_space,
    command,
    image,
    direction="minimize",
    goal=None,
    sampler="tpe",
    seed=None,
    pruner=None,
    min_trials_required=3,
    start_step=0,
    parallel_trial_count=1,
    max_trial_count=10,
    max_failed_trial_count=3,
    additional_metrics=(),
    namespace="kubeflow",
):
    """Returns the Experiment YAML (and writes it to ``path`` when given). ``command`` uses
    mlcore placeholders (``python train.py --lr={lr}``), rewritten to ``${trialParameters.lr}``;
    pruner None or "median" (Katib's medianstop)."""
    text = _core.katib_experiment_yaml(
        name, metric, space_entries(search_space), command, image, direction, goal, sampler,
        seed, pruner or "none", min_trials_required, start_step, parallel_trial_count,
        max_trial_count, max_failed_trial_count, list(additional_metrics), namespace)
    if path is not None:
        with open(path, "w") as f:
            f.write(text)
    return text
