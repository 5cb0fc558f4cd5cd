"""Sampler and pruner objects: thin constructors over the C++ registry."""

from .._mlcore import hpo as _core
from ._distributions import space_entries


def RandomSampler(seed=None):
    return _core.create_sampler("random", seed=seed)


def GridSampler(search_space=None, seed=None):
    """Every point of a finite grid once; without search_space, the study's declared space."""
    grid = None
    if search_space is not None:
        grid = [(name, dist) for name, dist, parent, _ in space_entries(search_space)]
    return _core.create_sampler("grid", seed=seed, grid=grid)


def TPESampler(
    seed=None,
    *,
    n_startup_trials=10,
    n_ei_candidates=24,
    multivariate=True,
    constant_liar=True,
    prior_weight=1.0,
    gamma=0.1,
):
    return _core.create_sampler(
        "tpe",
        seed=seed,
        n_startup_trials=n_startup_trials,
        n_ei_candidates=n_ei_candidates,
        multivariate=multivariate,
        constant_liar=constant_liar,
        prior_weight=prior_weight,
        gamma=gamma,
    )


def GPSampler(seed=None, *, n_startup_trials=10, constant_liar=True, n_candidates=1024):
    """Gaussian-process Bayesian optimisation (Matern-5/2, log expected improvement).

    The first n_startup_trials are random; with constant_liar, running trials enter the model at
    its own prediction so parallel workers get distinct points. n_candidates is how many random
    points the acquisition scores before its local refinement.
    """
    return _core.create_sampler(
        "gp", seed=seed, n_startup_trials=n_startup_trials, constant_liar=constant_liar,
        gp_n_candidates=n_candidates
    )


def CmaEsSampler(seed=None, *, sigma0=0.2, popsize=0, restarts=True):
    """CMA-ES with IPOP restarts over the numeric parameters; categorical ones are random.

    sigma0 is the initial step size in the [0, 1]-normalised space (0 < sigma0 <= 1); popsize 0
    picks 4 + 3 ln(n); with restarts the population doubles at each restart.
    """
    return _core.create_sampler("cmaes", seed=seed, cmaes_sigma0=sigma0, cmaes_popsize=popsize,
                                cmaes_restarts=restarts)


def SobolSampler(seed=None, *, scramble=True):
    """Sobol quasi-random points (scrambled unless scramble=False): trial k gets point k."""
    return _core.create_sampler("sobol", seed=seed, sobol_scramble=scramble)


QMCSampler = SobolSampler


def MedianPruner(min_trials_required=3, start_step=0):
    return _core.create_pruner(
        "median", min_trials_required=min_trials_required, start_step=start_step
    )


def SuccessiveHalvingPruner(min_resource=1, reduction_factor=3, min_early_stopping_rate=0):
    return _core.create_pruner(
        "successive_halving",
        min_resource=min_resource,
        reduction_factor=reduction_factor,
        min_early_stopping_rate=min_early_stopping_rate,
    )


def HyperbandPruner(min_resource=1, max_resource=81, reduction_factor=3):
    return _core.create_pruner(
        "hyperband",
        min_resource=min_resource,
        max_resource=max_resource,
        reduction_factor=reduction_factor,
    )
