"""Hyperparameter search: studies, trials, samplers and pruners (the C++ core, Optuna's ergonomics).

    import mlcore.hpo as hpo

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        layers = trial.suggest_int("layers", 1, 4)
        return train(lr, layers)

    study = hpo.create_study(direction="minimize", sampler="tpe", seed=0)
    study.optimize(objective, n_trials=50, n_parallel=4)
    print(study.best_params, study.best_value)

Samplers and pruners are given by name ("tpe", "random", "grid"; "median",
"successive_halving", "hyperband") or as objects (``TPESampler(multivariate=True)``). A named
study lives in the SQLite metadata store ($MLCORE_HOME/mlcore.db) unless ``storage="memory"``.
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
from ._katib import to_katib
from ._samplers import (
    GridSampler,
    HyperbandPruner,
    MedianPruner,
    RandomSampler,
    SuccessiveHalvingPruner,
    TPESampler,
)
from ._study import CommandObjective, FrozenTrial, Study, create_study, load_study

Trial = _core.Trial
TrialPruned = _core.TrialPruned

__all__ = [
    "CategoricalDistribution",
    "CommandObjective",
    "DiscreteDistribution",
    "Distribution",
    "FloatDistribution",
    "FrozenTrial",
    "GridSampler",
    "HyperbandPruner",
    "IntDistribution",
    "MedianPruner",
    "RandomSampler",
    "Study",
    "SuccessiveHalvingPruner",
    "TPESampler",
    "Trial",
    "TrialPruned",
    "conditional",
    "create_study",
    "load_study",
    "to_katib",
]
