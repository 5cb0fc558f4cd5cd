"""mlcore.hpo side by side with Optuna (when installed) in one run.

1. Time per ask (ask + 5 suggestions + tell) with N finished trials, TPE.
2. Writing trials with 10 intermediate reports each to SQLite.
3. Quality: mean best value after 100 trials over seeds on Branin (2-D), Hartmann6,
   Rosenbrock (5-D), Ackley (5-D), Styblinski-Tang (5-D) and a mixed int/categorical function.

   Samplers: mlcore tpe (multivariate), gp and cmaes; Optuna's TPESampler (its default) and
   GPSampler. Optuna's GPSampler needs torch: when this interpreter lacks it, pass
   --torch-python PYTHON (an interpreter with optuna, scipy and torch) and that side runs there.

Run: python benchmarks/python/bench_hpo.py [--trials-before 1000] [--seeds 10] [--skip-quality]
         [--skip-speed] [--torch-python /tmp/nn-torch-venv/bin/python]
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

try:
    import mlcore.hpo as hpo
    from mlcore.hpo import _samplers as samplers
except ImportError:  # the --json-quality peer process runs Optuna only
    hpo = samplers = None

try:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
except ImportError:  # the peer is optional
    optuna = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _hpo_problems as problems  # noqa: E402  (the formulas bench_hpo_quality.py runs too)

DIMS = 5


# ---- objectives (minimize); each takes a suggest(name, low, high) and a categorical suggest ----

def branin(s, c):
    return problems.branin_at(s("x0", -5, 10), s("x1", 0, 15))


def hartmann6(s, c):
    return problems.hartmann6_at([s(f"x{i}", 0, 1) for i in range(6)])


def rosenbrock5(s, c):
    x = [s(f"x{i}", -2, 2) for i in range(5)]
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(4))


def ackley5(s, c):
    x = [s(f"x{i}", -32.768, 32.768) for i in range(5)]
    n = len(x)
    return (-20 * math.exp(-0.2 * math.sqrt(sum(v * v for v in x) / n))
            - math.exp(sum(math.cos(2 * math.pi * v) for v in x) / n) + 20 + math.e)


def styblinski_tang5(s, c):
    x = [s(f"x{i}", -5, 5) for i in range(5)]
    return sum(v ** 4 - 16 * v * v + 5 * v for v in x) / 2


def mixed(s, c):
    x = s("x", -5, 5)
    n = int(round(s("n", 0, 20, integer=True)))
    act = c("act", ["relu", "tanh", "gelu", "none"])
    opt = c("opt", ["sgd", "adam"])
    return ((x - 1.3) ** 2 + (n - 7) ** 2 / 10
            + {"relu": 0.5, "tanh": 1.0, "gelu": 0.0, "none": 2.0}[act]
            + (0.0 if opt == "adam" else 0.7))


FUNCTIONS = {"branin": branin, "hartmann6": hartmann6, "rosenbrock5": rosenbrock5,
             "ackley5": ackley5, "styblinski_tang5": styblinski_tang5, "mixed": mixed}


def as_objective(fn):
    def objective(trial):
        def s(name, low, high, integer=False):
            if integer:
                return trial.suggest_int(name, low, high)
            return trial.suggest_float(name, low, high)

        return fn(s, trial.suggest_categorical)

    return objective


# ---- 1. time per ask ----

# The timed loops take a study of either library: both speak ask / suggest_float / report / tell.

def _time_per_ask(study, asks):
    """Seconds per ask + DIMS suggestions + tell of the sphere function."""
    start = time.perf_counter()
    for _ in range(asks):
        t = study.ask()
        v = sum(t.suggest_float(f"x{k}", -5, 5) ** 2 for k in range(DIMS))
        study.tell(t, v)
    return (time.perf_counter() - start) / asks


def _time_reported_trials(study, n_trials, reports):
    """Seconds for n_trials trials of one parameter, each reporting `reports` steps."""
    start = time.perf_counter()
    for _ in range(n_trials):
        t = study.ask()
        x = t.suggest_float("x", 0, 1)
        for step in range(reports):
            t.report(x / (step + 1), step)
        study.tell(t, x)
    return time.perf_counter() - start


def mlcore_ask_time(n_before, asks, multivariate=False):
    study = hpo.create_study(sampler=hpo.TPESampler(seed=0, multivariate=multivariate))
    dist = hpo.FloatDistribution(-5, 5)
    import random

    rng = random.Random(0)
    for _ in range(n_before):
        params = {f"x{k}": rng.uniform(-5, 5) for k in range(DIMS)}
        study.add_trial(params, {k: dist for k in params}, value=sum(v * v for v in params.values()))
    return _time_per_ask(study, asks)


def optuna_ask_time(n_before, asks, multivariate=False):
    study = optuna.create_study(
        sampler=optuna.samplers.TPESampler(seed=0, multivariate=multivariate))
    dist = optuna.distributions.FloatDistribution(-5, 5)
    import random

    rng = random.Random(0)
    trials = []
    for _ in range(n_before):
        params = {f"x{k}": rng.uniform(-5, 5) for k in range(DIMS)}
        trials.append(optuna.trial.create_trial(
            params=params, distributions={k: dist for k in params},
            value=sum(v * v for v in params.values())))
    study.add_trials(trials)
    return _time_per_ask(study, asks)


# ---- 2. storage ----

def mlcore_storage(n_trials, reports=10):
    with tempfile.TemporaryDirectory() as d:
        study = hpo.create_study(name="bench", storage=os.path.join(d, "hpo.db"),
                                 sampler="random", seed=0)
        return _time_reported_trials(study, n_trials, reports)


def optuna_storage(n_trials, reports=10):
    with tempfile.TemporaryDirectory() as d:
        study = optuna.create_study(study_name="bench",
                                    storage=f"sqlite:///{os.path.join(d, 'optuna.db')}",
                                    sampler=optuna.samplers.RandomSampler(seed=0))
        return _time_reported_trials(study, n_trials, reports)


# ---- 3. quality ----

MLCORE_SAMPLERS = {
    "mlcore tpe": lambda seed: samplers.TPESampler(seed=seed, multivariate=True),
    "mlcore gp": lambda seed: samplers.GPSampler(seed=seed),
    "mlcore cmaes": lambda seed: samplers.CmaEsSampler(seed=seed),
}
OPTUNA_SAMPLERS = {
    "optuna tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
    "optuna gp": lambda seed: optuna.samplers.GPSampler(seed=seed),
}


def mlcore_best(fn, sampler, n_trials):
    study = hpo.create_study(sampler=sampler)
    study.optimize(as_objective(fn), n_trials=n_trials)
    return study.best_value


def optuna_best(fn, sampler, n_trials):
    study = optuna.create_study(sampler=sampler)
    study.optimize(as_objective(fn), n_trials=n_trials)
    return study.best_value


def mean_best(label, fn, seeds, n_trials):
    if label in MLCORE_SAMPLERS:
        runs = [mlcore_best(fn, MLCORE_SAMPLERS[label](s), n_trials) for s in range(seeds)]
    else:
        runs = [optuna_best(fn, OPTUNA_SAMPLERS[label](s), n_trials) for s in range(seeds)]
    return sum(runs) / len(runs)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trials-before", type=int, default=1000)
    p.add_argument("--asks", type=int, default=20)
    p.add_argument("--storage-trials", type=int, default=10000)
    p.add_argument("--optuna-storage-trials", type=int, default=300)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--skip-quality", action="store_true")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--functions", default=",".join(FUNCTIONS))
    p.add_argument("--torch-python", default=None)
    p.add_argument("--json-quality", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    functions = a.functions.split(",")

    if a.json_quality:
        labels = a.json_quality.split(",")
        print(json.dumps({label: {f: mean_best(label, FUNCTIONS[f], a.seeds, a.trials)
                                  for f in functions} for label in labels}))
        return

    if not a.skip_speed:
        speed(a)
    if a.skip_quality:
        return

    labels = list(MLCORE_SAMPLERS)
    peer_labels = []
    peer = None
    if optuna:
        try:
            import torch  # noqa: F401  (Optuna's GPSampler needs it)

            labels += list(OPTUNA_SAMPLERS)
        except ImportError:
            labels.append("optuna tpe")
            if a.torch_python:
                peer_labels = ["optuna gp"]
                # Started first: it is the slowest column, and it runs alongside ours.
                peer = subprocess.Popen(
                    [a.torch_python, os.path.abspath(__file__), "--json-quality", "optuna gp",
                     "--seeds", str(a.seeds), "--trials", str(a.trials),
                     "--functions", ",".join(functions)],
                    stdout=subprocess.PIPE, text=True)
    print(f"== quality: mean best of {a.trials} trials over {a.seeds} seeds (lower is better) ==")
    results = {label: {} for label in labels}
    for name in functions:
        for label in labels:
            results[label][name] = mean_best(label, FUNCTIONS[name], a.seeds, a.trials)
        print(f"  {name:18s} " + " ".join(f"{l}={results[l][name]:.4f}" for l in labels),
              flush=True)
    if peer is not None:
        out, _ = peer.communicate()
        results.update(json.loads(out.strip().splitlines()[-1]))
        labels += peer_labels
    print()
    print("| function | " + " | ".join(labels) + " |")
    print("|---" * (len(labels) + 1) + "|")
    for name in functions:
        print(f"| {name} | " + " | ".join(f"{results[l][name]:.4f}" for l in labels) + " |")
    mine = [l for l in labels if l.startswith("mlcore")]
    for peer_label in ("optuna tpe", "optuna gp"):
        if peer_label not in results:
            continue
        wins = sum(min(results[l][f] for l in mine) <= results[peer_label][f] for f in functions)
        print(f"mlcore's best sampler matches or beats {peer_label} on {wins} of {len(functions)}")


def speed(a):
    print(f"== time per ask, TPE, {DIMS}-D, {a.trials_before} finished trials ==")
    for mv in (False, True):
        label = "multivariate" if mv else "univariate"
        m = mlcore_ask_time(a.trials_before, a.asks, mv)
        line = f"  {label:12s} mlcore {m * 1e3:8.2f} ms"
        if optuna:
            o = optuna_ask_time(a.trials_before, max(3, a.asks // 4), mv)
            line += f"   optuna {o * 1e3:8.2f} ms   speed-up {o / m:6.1f}x"
        print(line, flush=True)

    print(f"== SQLite: trials with 10 reports each ==")
    m = mlcore_storage(a.storage_trials)
    line = (f"  mlcore {a.storage_trials} trials {m:7.2f} s "
            f"({m / a.storage_trials * 1e6:6.0f} us/trial)")
    if optuna:
        o = optuna_storage(a.optuna_storage_trials)
        line += (f"   optuna {a.optuna_storage_trials} trials {o:7.2f} s "
                 f"({o / a.optuna_storage_trials * 1e6:6.0f} us/trial)")
    print(line, flush=True)


if __name__ == "__main__":
    main()
