"""The model-based samplers (gp, cmaes, sobol) through the Python API."""

import math

import pytest

import mlcore.hpo as hpo
from mlcore.hpo._samplers import CmaEsSampler, GPSampler, QMCSampler, SobolSampler


def branin(trial):
    x = trial.suggest_float("x", -5, 10)
    y = trial.suggest_float("y", 0, 15)
    a = y - 5.1 / (4 * math.pi ** 2) * x * x + 5 / math.pi * x - 6
    return a * a + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10


def mixed(trial):
    lr = trial.suggest_float("lr", 1e-4, 1, log=True)
    n = trial.suggest_int("n", 0, 12, step=3)
    act = trial.suggest_categorical("act", ["relu", "tanh", "gelu"])
    return (math.log10(lr) + 2) ** 2 + abs(n - 6) + (0 if act == "gelu" else 1)


FACTORIES = {"gp": GPSampler, "cmaes": CmaEsSampler, "sobol": SobolSampler}


def run(factory, seed, objective, n):
    study = hpo.create_study(sampler=factory(seed=seed))
    study.optimize(objective, n_trials=n)
    return study


def test_samplers_are_registered_by_name():
    assert {"gp", "cmaes", "sobol"} <= set(hpo._core.sampler_names())
    for name in ("gp", "cmaes", "sobol"):
        study = hpo.create_study(sampler=name, seed=1)
        study.optimize(mixed, n_trials=3)
        assert len(study.trials) == 3
    assert QMCSampler is SobolSampler


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_seeded_runs_reproduce_and_stay_on_the_grid(name):
    a = [t.params for t in run(FACTORIES[name], 5, mixed, 25).trials]
    b = [t.params for t in run(FACTORIES[name], 5, mixed, 25).trials]
    c = [t.params for t in run(FACTORIES[name], 6, mixed, 25).trials]
    assert a == b
    assert a != c
    for p in a:
        assert 1e-4 <= p["lr"] <= 1
        assert p["n"] in (0, 3, 6, 9, 12)
        assert p["act"] in ("relu", "tanh", "gelu")


@pytest.mark.parametrize("name,trials,limit", [("gp", 30, 0.9), ("cmaes", 80, 1.5)])
def test_model_based_samplers_beat_random_search(name, trials, limit):
    seeds = range(4)
    mine = sum(run(FACTORIES[name], s, branin, trials).best_value for s in seeds) / len(seeds)
    rand = sum(run(hpo.RandomSampler, s, branin, trials).best_value for s in seeds) / len(seeds)
    assert mine < rand
    assert mine < limit  # Branin's minimum is 0.398


def test_sobol_stratifies_a_declared_space():
    study = hpo.create_study(
        sampler=SobolSampler(seed=2),
        search_space={"x": hpo.FloatDistribution(0, 1), "k": hpo.IntDistribution(0, 7)},
    )
    study.optimize(lambda t: t.params["x"], n_trials=8)
    xs = sorted(int(t.params["x"] * 8) for t in study.trials)
    ks = sorted(t.params["k"] for t in study.trials)
    assert xs == list(range(8))
    assert ks == list(range(8))


def test_gp_batch_of_parallel_asks_is_distinct():
    study = hpo.create_study(sampler=GPSampler(seed=3, n_startup_trials=8))
    study.optimize(branin, n_trials=12)
    batch = [study.ask() for _ in range(4)]
    points = [(t.suggest_float("x", -5, 10), t.suggest_float("y", 0, 15)) for t in batch]
    assert len(set(points)) == 4
    for t, (x, y) in zip(batch, points):
        study.tell(t, 1.0)


def test_sampler_options_reach_the_samplers():
    def xs(sampler):
        study = hpo.create_study(sampler=sampler, search_space={"x": hpo.FloatDistribution(0, 1)})
        study.optimize(lambda t: t.params["x"], n_trials=4)
        return [t.params["x"] for t in study.trials]

    # Unscrambled Sobol is the plain sequence whatever the seed: 0, 1/2, 3/4, 1/4 in dimension 1.
    assert xs(SobolSampler(seed=1, scramble=False)) == xs(SobolSampler(seed=2, scramble=False))
    assert sorted(xs(SobolSampler(seed=1, scramble=False))) == pytest.approx([0, 0.25, 0.5, 0.75],
                                                                        abs=1e-6)
    assert xs(SobolSampler(seed=1)) != xs(SobolSampler(seed=2))
    with pytest.raises(ValueError, match="sigma0"):
        CmaEsSampler(sigma0=2.0)
    with pytest.raises(ValueError, match="popsize"):
        CmaEsSampler(popsize=1)
    with pytest.raises(ValueError, match="gp_n_candidates"):
        GPSampler(n_candidates=0)
