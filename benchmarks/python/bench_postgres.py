"""The store on PostgreSQL side by side with its peers in one run (docs/benchmarks.md).

1. 4 processes optimizing one study (random sampler, 2 parameters, 10 reports per trial) on the
   same local PostgreSQL: trials per second, mlcore vs Optuna's RDBStorage with psycopg
   (postgresql+psycopg://), each on a fresh database of the same server.
2. TPE ask (ask + 2 suggestions + tell) with 1,000 finished trials: PostgreSQL (over TCP and
   over the Unix socket) vs SQLite.
3. 10,000 pipeline task records: one run of 10,000 no-op tasks (each task's records written as
   it runs) and listing the run's tasks, on PostgreSQL (home="postgresql://...") vs SQLite.

The server is a throwaway cluster (scripts/pg-test-cluster.sh) unless --url names one.

Run: python benchmarks/python/bench_postgres.py [--trials 200] [--optuna-trials 25] [--url URL]
       [--tasks 10000] [--only throughput,tpe,tasks]
"""

import argparse
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from urllib.parse import quote

import mlcore.hpo as hpo

try:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
except ImportError:  # the peer is optional
    optuna = None

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "scripts", "pg-test-cluster.sh")
PROCESSES = 4


def psql(bindir, url, sql):
    subprocess.run([os.path.join(bindir, "psql"), "-q", url, "-c", sql], check=True,
                   capture_output=True)


def new_database(ctx, name):
    psql(ctx["bindir"], ctx["url"], f"DROP DATABASE IF EXISTS {name}")
    psql(ctx["bindir"], ctx["url"], f"CREATE DATABASE {name}")
    return ctx["url"].rsplit("/", 1)[0] + "/" + name


def _objective(trial):
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_int("y", 0, 10)
    for step in range(10):
        trial.report(x * x + y + step, step)
    return x * x + y


def _mlcore_worker(url, seed, n, start):
    study = hpo.load_study("bench", storage=url, sampler="random", seed=seed)
    start.wait()
    study.optimize(_objective, n_trials=n)


def _optuna_worker(url, seed, n, start):
    study = optuna.load_study(study_name="bench", storage=url,
                              sampler=optuna.samplers.RandomSampler(seed=seed))
    start.wait()
    study.optimize(_objective, n_trials=n)


def run_processes(worker, url, n):
    start = mp.Barrier(PROCESSES + 1)
    procs = [mp.Process(target=worker, args=(url, i, n, start)) for i in range(PROCESSES)]
    for p in procs:
        p.start()
    start.wait()
    t0 = time.perf_counter()
    for p in procs:
        p.join()
        assert p.exitcode == 0, p.exitcode
    return PROCESSES * n / (time.perf_counter() - t0)


def bench_throughput(ctx, args):
    url = new_database(ctx, "bench_mlcore")
    hpo.create_study("bench", storage=url, sampler="random")
    ours = run_processes(_mlcore_worker, url, args.trials)
    trials = hpo.load_study("bench", storage=url).trials
    assert sorted(t.number for t in trials) == list(range(PROCESSES * args.trials))
    print(f"4 processes x {args.trials} trials, 10 reports each: mlcore {ours:8.1f} trials/s")
    if optuna is None:
        print("  (optuna not installed: no peer figure)")
        return
    peer_url = new_database(ctx, "bench_optuna").replace("postgresql://",
                                                          "postgresql+psycopg://")
    optuna.create_study(study_name="bench", storage=peer_url)
    theirs = run_processes(_optuna_worker, peer_url, args.optuna_trials)
    print(f"4 processes x {args.optuna_trials} trials, 10 reports each: optuna "
          f"{theirs:8.1f} trials/s (RDBStorage, psycopg)   mlcore/optuna = {ours / theirs:.1f}x")


def bench_tpe_ask(ctx, args):
    def fill(storage):
        try:
            study = hpo.create_study("tpe", storage=storage, sampler="random", seed=0)
            study.optimize(_objective, n_trials=args.finished)
        except ValueError:  # the socket run reuses the TCP run's study
            pass
        return hpo.load_study("tpe", storage=storage, sampler="tpe", seed=0)

    results = {}
    tmp_dir = tempfile.TemporaryDirectory(prefix="bench_pg_sqlite_")
    tmp = tmp_dir.name
    tcp = new_database(ctx, "bench_tpe")
    backends = [("postgresql", tcp)]
    if ctx.get("socket_dir"):  # the same database through the Unix socket: no TCP stack
        backends.append(("pg (socket)", tcp.replace("127.0.0.1", quote(ctx["socket_dir"], safe=""))))
    backends.append(("sqlite", os.path.join(tmp, "tpe.db")))
    for label, storage in backends:
        study = fill(storage)
        times = []
        for _ in range(args.asks):
            t0 = time.perf_counter()
            trial = study.ask()
            trial.suggest_float("x", -5, 5)
            trial.suggest_int("y", 0, 10)
            study.tell(trial, 1.0)
            times.append(time.perf_counter() - t0)
        results[label] = statistics.median(times) * 1e3
        print(f"TPE ask+tell with {args.finished} finished trials on {label:11s}: "
              f"{results[label]:7.2f} ms (median of {args.asks})")
    for label in results:
        if label != "sqlite":
            print(f"  {label}/sqlite = {results[label] / results['sqlite']:.2f}x")


def bench_task_records(ctx, args):
    from mlcore import pipelines as mp

    @mp.component
    def noop(x: int) -> int:
        return x

    @mp.pipeline(name=f"records-{args.tasks}")
    def wide():
        for i in range(args.tasks):
            noop(x=i)

    wide.build()
    files = tempfile.TemporaryDirectory(prefix="bench_pg_tasks_")
    os.environ["MLCORE_HOME"] = files.name  # artifacts and task logs for the PostgreSQL run
    backends = [("postgresql", new_database(ctx, "bench_tasks")),
                ("sqlite", os.path.join(files.name, "sqlite_home"))]
    results = {}
    for label, home in backends:
        t0 = time.perf_counter()
        run = mp.run(wide, home=home, max_parallelism=2, enable_caching=False, wait=True)
        write = time.perf_counter() - t0
        assert run.status == "succeeded", run.error
        lists = []
        for _ in range(5):
            t0 = time.perf_counter()
            tasks = mp.get_run(run.id, home=home).tasks
            lists.append(time.perf_counter() - t0)
            assert len(tasks) == args.tasks
        results[label] = (write, statistics.median(lists))
        print(f"{args.tasks} task records on {label:10s}: run (records written as tasks end) "
              f"{write:6.2f} s, list the run's tasks {results[label][1] * 1e3:7.1f} ms "
              f"(median of 5)")
    pg, lite = results["postgresql"], results["sqlite"]
    print(f"  postgresql/sqlite: write {pg[0] / lite[0]:.2f}x, list {pg[1] / lite[1]:.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200, help="mlcore trials per process")
    parser.add_argument("--optuna-trials", type=int, default=25, help="optuna trials per process")
    parser.add_argument("--finished", type=int, default=1000)
    parser.add_argument("--asks", type=int, default=30)
    parser.add_argument("--url", help="an existing server's postgresql:// URL (superuser)")
    parser.add_argument("--tasks", type=int, default=10000, help="pipeline task records")
    parser.add_argument("--only", default="throughput,tpe,tasks",
                        help="comma-separated parts to run (throughput, tpe, tasks)")
    args = parser.parse_args()
    found = subprocess.run(["bash", SCRIPT, "bindir"], capture_output=True, text=True)
    if found.returncode != 0:
        sys.exit("bench_postgres: PostgreSQL server binaries not found (scripts/install-deps.sh)")
    ctx = {"bindir": found.stdout.strip()}
    cluster = None
    if args.url:
        ctx["url"] = args.url
    else:
        cluster = tempfile.mkdtemp(prefix="bench_pg_")
        started = subprocess.run(["bash", SCRIPT, "start", cluster], capture_output=True,
                                 text=True, check=True)
        ctx["url"] = started.stdout.strip()
        ctx["socket_dir"] = cluster
    print(f"machine: {os.cpu_count()} cores; PostgreSQL on 127.0.0.1 (TCP, scram-sha-256)")
    try:
        parts = set(args.only.split(","))
        if "throughput" in parts:
            bench_throughput(ctx, args)
        if "tpe" in parts:
            bench_tpe_ask(ctx, args)
        if "tasks" in parts:
            bench_task_records(ctx, args)
    finally:
        if cluster:
            subprocess.run(["bash", SCRIPT, "stop", cluster], capture_output=True)


if __name__ == "__main__":
    mp.set_start_method("spawn")
    main()
