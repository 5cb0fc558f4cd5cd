"""Two-rank data-parallel training, mlcore.dist.DataParallel against PyTorch DDP (gloo), side by
side on the same data with 1 thread per rank: the digits MLP 64-256-256-10 and the small conv
net of bench_convnet.py (random 28x28), Adam, batch 64 per rank.

Both groups are started by `mlcore launch --nproc-per-node 2` (its environment is torchrun's, so
PyTorch's env:// init reads it unchanged). Reported per model:
  samples/s   global training samples per second, best of --epochs timed epochs after a warm-up
              (mlcore: model.fit(strategy=dp); PyTorch: the usual DDP loop)
  reducer     per-step time of data-parallel training minus the same loop without gradient
              sync (on a local model trained as many steps first), as a fraction of a bare allreduce of the gradients' bytes through the same
              library: 1.0 means the reducer costs exactly one allreduce; below 1, overlap with
              the backward pass hides part of it; the overhead over a bare allreduce is the
              excess above 1. Steps are timed one by one, interleaved (local, synced, bare),
              each started right after a barrier (so the synced step and the bare allreduce
              both absorb the skew with which the two ranks leave a barrier), and each
              summarised by its lower quartile.
  in step     the same overhead against the local step followed by a bare allreduce of the
              gradients' bytes (a hand-written data-parallel step without overlap): (synced -
              local) / (local + allreduce - local). Unlike `reducer`, the denominator also pays
              the ranks' compute skew, which every synced step pays (a rank that finished its
              backward pass first waits in the allreduce for the other), so the excess above 1
              is what the reducer adds to such a step.

    python benchmarks/python/bench_ddp.py [--epochs 5] [--steps 200]
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

BATCH = 64


def data(model):
    if model == "mlp":
        from sklearn.datasets import load_digits

        d = load_digits()
        x = (d.data / 16.0).astype(np.float32)[:1792]
        return x, d.target.astype(np.int64)[:1792]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2048, 1, 28, 28), dtype=np.float32)
    return x, rng.integers(0, 10, size=2048).astype(np.int64)


def best(times):
    return min(times)


def quartile(times):
    """The lower quartile: robust to the other processes sharing this machine's cores."""
    return sorted(times)[len(times) // 4]


def mlcore_child(model_name, epochs, steps):
    import mlcore.dist as dist
    import mlcore.nn as nn
    import mlcore.optim as optim

    def build():
        if model_name == "mlp":
            m = nn.Sequential([nn.Dense(256), nn.ReLU(), nn.Dense(256), nn.ReLU(), nn.Dense(10)])
            m.build((64,), seed=0)
        else:
            m = nn.Sequential([nn.Conv2d(16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                               nn.Conv2d(32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                               nn.Flatten(), nn.Dense(10)])
            m.build((1, 28, 28), seed=0)
        m.compile(optimizer=optim.Adam(1e-3), loss="cross_entropy")
        return m

    x, y = data(model_name)
    dp = dist.DataParallel()
    model = build()
    stamps = []

    class Clock:
        def on_epoch_end(self, epoch, logs):
            stamps.append(time.perf_counter())
            return False

    stamps.append(time.perf_counter())
    model.fit(x, y, epochs=epochs + 1, batch_size=BATCH, strategy=dp, callbacks=[Clock()])
    epoch_s = best([b - a for a, b in zip(stamps[1:], stamps[2:])])
    rate = len(x) / epoch_s

    # Per-step cost of the sync: the same train_on_batch step with and without the reducer, and
    # a bare allreduce of the gradients' bytes, interleaved step by step (so load from other
    # processes hits all three alike) and summarised by their lower quartile.
    xb, yb = x[dp.rank * BATCH:(dp.rank + 1) * BATCH], y[dp.rank * BATCH:(dp.rank + 1) * BATCH]
    # The local model is trained as many steps as the synced one first: a trained model's step
    # is slower than a fresh one's (about 15 us for the MLP), which would count as the reducer's.
    local = build()
    local.fit(x[dp.rank::2], y[dp.rank::2], epochs=epochs + 1, batch_size=BATCH, shuffle=False)
    grads = np.zeros(model.num_parameters, np.float32)
    local_s, synced_s, bare_s, in_step_s = [], [], [], []
    for i in range(steps + 5):
        dp.comm.barrier()
        t = time.perf_counter()
        local.train_on_batch(xb, yb)
        t1 = time.perf_counter()
        dp.comm.barrier()
        t2 = time.perf_counter()
        model.train_on_batch(xb, yb)
        t3a = time.perf_counter()
        dp.comm.barrier()
        t3 = time.perf_counter()
        dp.comm.all_reduce(grads, op="avg")
        t4 = time.perf_counter()
        dp.comm.barrier()
        t5 = time.perf_counter()
        local.train_on_batch(xb, yb)
        dp.comm.all_reduce(grads, op="avg")
        t6 = time.perf_counter()
        if i >= 5:  # warm-up
            local_s.append(t1 - t)
            synced_s.append(t3a - t2)
            bare_s.append(t4 - t3)
            in_step_s.append(t6 - t5)
    return (rate, quartile(local_s), quartile(synced_s), quartile(bare_s), quartile(in_step_s),
            grads.nbytes, dp.rank)


def torch_child(model_name, epochs, steps):
    import torch
    import torch.distributed as tdist

    torch.set_num_threads(1)
    tdist.init_process_group("gloo")
    rank = tdist.get_rank()

    def build():
        torch.manual_seed(0)
        if model_name == "mlp":
            return torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(),
                                       torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                       torch.nn.Linear(256, 10))
        return torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Flatten(), torch.nn.Linear(32 * 7 * 7, 10))

    x, y = data(model_name)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    ddp = torch.nn.parallel.DistributedDataParallel(build())
    opt = torch.optim.Adam(ddp.parameters(), 1e-3)
    sampler = torch.utils.data.DistributedSampler(range(len(x)), shuffle=True, seed=0)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(m, o, bx, by):
        o.zero_grad()
        loss_fn(m(bx), by).backward()
        o.step()

    times = []
    for epoch in range(epochs + 1):
        sampler.set_epoch(epoch)
        idx = torch.tensor(list(sampler))
        tdist.barrier()
        t = time.perf_counter()
        for i in range(0, len(idx), BATCH):
            b = idx[i:i + BATCH]
            step(ddp, opt, xt[b], yt[b])
        times.append(time.perf_counter() - t)
    rate = len(x) / best(times[1:])

    xb, yb = xt[rank * BATCH:(rank + 1) * BATCH], yt[rank * BATCH:(rank + 1) * BATCH]
    local = build()
    local_opt = torch.optim.Adam(local.parameters(), 1e-3)
    for epoch in range(epochs + 1):  # as many steps as the DDP model, as mlcore_child does
        for i in range(rank, len(x) - 1, 2 * BATCH):
            step(local, local_opt, xt[i:i + 2 * BATCH:2], yt[i:i + 2 * BATCH:2])
    grads = torch.zeros(sum(p.numel() for p in local.parameters()))
    local_s, synced_s, bare_s, in_step_s = [], [], [], []
    for i in range(steps + 5):
        tdist.barrier()
        t = time.perf_counter()
        step(local, local_opt, xb, yb)
        t1 = time.perf_counter()
        tdist.barrier()
        t2 = time.perf_counter()
        step(ddp, opt, xb, yb)
        t3a = time.perf_counter()
        tdist.barrier()
        t3 = time.perf_counter()
        grads /= 2  # what an average costs on top of gloo's sum
        tdist.all_reduce(grads)
        t4 = time.perf_counter()
        tdist.barrier()
        t5 = time.perf_counter()
        step(local, local_opt, xb, yb)
        grads /= 2
        tdist.all_reduce(grads)
        t6 = time.perf_counter()
        if i >= 5:
            local_s.append(t1 - t)
            synced_s.append(t3a - t2)
            bare_s.append(t4 - t3)
            in_step_s.append(t6 - t5)
    return (rate, quartile(local_s), quartile(synced_s), quartile(bare_s), quartile(in_step_s),
            grads.numel() * 4, rank)


def run_group(framework, model, epochs, steps):
    env = dict(os.environ, MLCORE_NUM_THREADS="1", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-m", "mlcore", "launch", "--nproc-per-node", "2",
                          os.path.abspath(__file__), "--child", framework, "--model", model,
                          "--epochs", str(epochs), "--steps", str(steps)],
                         capture_output=True, text=True, env=env, timeout=900)
    for line in out.stdout.splitlines():
        if line.startswith("[rank 0] RESULT "):
            return json.loads(line[len("[rank 0] RESULT "):])
    raise RuntimeError(f"{framework} {model} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--models", default="mlp,conv")
    parser.add_argument("--child")
    parser.add_argument("--model")
    args = parser.parse_args()
    if args.child:
        fn = mlcore_child if args.child == "mlcore" else torch_child
        rate, local_s, synced_s, bare_s, in_step_s, nbytes, rank = fn(args.model, args.epochs,
                                                                       args.steps)
        if rank == 0:
            print("RESULT " + json.dumps({"rate": rate, "local_us": local_s * 1e6,
                                          "synced_us": synced_s * 1e6, "bare_us": bare_s * 1e6,
                                          "in_step_us": in_step_s * 1e6, "bytes": nbytes}),
                  flush=True)
        return
    print(f"2 ranks x 1 thread, batch {BATCH} per rank, Adam; best of {args.epochs} epochs, "
          f"{args.steps} timed steps")
    print(f"{'model':>5} {'framework':>9} {'samples/s':>10} {'step local':>11} "
          f"{'step synced':>12} {'bare allreduce':>15} {'local+bare':>11} {'reducer/bare':>13} "
          f"{'in step':>8}")
    rates = {}
    for model in args.models.split(","):
        for framework in ("mlcore", "torch"):
            r = run_group(framework, model, args.epochs, args.steps)
            rates[(model, framework)] = r["rate"]
            ratio = (r["synced_us"] - r["local_us"]) / r["bare_us"]
            in_step = (r["synced_us"] - r["local_us"]) / (r["in_step_us"] - r["local_us"])
            print(f"{model:>5} {framework:>9} {r['rate']:>10.0f} {r['local_us']:>9.0f}us "
                  f"{r['synced_us']:>10.0f}us {r['bare_us']:>9.0f}us ({r['bytes'] / 1024:.0f} KiB)"
                  f" {r['in_step_us']:>9.0f}us {ratio:>8.2f} {in_step:>8.2f}")
        print(f"{model:>5} mlcore/torch samples/s: "
              f"{rates[(model, 'mlcore')] / rates[(model, 'torch')]:.2f}x")


if __name__ == "__main__":
    main()
