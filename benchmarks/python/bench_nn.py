"""mlcore.nn against PyTorch on the CPU, side by side: the MLP 64-256-256-10 on scikit-learn's
digits (Adam, softmax cross-entropy), batch 64 and 256, the same number of threads for both.

Each (framework, batch) runs in its own subprocess so that its peak resident memory (ru_maxrss)
is its own. Throughput is training samples per second of the fastest of `--epochs` timed epochs
after one warm-up epoch (the fastest, because on a shared machine the others measure the
neighbours); the ratio column is mlcore / PyTorch (above 1: mlcore is faster).

    python benchmarks/python/bench_nn.py [--threads 2] [--epochs 5]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def load_digits():
    from sklearn.datasets import load_digits as load

    data = load()
    import numpy as np

    return (data.data / 16.0).astype(np.float32), data.target.astype(np.int64)


def run_mlcore(batch, epochs):
    import mlcore
    import mlcore.nn as nn
    import mlcore.optim as optim

    x, y = load_digits()
    model = nn.Sequential([nn.Dense(256), nn.ReLU(), nn.Dense(256), nn.ReLU(), nn.Dense(10)])
    model.compile(optimizer=optim.Adam(1e-3), loss="cross_entropy")
    model.fit(x, y, epochs=1, batch_size=batch)  # warm-up
    best = float("inf")
    for _ in range(epochs):
        start = time.perf_counter()
        model.fit(x, y, epochs=1, batch_size=batch)
        best = min(best, time.perf_counter() - start)
    return len(x) / best, mlcore.num_threads()


def run_torch(batch, epochs, threads):
    import torch

    torch.set_num_threads(threads)
    x, y = load_digits()
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)

    def epoch():
        order = torch.randperm(len(x), generator=generator)
        for begin in range(0, len(x), batch):
            index = order[begin:begin + batch]
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
    return len(x) / best, torch.get_num_threads()


def child(framework, batch, epochs, threads):
    if framework == "mlcore":
        rate, used = run_mlcore(batch, epochs)
    else:
        rate, used = run_torch(batch, epochs, threads)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rate": rate, "threads": used, "peak_mib": peak_mib}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--torch-python", default=sys.executable,
                        help="interpreter that has torch (it may live in another venv)")
    parser.add_argument("--child", nargs=2, metavar=("FRAMEWORK", "BATCH"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.epochs, args.threads)
        return
    env = dict(os.environ, MLCORE_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    print(f"MLP 64-256-256-10 on digits (1797 samples), Adam, {args.threads} threads, "
          f"{args.epochs} epochs")
    print(f"{'batch':>5} {'mlcore samples/s':>17} {'torch samples/s':>16} {'ratio':>6} "
          f"{'mlcore MiB':>10} {'torch MiB':>9}")
    for batch in (64, 256):
        results = {}
        for framework, python in (("mlcore", sys.executable), ("torch", args.torch_python)):
            out = subprocess.run([python, __file__, "--child", framework, str(batch),
                                  "--epochs", str(args.epochs), "--threads", str(args.threads)],
                                 env=env, capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{framework} failed: {out.stderr.strip().splitlines()[-1:]}")
                results[framework] = None
                continue
            results[framework] = json.loads(out.stdout.strip().splitlines()[-1])
        m, t = results.get("mlcore"), results.get("torch")
        if m and t:
            print(f"{batch:>5} {m['rate']:>17.0f} {t['rate']:>16.0f} {m['rate'] / t['rate']:>6.2f} "
                  f"{m['peak_mib']:>10.0f} {t['peak_mib']:>9.0f}")
        elif m:
            print(f"{batch:>5} {m['rate']:>17.0f} {'-':>16} {'-':>6} {m['peak_mib']:>10.0f}")


if __name__ == "__main__":
    main()
