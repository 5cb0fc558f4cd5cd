"""Pipelines from Python: per-task cost of a random DAG of no-op Python callables run by the
local executor (store records included), beside dask.delayed's threaded scheduler on the same
DAG; and the cost of a cache hit and of a three-step pipeline from a fresh process.

Run: python benchmarks/python/bench_pipeline.py [--tasks N]
"""

import argparse
import os
import random
import sys
import tempfile
import time

from _three_step import best_of, have_kfp, write_scripts
from mlcore import pipelines as mp


@mp.component
def noop(x: int) -> int:
    return x


def random_dag(n, seed=1):
    rng = random.Random(seed)
    return [[i - 1 - rng.randrange(min(i, 50)) for _ in range(rng.randrange(3))] if i else []
            for i in range(n)]


def make_pipeline(edges):
    @mp.pipeline(name=f"noop-dag-{len(edges)}")
    def dag():
        tasks = []
        for i, ups in enumerate(edges):
            t = noop(x=i)
            if ups:
                t.after(*[tasks[u] for u in set(ups)])
            tasks.append(t)
    return dag


def bench_mlcore(edges, caching):
    p = make_pipeline(edges)
    p.build()
    if caching:
        mp.run(p).wait()  # fill the cache
    start = time.perf_counter()
    run = mp.run(p, enable_caching=caching, max_parallelism=2).wait()
    elapsed = time.perf_counter() - start
    assert run.status == "succeeded", run.error
    return elapsed / len(edges)


def bench_dask(edges):
    try:
        import dask
    except ImportError:
        return None

    def f(x, *deps):
        return x

    nodes = []
    for i, ups in enumerate(edges):
        nodes.append(dask.delayed(f)(i, *[nodes[u] for u in set(ups)]))
    start = time.perf_counter()
    dask.compute(*nodes, scheduler="threads", num_workers=2)
    return (time.perf_counter() - start) / len(edges)


def bench_distributed(edges):
    """distributed's LocalCluster: one worker process with two threads (the same 2 workers),
    the client in this process; cluster start-up is not counted."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        return None

    def f(x, *deps):
        return x

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None,
                      silence_logs=50) as cluster, Client(cluster) as client:
        nodes = []
        for i, ups in enumerate(edges):
            nodes.append(dask.delayed(f)(i, *[nodes[u] for u in set(ups)]))
        start = time.perf_counter()
        dask.compute(*nodes, scheduler=client)
        return (time.perf_counter() - start) / len(edges)


def bench_fresh_process(script, *args):
    """Best of three: a fresh Python process running a three-step pipeline to its result."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, MLCORE_HOME=os.path.join(d, "home"))
        return best_of([sys.executable, script, *[a.format(d=d) for a in args]], env, 3)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--peer-tasks", type=int, default=0,
                        help="DAG size for the dask peers (default: --tasks); smaller keeps a "
                        "100,000-task run short, the figures are per task")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["MLCORE_HOME"] = home
        edges = random_dag(args.tasks)
        ours = bench_mlcore(edges, caching=False)
        hit = bench_mlcore(edges, caching=True)
        peer_edges = random_dag(args.peer_tasks) if args.peer_tasks else edges
        dask_t = bench_dask(peer_edges)
        dist_t = bench_distributed(peer_edges)
        scripts = write_scripts(home)
        fresh = bench_fresh_process(scripts["mlcore"], "inprocess")
        fresh_sub = bench_fresh_process(scripts["mlcore"], "subprocess")
        kfp_t = bench_fresh_process(scripts["kfp"], "{d}/root") if have_kfp() else None
    print(f"random DAG of {args.tasks} no-op Python tasks, 2 workers")
    print(f"  mlcore local executor (records every task): {ours * 1e6:8.1f} us/task")
    if dask_t is not None:
        print(f"  dask.delayed, threaded scheduler:          {dask_t * 1e6:8.1f} us/task"
              f"   (dask/mlcore = {dask_t / ours:.1f}x, {len(peer_edges)} tasks)")
    if dist_t is not None:
        print(f"  distributed LocalCluster (1 proc x 2 thr):  {dist_t * 1e6:8.1f} us/task"
              f"   (distributed/mlcore = {dist_t / ours:.1f}x, {len(peer_edges)} tasks)")
    print(f"  mlcore, every task a cache hit:             {hit * 1e6:8.1f} us/task")
    print("three-step pipeline, a fresh Python process to its result (best of 3)")
    print(f"  mlcore, in-process components:              {fresh * 1e3:8.1f} ms")
    print(f"  mlcore, subprocess components:              {fresh_sub * 1e3:8.1f} ms")
    if kfp_t is not None:
        print(f"  kfp local SubprocessRunner:                 {kfp_t * 1e3:8.1f} ms"
              f"   (kfp/mlcore = {kfp_t / fresh:.1f}x in-process, "
              f"{kfp_t / fresh_sub:.1f}x subprocess)")


if __name__ == "__main__":
    main()
