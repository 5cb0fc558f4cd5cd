"""mlcore.nn against PyTorch on the CPU, side by side: a small conv net (Conv2d 1->16 3x3 pad 1,
ReLU, MaxPool 2, Conv2d 16->32 3x3 pad 1, ReLU, MaxPool 2, Flatten, Dense 10) trained with Adam
on random 28x28 images, batch 64, with 1 and 2 threads (the same count for both frameworks).

Each (framework, threads) pair runs in its own subprocess (PyTorch may live in another venv:
--torch-python). Throughput is training samples per second of the fastest of `--epochs` timed
epochs after one warm-up epoch (see _torch_runner.py); ratio is mlcore / PyTorch (above 1:
mlcore is faster).

    python benchmarks/python/bench_convnet.py [--threads 1,2] [--epochs 3] [--samples 2048]
"""

import argparse
import os

import _torch_runner as runner

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
    return runner.mlcore_rate(model, x, y, BATCH, epochs), mlcore.num_threads()


def run_torch(samples, epochs, threads):
    import torch

    torch.set_num_threads(threads)
    x, y = data(samples)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * 7 * 7, 10))
    return runner.torch_rate(model, x, y, BATCH, epochs), torch.get_num_threads()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--torch-python", default=runner.default_torch_python(),
                        help="interpreter that has torch (it may live in another venv)")
    parser.add_argument("--child", metavar="FRAMEWORK")
    args = parser.parse_args()
    if args.child:
        threads = int(args.threads)
        if args.child == "mlcore":
            runner.report_child(*run_mlcore(args.samples, args.epochs))
        else:
            runner.report_child(*run_torch(args.samples, args.epochs, threads))
        return
    print(f"conv net 1->16->32 (3x3, pad 1, max pool 2) -> 10 on random 28x28, Adam, batch "
          f"{BATCH}, {args.samples} samples, best of {args.epochs} epochs")
    print(f"{'threads':>7} {'mlcore samples/s':>17} {'torch samples/s':>16} {'ratio':>6}")
    for threads in [int(t) for t in args.threads.split(",")]:
        results = runner.run_pair(os.path.abspath(__file__),
                                  ["--threads", str(threads), "--epochs", str(args.epochs),
                                   "--samples", str(args.samples)], threads, args.torch_python)
        m, t = results.get("mlcore"), results.get("torch")
        if m and t:
            ratio = m["rate"] / t["rate"]
            print(f"{threads:>7} {m['rate']:>17.0f} {t['rate']:>16.0f} {ratio:>6.2f}")
        elif m:
            print(f"{threads:>7} {m['rate']:>17.0f} {'-':>16} {'-':>6}")


if __name__ == "__main__":
    main()
