"""param_importances is the C++ ParamImportances: the same numbers, to the last bit, as the Python
implementation it replaced (kept below as the reference)."""

import math

import mlcore.hpo as hpo


def _reference(study, target=None, bins=8):
    get = target or (lambda t: t.value)
    trials = [t for t in study.trials if t.state == "complete" and get(t) is not None]
    names = sorted({n for t in trials for n in t.params})

    def binned(values, dist):
        if dist.type in ("categorical", "discrete"):
            return [str(v) for v in values]
        keys = [math.log(v) if dist.log and v > 0 else float(v) for v in values]
        order = sorted(range(len(keys)), key=lambda i: keys[i])
        out = [0] * len(keys)
        for rank, i in enumerate(order):
            out[i] = rank * bins // len(keys)
        return out

    raw = {}
    for name in names:
        have = [t for t in trials if name in t.params and name in t.distributions]
        ys = [get(t) for t in have]
        if len(have) < 2:
            raw[name] = 0.0
            continue
        mean = sum(ys) / len(ys)
        total = sum((y - mean) ** 2 for y in ys)
        groups = {}
        for b, y in zip(binned([t.params[name] for t in have], have[0].distributions[name]), ys):
            groups.setdefault(b, []).append(y)
        between = sum(len(g) * (sum(g) / len(g) - mean) ** 2 for g in groups.values())
        raw[name] = between / total if total > 0 else 0.0
    s = sum(raw.values())
    return {n: (v / s if s > 0 else 0.0) for n, v in sorted(raw.items(), key=lambda kv: -kv[1])}


def _objective(trial):
    x = trial.suggest_float("x", 1e-3, 1.0, log=True)
    n = trial.suggest_int("n", 1, 64, log=True)
    k = trial.suggest_int("k", 0, 4)
    opt = trial.suggest_categorical("opt", ["a", "b", "c"])
    if opt == "b":
        trial.suggest_float("momentum", 0, 1)
    return (10 * math.log10(x) ** 2 + 0.1 * math.log2(n) + 0.01 * k + (0.5 if opt == "b" else 0.0),
            float(n))


def test_the_same_numbers_as_the_python_implementation():
    for seed in range(3):
        study = hpo.create_study(sampler="random", seed=seed)
        study.optimize(lambda t: _objective(t)[0], n_trials=60)
        for bins in (1, 3, 8):
            got = hpo.param_importances(study, bins=bins)
            assert got == _reference(study, bins=bins)
            assert list(got) == list(_reference(study, bins=bins))


def test_a_target_picks_the_objective_of_a_multi_objective_study():
    study = hpo.create_study(directions=["minimize", "maximize"], sampler="random", seed=1)
    study.optimize(_objective, n_trials=50)
    second = lambda t: t.values[1]  # noqa: E731
    got = hpo.param_importances(study, target=second)
    assert got == _reference(study, target=second)
    assert list(got)[0] == "n"  # the second objective is n itself


def test_pruned_and_failed_trials_are_left_out():
    study = hpo.create_study(sampler="random", seed=2)
    study.optimize(lambda t: _objective(t)[0], n_trials=20)
    study.add_trial({"x": 0.5}, {"x": hpo.FloatDistribution(1e-3, 1.0, log=True)}, state="failed")
    assert hpo.param_importances(study) == _reference(study)
