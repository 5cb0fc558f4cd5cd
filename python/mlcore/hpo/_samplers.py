"""Sampler constructors over the C++ registry (mlcore.hpo.samplers makes classes of them).

Each default below is read from a default-constructed C++ options struct (SamplerOptions,
Nsga2Options in include/mlcore/hpo/), so it is written once, in C++.
"""

from .._mlcore import hpo as _core
from ._distributions import space_entries

_S = _core.SamplerOptions()
_N = _core.Nsga2Options()


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
    n_startup_trials=_S.n_startup_trials,
    n_ei_candidates=_S.n_ei_candidates,
    multivariate=_S.multivariate,
    constant_liar=_S.constant_liar,
    prior_weight=_S.prior_weight,
    gamma=_S.gamma,
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


def GPSampler(seed=None, *, n_startup_trials=_S.n_startup_trials,
              constant_liar=_S.constant_liar, n_candidates=_S.gp_n_candidates):
    """Gaussian-process Bayesian optimisation (Matern-5/2, log expected improvement).

    The first n_startup_trials are random; with constant_liar, running trials enter the model at
    the worse of its own prediction and the mean of the finished trials, so parallel workers
    get distinct points. n_candidates is how many random
    points the acquisition scores before its local refinement.
    """
    return _core.create_sampler(
        "gp", seed=seed, n_startup_trials=n_startup_trials, constant_liar=constant_liar,
        gp_n_candidates=n_candidates
    )


def CmaEsSampler(seed=None, *, sigma0=_S.cmaes_sigma0, popsize=_S.cmaes_popsize,
                 restarts=_S.cmaes_restarts):
    """CMA-ES with IPOP restarts over the numeric parameters; categorical ones are random.

    sigma0 is the initial step size in the [0, 1]-normalised space (0 < sigma0 <= 1); popsize 0
    picks 4 + 3 ln(n); with restarts the population doubles at each restart.
    """
    return _core.create_sampler("cmaes", seed=seed, cmaes_sigma0=sigma0, cmaes_popsize=popsize,
                                cmaes_restarts=restarts)


def SobolSampler(seed=None, *, scramble=_S.sobol_scramble):
    """Sobol quasi-random points (scrambled unless scramble=False): trial k gets point k."""
    return _core.create_sampler("sobol", seed=seed, sobol_scramble=scramble)


QMCSampler = SobolSampler


def NSGAIISampler(seed=None, *, population_size=_N.population_size,
                  crossover_prob=_N.crossover_prob, swapping_prob=_N.swapping_prob,
                  mutation_prob=_N.mutation_prob, eta_crossover=_N.eta_crossover,
                  eta_mutation=_N.eta_mutation):
    """NSGA-II for multi-objective studies (also usable with one objective); see docs/hpo.md."""
    return _core.create_nsga2_sampler(
        seed=seed, population_size=population_size, crossover_prob=crossover_prob,
        swapping_prob=swapping_prob, mutation_prob=mutation_prob, eta_crossover=eta_crossover,
        eta_mutation=eta_mutation)
