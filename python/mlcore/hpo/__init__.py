"""Hyperparameter search: studies, trials, samplers and pruners (the C++ core, Optuna's ergonomics).

    import mlcore.hpo as hpo

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        layers = trial.suggest_int("layers", 1, 4)
        return train(lr, layers)

    study = hpo.create_study(direction="minimize", sampler="tpe", seed=0)
    study.optimize(objective, n_trials=50, n_parallel=4)
    print(study.best_params, study.best_value)

Samplers and pruners are given by name ("tpe", "random", "grid", "nsga2"; "median",
"successive_halving", "hyperband") or as objects (``TPESampler(multivariate=True)``, or any
Python object with ``sample``/``prune`` methods). ``create_study(directions=[...])`` makes a
multi-objective study (Pareto front in ``best_trials``); ``from_katib`` reads a Katib Experiment. A named
study lives in the SQLite metadata store ($MLCORE_HOME/mlcore.db) unless ``storage="memory"``.
``study.optimize(..., gpus_per_trial=1)`` gives each parallel trial a GPU of its own
(``trial.devices``); ``pipeline_objective(pipeline, metric=...)`` tunes an mlcore pipeline, one
run per trial.
"""

from .._mlcore import hpo as _core
from ._distributions import (
    CategoricalDistribution,
    DiscreteDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    conditional,
)
from ._custom import StudyView
from ._katib import KatibStudyDefinition, from_katib, to_katib
from ._plots import (
    param_importances,
    plot_optimization_history,
    plot_parallel_coordinate,
    plot_param_importances,
)
from ._plots_slice import plot_contour, plot_slice
from . import pruners, samplers
from .pruners import HyperbandPruner, MedianPruner, NopPruner, SuccessiveHalvingPruner
from .samplers import (
    AutoSampler,
    CmaEsSampler,
    GPSampler,
    GridSampler,
    NSGAIISampler,
    QMCSampler,
    RandomSampler,
    SobolSampler,
    TPESampler,
)
from ._study import (CommandObjective, FrozenTrial, PipelineObjective, Study, create_study,
                     list_studies, load_study, pipeline_objective)
from ._trial import TrialState

Trial = _core.Trial
TrialPruned = _core.TrialPruned

__all__ = [
    "AutoSampler",
    "NopPruner",
    "TrialState",
    "pruners",
    "samplers",
    "CategoricalDistribution",
    "CmaEsSampler",
    "GPSampler",
    "QMCSampler",
    "SobolSampler",
    "CommandObjective",
    "DiscreteDistribution",
    "Distribution",
    "FloatDistribution",
    "FrozenTrial",
    "GridSampler",
    "HyperbandPruner",
    "IntDistribution",
    "KatibStudyDefinition",
    "NSGAIISampler",
    "PipelineObjective",
    "MedianPruner",
    "RandomSampler",
    "Study",
    "StudyView",
    "SuccessiveHalvingPruner",
    "TPESampler",
    "Trial",
    "TrialPruned",
    "conditional",
    "create_study",
    "from_katib",
    "list_studies",
    "load_study",
    "pipeline_objective",
    "param_importances",
    "plot_optimization_history",
    "plot_parallel_coordinate",
    "plot_param_importances",
    "plot_contour",
    "plot_slice",
    "to_katib",
]
