"""Allreduce bus bandwidth: mlcore.dist (shared-memory path and TCP path) against
torch.distributed's gloo backend, float32, 4 KiB to 256 MiB, on this machine, in one run.

busbw = algbw * 2(n-1)/n, as nccl-tests defines it (algbw = bytes / time): the bandwidth each
rank's links would need for a ring allreduce to take that long, comparable across world sizes.
Each size is timed as the mean of several back-to-back allreduces between two barriers, on
rank 0, after one warm-up. Ranks are real processes on 127.0.0.1. With --rounds K the
implementations run K times, interleaved (mlcore, torch, mlcore, torch...), and each size keeps
its best round, so a burst of load on a shared machine hits both sides alike.

    python benchmarks/python/bench_allreduce.py [--ranks 2 4] [--min-kib 4] [--max-mib 256]
                                                [--impls ...] [--rounds K]
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np

IMPLS = ("mlcore-shm", "mlcore-tcp", "torch-gloo")


def sizes(max_mib, min_kib=4):
    out, b = [], min_kib * 1024
    while b <= max_mib * 2**20:
        out.append(b)
        b *= 4
    return out


def iterations(nbytes):
    return int(max(3, min(200, 2**28 // nbytes)))


def worker(impl, rank, world, port, max_mib, min_kib):
    if impl.startswith("mlcore"):
        import mlcore.dist as mdist

        comm = mdist.init_process_group("gloo", f"tcp://127.0.0.1:{port}", rank, world,
                                        timeout=600, same_host_shm=impl == "mlcore-shm")
        assert comm.transport == ("shm" if impl == "mlcore-shm" else "tcp"), comm.transport
        allreduce, barrier, finish = comm.all_reduce, comm.barrier, mdist.destroy_process_group
        make = lambda n: np.ones(n, dtype=np.float32)  # noqa: E731
    else:
        import torch
        import torch.distributed as tdist

        torch.set_num_threads(1)
        tdist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                 world_size=world)
        allreduce, barrier, finish = tdist.all_reduce, tdist.barrier, tdist.destroy_process_group
        make = lambda n: torch.ones(n, dtype=torch.float32)  # noqa: E731
    for nbytes in sizes(max_mib, min_kib):
        x = make(nbytes // 4)
        allreduce(x)
        iters = iterations(nbytes)
        barrier()
        start = time.perf_counter()
        for _ in range(iters):
            allreduce(x)
        barrier()
        seconds = (time.perf_counter() - start) / iters
        if rank == 0:
            print(json.dumps({"impl": impl, "world": world, "bytes": nbytes, "seconds": seconds}),
                  flush=True)
        del x
    barrier()
    finish()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_group(impl, world, max_mib, min_kib):
    port = free_port()
    env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", impl, str(r), str(world),
                               str(port), str(max_mib), str(min_kib)], stdout=subprocess.PIPE,
                              text=True, env=env) for r in range(world)]
    rows = [json.loads(line) for line in procs[0].stdout]
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"{impl} world {world}: a rank exited with {p.returncode}")
    return rows


def human(nbytes):
    return f"{nbytes // 2**20} MiB" if nbytes >= 2**20 else f"{nbytes // 2**10} KiB"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        impl, rank, world, port, max_mib, min_kib = sys.argv[2:8]
        return worker(impl, int(rank), int(world), int(port), int(max_mib), int(min_kib))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--min-kib", type=int, default=4)
    parser.add_argument("--max-mib", type=int, default=256)
    parser.add_argument("--impls", nargs="+", default=list(IMPLS), choices=IMPLS)
    parser.add_argument("--rounds", type=int, default=1,
                        help="interleaved runs per implementation; each size keeps its best")
    args = parser.parse_args()
    for world in args.ranks:
        results = {}
        for _ in range(args.rounds):
            for impl in args.impls:
                rows = run_group(impl, world, args.max_mib, args.min_kib)
                best = results.setdefault(impl, rows)
                for i, row in enumerate(rows):
                    best[i]["seconds"] = min(best[i]["seconds"], row["seconds"])
        factor = 2 * (world - 1) / world
        print(f"\n{world} ranks: busbw GB/s (time per allreduce), ratio = torch / mlcore time"
              f" (best of {args.rounds} interleaved round(s); load {os.getloadavg()[0]:.1f})")
        head = f"{'size':>8} " + " ".join(f"{impl:>24}" for impl in args.impls)
        mine = [impl for impl in ("mlcore-shm", "mlcore-tcp") if impl in results]
        if "torch-gloo" in results:
            head += "".join(f"  {impl[7:]}/torch" for impl in mine)
        print(head)
        for i, nbytes in enumerate(sizes(args.max_mib, args.min_kib)):
            cells, secs = [], {}
            for impl in args.impls:
                s = results[impl][i]["seconds"]
                secs[impl] = s
                busbw = nbytes / s * factor / 1e9
                cells.append(f"{busbw:9.2f} ({s * 1e6:10.0f} us)")
            line = f"{human(nbytes):>8} " + " ".join(f"{c:>24}" for c in cells)
            if "torch-gloo" in secs:
                for impl in mine:
                    line += f"  {secs['torch-gloo'] / secs[impl]:8.2f}x"
            print(line, flush=True)


if __name__ == "__main__":
    main()
