"""One rank of the mlcore.dist tests (tests/python/test_dist_comm.py starts several).

usage: dist_worker.py MODE RANK WORLD_SIZE INIT_METHOD [ARG]
Exits 0 when every check passed; prints "ERROR: <message>" and exits 3 when the group failed
with an mlcore error (the failure tests read that line).
"""

import os
import sys
import time

import numpy as np

import mlcore.dist as dist

OPS = ["sum", "avg", "min", "max", "product"]
DTYPES = ["bool", "uint8", "int32", "int64", "float16", "float32", "float64"]


def data(rank, dtype, n, salt):
    """Small values every rank can recompute for every other rank: products stay exact."""
    rng = np.random.default_rng(1000 * rank + salt)
    return rng.integers(1, 4, size=n).astype(dtype)


def make(rank, dtype, n, salt):
    a = data(rank, dtype, n, salt)
    return a > 1 if dtype == "bool" else a


def reference(op, arrays):
    stacked = np.stack(arrays).astype(np.float64)
    if arrays[0].dtype == np.bool_:
        return {"sum": np.any, "max": np.any, "min": np.all, "product": np.all}[op](
            np.stack(arrays), axis=0)
    out = {"sum": np.sum, "avg": np.mean, "min": np.min, "max": np.max,
           "product": np.prod}[op](stacked, axis=0)
    return out.astype(arrays[0].dtype)


def check(got, want, what, close=False):
    got, want = np.asarray(got), np.asarray(want)
    same = (np.allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-3) if close
            else np.array_equal(got, want))
    if not same:
        raise AssertionError(f"{what}: got {np.asarray(got)[:8]}, want {np.asarray(want)[:8]}")


def collectives(comm):
    r, ws = comm.rank, comm.world_size
    salt = 0
    for dtype in DTYPES:
        for op in OPS:
            if op == "avg" and dtype not in ("float16", "float32", "float64"):
                continue
            # 70001: past the small-message path, several ring segments per block over TCP.
            for n in (0, 1, 7, 1001, 70001):
                for kind in ("all_reduce", "reduce"):
                    salt += 1
                    arrays = [make(k, dtype, n, salt) for k in range(ws)]
                    mine = arrays[r].copy()
                    root = ws - 1
                    if kind == "all_reduce":
                        comm.all_reduce(mine, op=op)
                    else:
                        comm.reduce(mine, dst=root, op=op)
                    want = reference(op, arrays) if kind == "all_reduce" or r == root else arrays[r]
                    check(mine, want, f"{kind} {op} {dtype}[{n}] on rank {r}", close=op == "avg")
        for n in (0, 5):
            salt += 1
            b = make(r, dtype, n, salt)
            comm.broadcast(b, src=0)
            check(b, make(0, dtype, n, salt), f"broadcast {dtype}[{n}]")
            g = comm.all_gather(make(r, dtype, n, salt))
            check(g, np.stack([make(k, dtype, n, salt) for k in range(ws)]), f"all_gather {dtype}")
            if dtype != "bool":
                inp = data(r, dtype, ws * n, salt)
                out = np.empty(n, dtype=dtype)
                comm.reduce_scatter(inp, out, op="sum")
                want = reference("sum", [data(k, dtype, ws * n, salt) for k in range(ws)])
                check(out, want[r * n:(r + 1) * n], f"reduce_scatter {dtype}[{n}]")
            inp = make(r, dtype, ws * n, salt)
            out = np.empty(ws * n, dtype=inp.dtype)
            comm.all_to_all(inp, out)
            want = np.concatenate([make(k, dtype, ws * n, salt)[r * n:(r + 1) * n]
                                   for k in range(ws)])
            check(out, want, f"all_to_all {dtype}[{n}]")
    # Several shared-memory chunks (4 MiB each) and an odd tail.
    big = np.full(2_100_001, r + 1, dtype=np.float32)
    comm.all_reduce(big)
    check(big, np.full(2_100_001, ws * (ws + 1) / 2, dtype=np.float32), "all_reduce 8.4 MB")
    # send/recv around a ring, async so that no rank waits on its own send.
    nxt, prv = (r + 1) % ws, (r - 1) % ws
    if ws == 1:
        nxt = prv = None
    got = np.zeros(9, dtype=np.int64)
    if nxt is not None:
        work = comm.recv_async(got, src=prv, tag=7)
        comm.send(np.full(9, r, dtype=np.int64), dst=nxt, tag=7)
        work.wait(timeout=10)
        check(got, np.full(9, prv), "send/recv ring")
    comm.barrier()
    try:
        import torch
    except ImportError:
        return
    t = torch.full((33,), float(r + 1), dtype=torch.bfloat16, requires_grad=True)
    comm.all_reduce(t)
    check(t.detach().float().numpy(), np.full(33, ws * (ws + 1) / 2), "torch bfloat16 in place")


def main():
    mode, rank, world, init = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    arg = sys.argv[5] if len(sys.argv) > 5 else ""
    timeout = float(os.environ.get("DIST_TEST_TIMEOUT", "20"))
    try:
        if init == "env://":
            comm = dist.init_process_group("gloo", timeout=timeout)
        else:
            # "hosts2": the first half of the ranks count as one machine, the rest as another.
            host_id = f"host{rank * 2 // world}" if arg == "hosts2" else ""
            comm = dist.init_process_group("gloo", init, rank, world, timeout=timeout,
                                           same_host_shm=arg != "tcp", host_id=host_id)
        if mode == "collectives":
            expected = {"tcp": "tcp", "hosts2": "shm+tcp"}.get(arg, "shm")
            expected = "tcp" if world == 1 else expected
            assert comm.transport == expected, comm.transport
            collectives(comm)
        elif mode == "victim":
            comm.barrier()
            print("READY", flush=True)
            time.sleep(60)
        elif mode == "survivor":
            comm.barrier()
            print("READY", flush=True)
            while not os.path.exists(arg):
                time.sleep(0.02)
            start = time.monotonic()
            try:
                comm.all_reduce(np.ones(1000, dtype=np.float32), timeout=3)
            finally:
                print(f"ELAPSED {time.monotonic() - start:.2f}", flush=True)
        elif mode == "init":
            comm.barrier(timeout=5)
    except (RuntimeError, TimeoutError, ValueError) as e:
        print(f"ERROR: {e}", flush=True)
        sys.exit(3)


if __name__ == "__main__":
    main()
