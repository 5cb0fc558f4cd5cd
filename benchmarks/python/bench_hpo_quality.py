"""Sampler for sampler, mlcore.hpo against Optuna on the problems of _hpo_problems.py.

Pairs (same options on both sides, same seeds):
  tpe     mlcore TPESampler(multivariate=False)   vs optuna TPESampler(multivariate=False)
  tpe-mv  mlcore TPESampler(multivariate=True)    vs optuna TPESampler(multivariate=True)
  gp      mlcore GPSampler()                      vs optuna GPSampler()          (needs torch)
  cmaes   mlcore CmaEsSampler()                   vs optuna CmaEsSampler()       (needs cmaes)
  nsga2   mlcore NSGAIISampler()                  vs optuna NSGAIISampler()      (hypervolume)
  default mlcore create_study() (sampler "auto")  vs optuna create_study() (TPESampler(), which
          Optuna 5 makes multivariate for one objective), at
          30, 100 and 300 trials

For each pair and problem: mean and median of the best value over the seeds and a two-sided
Mann-Whitney U test at 5% (scipy.stats): a win where mlcore's values are significantly better,
a loss where significantly worse, else a tie. Single-objective problems are minimised; noisy
ones are scored by the noise-free value of the trial the study calls best; multi-objective ones
by the hypervolume of all complete trials (higher is better).

Every finished run is appended to a cache file (one JSON line), keyed by column, problem, seed,
trials and a tag (mlcore: --tag, default the git commit; Optuna: its version), so a rerun after
changing mlcore only reruns mlcore's columns, and a killed sweep resumes.

Run: python benchmarks/python/bench_hpo_quality.py [--quick] [--seeds 20] [--first-seed 0]
        [--jobs 2] [--pairs tpe,tpe-mv,gp,cmaes,nsga2,default] [--problems ...] [--cache FILE]
        [--gp-seeds N] [--markdown FILE] [--parallel 4]
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads: see _init_worker

import argparse
import json
import math
import subprocess
import sys
import time
from multiprocessing import Pool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _hpo_problems as problems  # noqa: E402

PAIRS = {
    "tpe": ("mlcore tpe", "optuna tpe"),
    "tpe-mv": ("mlcore tpe-mv", "optuna tpe-mv"),
    "gp": ("mlcore gp", "optuna gp"),
    "cmaes": ("mlcore cmaes", "optuna cmaes"),
    "nsga2": ("mlcore nsga2", "optuna nsga2"),
    "default": ("mlcore auto", "optuna default"),
    # n_parallel=4 against mlcore's own sequential runs (constant liar / pending points).
    "parallel-tpe": ("mlcore tpe-mv par", "mlcore tpe-mv"),
    "parallel-gp": ("mlcore gp par", "mlcore gp"),
    # The same measure for Optuna (TPESampler(multivariate=True, constant_liar=True), n_jobs=4):
    # what parallel costs the peer, for reading mlcore's parallel rows.
    "optuna-parallel-tpe": ("optuna tpe-mv par", "optuna tpe-mv"),
}


def _mlcore_sampler(label, seed):
    from mlcore.hpo import _samplers as s

    kind = label.split()[1]
    if kind == "tpe":
        return s.TPESampler(seed=seed, multivariate=False)
    if kind == "tpe-mv":
        return s.TPESampler(seed=seed, multivariate=True)
    if kind == "gp":
        return s.GPSampler(seed=seed)
    if kind == "cmaes":
        return s.CmaEsSampler(seed=seed)
    if kind == "nsga2":
        return s.NSGAIISampler(seed=seed)
    return None  # auto


def _optuna_sampler(label, seed):
    import optuna

    kind = label.split()[1]
    # Optuna 5's TPESampler() is multivariate for one objective (multivariate=None): the
    # univariate column names multivariate=False.
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=False)
    if kind == "tpe-mv":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True,
                                          constant_liar=label.endswith(" par"))
    if kind == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if kind == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)  # create_study()'s default, seeded


def _parallel_objective(fn, workers):
    """fn itself, or for several worker threads fn and then 5 ms of sleep: a fast Python
    objective holds the GIL for nearly all of its trial, so the threads would take turns and each
    ask would see no running trial; the sleep (GIL released) makes four trials really run at
    once, as slow objectives do. The sleep comes after fn has suggested its parameters, as a
    slow objective computes after it has them, so the running trials' parameters are there for
    the other workers' asks (the constant liar's input)."""
    if workers == 1:
        return fn

    def objective(trial):
        value = fn(trial)
        time.sleep(0.005)
        return value

    return objective


def run_one(job):
    """One study: (label, problem, seed, trials) -> (the job, score, seconds)."""
    label, name, seed, n_trials = job
    multi = name in problems.MULTI
    fn = problems.MULTI[name] if multi else problems.SINGLE[name]
    problems.NOISE_SEED[0] = seed
    start = time.perf_counter()
    if label.startswith("mlcore"):
        import mlcore.hpo as hpo

        kw = {"directions": ["minimize", "minimize"]} if multi else {}
        sampler = _mlcore_sampler(label, seed)
        if sampler is None:
            study = hpo.create_study(sampler="auto", seed=seed, **kw)
        else:
            study = hpo.create_study(sampler=sampler, **kw)
        n_parallel = 4 if label.endswith(" par") else 1
        study.optimize(_parallel_objective(fn, n_parallel), n_trials=n_trials,
                       n_parallel=n_parallel)
        complete = [t for t in study.trials if t.state == "complete"]
        values = [tuple(t.values) for t in complete] if multi else None
        best = None if multi else study.best_trial
    else:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        kw = {"directions": ["minimize", "minimize"]} if multi else {}
        study = optuna.create_study(sampler=_optuna_sampler(label, seed), **kw)
        n_jobs = 4 if label.endswith(" par") else 1
        study.optimize(_parallel_objective(fn, n_jobs), n_trials=n_trials, n_jobs=n_jobs)
        complete = study.get_trials(deepcopy=False,
                                    states=[optuna.trial.TrialState.COMPLETE])
        values = [tuple(t.values) for t in complete] if multi else None
        best = None if multi else study.best_trial
    seconds = time.perf_counter() - start
    if multi:
        return job, problems.hypervolume2(values, problems.REFERENCE[name]), seconds
    if name in problems.NOISE_FREE:
        return job, problems.NOISE_FREE[name](problems.Replay(best.params)), seconds
    return job, best.value, seconds


def _init_worker():
    # One thread per worker: BLAS thread pools of several workers on a few shared cores spend
    # their time spinning (run the sweep itself under a mild `nice`; a nice of 19 against
    # compilers at 0 gets about 1% of a core).
    os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = "1"


def _key(job, tags):
    label, name, seed, n_trials = job
    tag = tags["mlcore"] if label.startswith("mlcore") else tags["optuna"]
    return f"{label}|{name}|{seed}|{n_trials}|{tag}"


# Optuna 5's TPESampler() and TPESampler(multivariate=True) are the same sampler for one
# objective, so at equal seed and trials the "optuna default" and "optuna tpe-mv" studies are
# the same study: either cached row answers for the other.
_SAME_STUDY = {"optuna tpe-mv": "optuna default", "optuna default": "optuna tpe-mv"}


def _cached_key(job, tags, results):
    """The cache key holding this job's result (its twin's where only that is cached), or None."""
    k = _key(job, tags)
    if k in results:
        return k
    if job[0] in _SAME_STUDY:
        twin = _key((_SAME_STUDY[job[0]],) + tuple(job[1:]), tags)
        if twin in results:
            return twin
    return None


def _load_cache(path):
    out = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue  # a line cut by a killed run
                out[r["key"]] = r
    return out


def _git_tag():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def jobs_for(a):
    """(label, problem, seed, trials) in the order they run: cheap columns first."""
    single = [p for p in a.problems if p in problems.SINGLE]
    multi = [p for p in a.problems if p in problems.MULTI]
    jobs = []
    for pair in a.pairs:
        labels = PAIRS[pair]
        if pair == "nsga2":
            plist, trials = multi, [a.mo_trials]
        elif pair == "default":
            plist, trials = single, a.default_trials
        else:
            plist, trials = single, [a.trials]
        seeds = a.gp_seeds if pair in ("gp", "parallel-gp") else a.seeds
        for label in labels:
            for n in trials:
                for p in plist:
                    for s in range(a.first_seed, a.first_seed + seeds):
                        jobs.append((label, p, s, n))
    # Optuna's default is its multivariate TPE: at the pairs' trial count the tpe-mv column's
    # studies are the same studies (same seed, same sampler), so they are not run twice.
    jobs = [j for j in jobs if not (j[0] == "optuna default" and j[3] == a.trials
                                    and "tpe-mv" in a.pairs)]
    # Seed by seed, so a sweep cut short still covers every problem; Optuna's GP (by far the
    # slowest column) and the 300-trial studies go last.
    jobs.sort(key=lambda j: (j[0] == "optuna gp", j[3] >= 300, j[2]))
    return list(dict.fromkeys(jobs))


def compare(mine, theirs, higher_better):
    """'win' / 'tie' / 'loss' for mine, and the p-value (two-sided Mann-Whitney U)."""
    from scipy.stats import mannwhitneyu

    if len(set(mine) | set(theirs)) <= 1:
        return "tie", 1.0
    res = mannwhitneyu(mine, theirs, alternative="two-sided")
    if not res.pvalue < 0.05:
        return "tie", float(res.pvalue)
    # U of mine above half of n1 * n2: mine tends larger.
    larger = res.statistic > len(mine) * len(theirs) / 2
    return ("win" if larger == higher_better else "loss"), float(res.pvalue)


def _fmt(v):
    if v == 0 or (1e-3 <= abs(v) < 1e5):
        return f"{v:.4g}" if abs(v) >= 1 else f"{v:.4f}"
    return f"{v:.3e}"


def report(a, results, tags):
    import statistics

    lines = []
    summary = []
    for pair in a.pairs:
        mine_label, peer_label = PAIRS[pair]
        if pair == "nsga2":
            plist, trials = [p for p in a.problems if p in problems.MULTI], [a.mo_trials]
        elif pair == "default":
            plist, trials = [p for p in a.problems if p in problems.SINGLE], a.default_trials
        else:
            plist, trials = [p for p in a.problems if p in problems.SINGLE], [a.trials]
        seeds = a.gp_seeds if pair in ("gp", "parallel-gp") else a.seeds
        for n in trials:
            tally = {"win": 0, "tie": 0, "loss": 0}
            rows = []
            for p in plist:
                def get(lab):
                    out = []
                    for s in range(a.first_seed, a.first_seed + seeds):
                        k = _cached_key((lab, p, s, n), tags, results)
                        if k is not None:
                            out.append(results[k]["value"])
                    return out

                mine, theirs = get(mine_label), get(peer_label)
                if len(mine) < 3 or len(theirs) < 3:
                    rows.append(f"| {p} | n/a ({len(mine)} runs) | | n/a ({len(theirs)} runs) "
                                f"| | | |")
                    continue
                higher = p in problems.MULTI
                verdict, pv = compare(mine, theirs, higher)
                tally[verdict] += 1
                rows.append(
                    f"| {p} | {_fmt(statistics.mean(mine))} | {_fmt(statistics.median(mine))} "
                    f"| {_fmt(statistics.mean(theirs))} | {_fmt(statistics.median(theirs))} "
                    f"| {pv:.3f} | **{verdict}** ({len(mine)}/{len(theirs)} runs) |")
            what = "hypervolume, higher is better" if pair == "nsga2" else "best value, lower " \
                "is better"
            lines.append(f"\n### {mine_label} vs {peer_label}, {n} trials ({what})\n")
            lines.append(f"| problem | {mine_label} mean | median | {peer_label} mean | median "
                         f"| p (Mann-Whitney) | mlcore |")
            lines.append("| --- | --- | --- | --- | --- | --- | --- |")
            lines.extend(rows)
            t = f"{tally['win']} / {tally['tie']} / {tally['loss']}"
            lines.append(f"\nwin / tie / loss: {t}")
            summary.append(f"| {mine_label} vs {peer_label} | {n} | {t} |")
    head = ["| pair | trials | mlcore win / tie / loss |", "| --- | --- | --- |"] + summary
    return "\n".join(head + lines)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--first-seed", type=int, default=0,
                   help="seeds first..first+seeds-1 (fresh seeds to confirm a change chosen "
                        "on 0..19)")
    p.add_argument("--gp-seeds", type=int, default=None,
                   help="seeds for the gp pair (Optuna's GPSampler costs minutes per study)")
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--default-trials", default="30,100,300")
    p.add_argument("--mo-trials", type=int, default=300)
    p.add_argument("--pairs", default="tpe,tpe-mv,gp,cmaes,nsga2,default")
    p.add_argument("--problems", default=",".join(list(problems.SINGLE) + list(problems.MULTI)))
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache",
                                                   "mlcore_hpo_quality.jsonl"))
    p.add_argument("--tag", default=None, help="mlcore's cache tag (default: git commit)")
    p.add_argument("--side", choices=["both", "mlcore", "optuna"], default="both",
                   help="run only one side's columns (the other is read from the cache)")
    p.add_argument("--quick", action="store_true", help="5 seeds, 30-trial default only")
    p.add_argument("--report-only", action="store_true", help="tables from the cache only")
    p.add_argument("--markdown", default=None, help="also write the tables here")
    a = p.parse_args()
    if a.quick:
        a.seeds = min(a.seeds, 5)
        a.default_trials = "30,100"
    a.gp_seeds = a.gp_seeds or a.seeds
    a.pairs = a.pairs.split(",")
    a.problems = a.problems.split(",")
    a.default_trials = [int(v) for v in a.default_trials.split(",")]
    try:
        import optuna

        optuna_version = optuna.__version__
    except ImportError:
        sys.exit("bench_hpo_quality.py compares against Optuna: pip install optuna cmaes torch")
    tags = {"mlcore": a.tag or _git_tag(), "optuna": optuna_version}

    if a.cache:
        os.makedirs(os.path.dirname(os.path.abspath(a.cache)), exist_ok=True)
    results = _load_cache(a.cache)
    todo = [j for j in jobs_for(a) if _cached_key(j, tags, results) is None
            and (a.side == "both" or j[0].startswith(a.side))]
    if a.report_only:
        todo = []
    print(f"{len(todo)} studies to run ({len(results)} cached); mlcore tag {tags['mlcore']}, "
          f"Optuna {tags['optuna']}", flush=True)
    start = time.time()
    done = 0
    with Pool(max(1, a.jobs), initializer=_init_worker) as pool, \
            open(a.cache, "a") as cache:
        for job, value, seconds in pool.imap_unordered(run_one, todo):
            r = {"key": _key(job, tags), "value": value, "seconds": seconds}
            results[r["key"]] = r
            cache.write(json.dumps(r) + "\n")
            cache.flush()
            done += 1
            if done % 20 == 0 or done == len(todo):
                print(f"  {done}/{len(todo)} ({time.time() - start:.0f} s) last: "
                      f"{job[0]} {job[1]}", flush=True)
    text = report(a, results, tags)
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
