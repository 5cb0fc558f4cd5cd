"""Katib Experiments: a locally tuned search as a kubeflow.org/v1beta1 Experiment, and back."""

import dataclasses
import json
from typing import Any, Dict, List, Optional

from .._mlcore import hpo as _core
from ._distributions import space_entries


# Defaults are those of the C++ struct (include/mlcore/hpo/katib.h), written there once.
_K = _core.KatibExperimentOptions()


def to_katib(
    path=None,
    *,
    name,
    metric,
    search_space,
    command,
    image,
    direction=_K.direction,
    goal=None,
    sampler=_K.sampler,
    seed=None,
    pruner=None,
    min_trials_required=_K.min_trials_required,
    start_step=_K.start_step,
    parallel_trial_count=_K.parallel_trial_count,
    max_trial_count=_K.max_trial_count,
    max_failed_trial_count=_K.max_failed_trial_count,
    additional_metrics=(),
    namespace=_K.k8s_namespace,
    gpus_per_trial=_K.gpus_per_trial,
):
    """Returns the Experiment YAML (and writes it to ``path`` when given). ``command`` uses
    mlcore placeholders (``python train.py --lr={lr}``), rewritten to ``${trialParameters.lr}``;
    pruner None or "median" (Katib's medianstop); gpus_per_trial becomes the trial container's
    ``nvidia.com/gpu`` limit."""
    o = _core.KatibExperimentOptions()
    o.name, o.objective_metric, o.command_template, o.image = name, metric, command, image
    o.space = space_entries(search_space)
    o.direction, o.goal, o.sampler, o.seed = direction, goal, sampler, seed
    o.pruner = pruner or "none"
    o.min_trials_required, o.start_step = min_trials_required, start_step
    o.parallel_trial_count, o.max_trial_count = parallel_trial_count, max_trial_count
    o.max_failed_trial_count = max_failed_trial_count
    o.additional_metrics = list(additional_metrics)
    o.k8s_namespace, o.gpus_per_trial = namespace, gpus_per_trial
    text = _core.katib_experiment_yaml(o)
    if path is not None:
        with open(path, "w") as f:
            f.write(text)
    return text


@dataclasses.dataclass
class KatibStudyDefinition:
    """A study definition read from a Katib Experiment (see from_katib): everything needed to
    create the study and run its trials locally."""

    name: str
    metric: str
    direction: str
    goal: Optional[float]
    sampler: str
    seed: Optional[int]
    pruner: Optional[str]
    min_trials_required: int
    start_step: int
    search_space: Dict[str, Any]
    command: str
    image: str
    parallel_trial_count: int
    max_trial_count: int
    max_failed_trial_count: int
    additional_metrics: List[str]
    namespace: str
    gpus_per_trial: int = 0  # the trial container's nvidia.com/gpu limit

    def create_study(self, storage=None, **kwargs):
        """The study (named after the Experiment) with its sampler, seed and pruner."""
        from ._study import create_study
        from .pruners import MedianPruner

        pruner = None
        if self.pruner == "median":
            pruner = MedianPruner(self.min_trials_required, self.start_step)
        return create_study(name=self.name, direction=self.direction, sampler=self.sampler,
                            seed=self.seed, pruner=pruner, storage=storage, **kwargs)

    def objective(self, **kwargs):
        """The trial command as a CommandObjective reading the objective metric."""
        from ._study import CommandObjective

        return CommandObjective(command=self.command, metric=self.metric,
                                search_space=dict(self.search_space), **kwargs)

    def optimize(self, study, **kwargs):
        """Runs the Experiment's trials on ``study`` with its counts and goal; a trial
        container asking for GPUs gets that many devices of its own (gpus_per_trial)."""
        if self.gpus_per_trial and "gpus_per_trial" not in kwargs:
            kwargs["gpus_per_trial"] = self.gpus_per_trial
        study.optimize(self.objective(), n_parallel=self.parallel_trial_count,
                       max_trials=self.max_trial_count,
                       max_failed_trials=self.max_failed_trial_count, goal=self.goal, **kwargs)

    def to_katib(self, path=None):
        """The Experiment again (to_katib with this definition's fields)."""
        return to_katib(path, name=self.name, metric=self.metric, search_space=self.search_space,
                        command=self.command, image=self.image, direction=self.direction,
                        goal=self.goal, sampler=self.sampler, seed=self.seed, pruner=self.pruner,
                        min_trials_required=self.min_trials_required,
                        start_step=self.start_step,
                        parallel_trial_count=self.parallel_trial_count,
                        max_trial_count=self.max_trial_count,
                        max_failed_trial_count=self.max_failed_trial_count,
                        additional_metrics=self.additional_metrics, namespace=self.namespace,
                        gpus_per_trial=self.gpus_per_trial)


def from_katib(path_or_text):
    """Reads a Katib Experiment (a YAML or JSON file path, or the document's text) into a
    KatibStudyDefinition. ValueError naming the file and line for invalid YAML, and the field
    (``spec.parameters[1].feasibleSpace.min``) for a missing, mistyped or unknown one. Read in
    C++ (KatibExperimentFromYaml)."""
    text = str(path_or_text)
    where = "the document"
    if "\n" not in text and not text.lstrip().startswith(("{", "apiVersion")):
        where = text
        with open(text) as f:
            text = f.read()
    try:
        json.loads(text)
        read = _core.katib_experiment_from_json
    except ValueError:
        read = _core.katib_experiment_from_yaml  # the C++ reader (yaml-cpp): no PyYAML needed
    try:
        o = read(text)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    return KatibStudyDefinition(
        name=o.name, metric=o.objective_metric, direction=o.direction, goal=o.goal,
        sampler=o.sampler, seed=o.seed, pruner=None if o.pruner == "none" else o.pruner,
        min_trials_required=o.min_trials_required, start_step=o.start_step,
        search_space={name: dist for name, dist in o.space}, command=o.command_template,
        image=o.image, parallel_trial_count=o.parallel_trial_count,
        max_trial_count=o.max_trial_count, max_failed_trial_count=o.max_failed_trial_count,
        additional_metrics=list(o.additional_metrics), namespace=o.k8s_namespace,
        gpus_per_trial=o.gpus_per_trial)
