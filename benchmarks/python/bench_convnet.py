"""mlcore.nn against PyTorch on the CPU, side by side: a small conv net (Conv2d 1->16 3x3 pad 1,
ReLU, MaxPool 2, Conv2d 16->32 3x3 pad 1, ReLU, MaxPool 2, Flatten, Dense 10) trained with Adam
on random 28x28 images, batch 64, with 1 and 2 threads (the same count for both frameworks).

Each (framework, threads) pair runs in its own subprocess (PyTorch may live in another venv:
--torch-python). Throughput is training samples per second of the fastest of `--epochs` timed
epochs after one warm-up epoch (the fastest, because on a shared machine the others measure the
neighbours); ratio is mlcore / PyTorch (above 1: mlcore is faster).

    python benchmarks/python/bench_convnet.py [--threads 1,2] [--epochs 3] [--samples 2048]
"""

import argparse
import json
import os
import subprocess
import sys
import time

BATCH = 64


def data(samples):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((samples, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, size=samples).astype(np.int64)
    return x, y


def run_mlcore(samples, epochs):
    import mlcore
    import mlcore.nn as nn
    import mlcore.optim as optim

    x, y = data(samples)
    model = nn.Sequential([
        nn.Conv2d(16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dense(10),
    ])
    model.compile(optimizer=optim.Adam(1e-3), loss="cross_entropy")
    model.fit(x, y, epochs=1, batch_size=BATCH)  # warm-up
    best = float("inf")
    for _ in range(epochs):
        start = time.perf_counter()
        model.fit(x, y, epochs=1, batch_size=BATCH)
        best = min(best, time.perf_counter() - start)
    return samples / best, mlcore.num_threads()


def run_torch(samples, epochs, threads):
    import torch

    torch.set_num_threads(threads)
    x, y = data(samples)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * 7 * 7, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)

    def epoch():
        order = torch.randperm(len(x), generator=generator)
        for begin in range(0, len(x), BATCH):
            index = order[begin:begin + BATCH]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[index]), y[index])
            loss.backward()
            opt.step()

    epoch()
    best = float("inf")
    for _ in range(epochs):
        start = time.perf_counter()
        epoch()
        best = min(best, time.perf_counter() - start)
    return samples / best, torch.get_num_threads()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--torch-python", default="/tmp/nn-torch-venv/bin/python"
                        if os.path.exists("/tmp/nn-torch-venv/bin/python") else sys.executable,
                        help="interpreter that has torch (it may live in another venv)")
    parser.add_argument("--child", metavar="FRAMEWORK")
    args = parser.parse_args()
    if args.child:
        threads = int(args.threads)
        if args.child == "mlcore":
            rate, used = run_mlcore(args.samples, args.epochs)
        else:
            rate, used = run_torch(args.samples, args.epochs, threads)
        print(json.dumps({"rate": rate, "threads": used}))
        return
    print(f"conv net 1->16->32 (3x3, pad 1, max pool 2) -> 10 on random 28x28, Adam, batch "
          f"{BATCH}, {args.samples} samples, best of {args.epochs} epochs")
    print(f"{'threads':>7} {'mlcore samples/s':>17} {'torch samples/s':>16} {'ratio':>6}")
    for threads in [int(t) for t in args.threads.split(",")]:
        env = dict(os.environ, MLCORE_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
        results = {}
        for framework, python in (("mlcore", sys.executable), ("torch", args.torch_python)):
            out = subprocess.run([python, __file__, "--child", framework, "--threads",
                                  str(threads), "--epochs", str(args.epochs), "--samples",
                                  str(args.samples)], env=env, capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{framework} failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            results[framework] = json.loads(out.stdout.strip().splitlines()[-1])
        m, t = results.get("mlcore"), results.get("torch")
        if m and t:
            ratio = m["rate"] / t["rate"]
            print(f"{threads:>7} {m['rate']:>17.0f} {t['rate']:>16.0f} {ratio:>6.2f}")
        elif m:
            print(f"{threads:>7} {m['rate']:>17.0f} {'-':>16} {'-':>6}")


if __name__ == "__main__":
    main()
