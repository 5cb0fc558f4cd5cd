"""mlcore.hpo.pruners: the pruners as classes, as optuna.pruners has them.

    from mlcore.hpo.pruners import MedianPruner
    study = mlcore.hpo.create_study(pruner=MedianPruner(n_startup_trials=5, n_warmup_steps=10))

Each class builds the C++ pruner of that name (``create_study(pruner="median")`` keeps working).
Defaults are read from the C++ PrunerOptions (include/mlcore/hpo/pruner.h).
"""

from .._mlcore import hpo as _core

_P = _core.PrunerOptions()


class BasePruner:
    """A built-in pruner: a named C++ pruner with its options."""

    def __init__(self, name, **options):
        self._core = _core.create_pruner(name, **options)

    @property
    def name(self):
        """The registry name ("median", "hyperband", ...; "none" builds no pruner at all)."""
        return "none" if self._core is None else self._core.name

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


def _either(optuna_name, value, mlcore_name, alias, default):
    """One option given under Optuna's name or mlcore's (Katib's), not both."""
    if value is not None and alias is not None and value != alias:
        raise TypeError(f"MedianPruner: give {optuna_name} or {mlcore_name}, not both "
                        f"({value} and {alias})")
    for v in (value, alias):
        if v is not None:
            return v
    return default


class MedianPruner(BasePruner):
    """Prunes a trial whose best report so far is worse than the median of the other trials'
    reports at the same step.

    n_startup_trials (Katib: min_trials_required): trials that must have reported at a step
    before any trial is pruned there. n_warmup_steps (Katib: start_step): steps before this
    one are never pruned. Optuna's and Katib's names are both accepted."""

    def __init__(self, n_startup_trials=None, n_warmup_steps=None, *, min_trials_required=None,
                 start_step=None):
        super().__init__(
            "median",
            min_trials_required=_either("n_startup_trials", n_startup_trials,
                                        "min_trials_required", min_trials_required,
                                        _P.min_trials_required),
            start_step=_either("n_warmup_steps", n_warmup_steps, "start_step", start_step,
                               _P.start_step))


class SuccessiveHalvingPruner(BasePruner):
    """Asynchronous successive halving: at each rung (min_resource * reduction_factor**k steps)
    only the top 1/reduction_factor of the trials there go on."""

    def __init__(self, min_resource=_P.min_resource, reduction_factor=_P.reduction_factor,
                 min_early_stopping_rate=_P.min_early_stopping_rate):
        super().__init__("successive_halving", min_resource=min_resource,
                         reduction_factor=reduction_factor,
                         min_early_stopping_rate=min_early_stopping_rate)


class HyperbandPruner(BasePruner):
    """Hyperband: several successive-halving brackets between min_resource and max_resource."""

    def __init__(self, min_resource=_P.min_resource, max_resource=_P.max_resource,
                 reduction_factor=_P.reduction_factor):
        super().__init__("hyperband", min_resource=min_resource, max_resource=max_resource,
                         reduction_factor=reduction_factor)


class NopPruner(BasePruner):
    """Never prunes (the same as pruner=None or "none")."""

    def __init__(self):
        super().__init__("none")


def core_pruner(pruner):
    """The C++ pruner behind a BasePruner; other objects unchanged."""
    return pruner._core if isinstance(pruner, BasePruner) else pruner


__all__ = ["BasePruner", "HyperbandPruner", "MedianPruner", "NopPruner",
           "SuccessiveHalvingPruner"]
