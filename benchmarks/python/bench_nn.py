"""mlcore.nn against PyTorch on the CPU, side by side: the MLP 64-256-256-10 on scikit-learn's
digits (Adam, softmax cross-entropy), batch 64 and 256, the same number of threads for both.

Each (framework, batch) runs in its own subprocess so that its peak resident memory (ru_maxrss)
is its own. Throughput is training samples per second of the fastest of `--epochs` timed epochs
after one warm-up epoch (see _torch_runner.py); the ratio column is mlcore / PyTorch (above 1:
mlcore is faster).

    python benchmarks/python/bench_nn.py [--threads 2] [--epochs 5]
"""

import argparse
import os

import _torch_runner as runner


def load_digits():
    import numpy as np
    from sklearn.datasets import load_digits as load

    data = load()
    return (data.data / 16.0).astype(np.float32), data.target.astype(np.int64)


def run_mlcore(batch, epochs):
    import mlcore
    import mlcore.nn as nn
    import mlcore.optim as optim

    x, y = load_digits()
    model = nn.Sequential([nn.Dense(256), nn.ReLU(), nn.Dense(256), nn.ReLU(), nn.Dense(10)])
    model.compile(optimizer=optim.Adam(1e-3), loss="cross_entropy")
    return runner.mlcore_rate(model, x, y, batch, epochs), mlcore.num_threads()


def run_torch(batch, epochs, threads):
    import torch

    torch.set_num_threads(threads)
    x, y = load_digits()
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 10))
    return runner.torch_rate(model, x, y, batch, epochs), torch.get_num_threads()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--torch-python", default=runner.default_torch_python(),
                        help="interpreter that has torch (it may live in another venv)")
    parser.add_argument("--child", nargs=2, metavar=("FRAMEWORK", "BATCH"))
    args = parser.parse_args()
    if args.child:
        framework, batch = args.child[0], int(args.child[1])
        if framework == "mlcore":
            runner.report_child(*run_mlcore(batch, args.epochs))
        else:
            runner.report_child(*run_torch(batch, args.epochs, args.threads))
        return
    print(f"MLP 64-256-256-10 on digits (1797 samples), Adam, {args.threads} threads, "
          f"{args.epochs} epochs")
    print(f"{'batch':>5} {'mlcore samples/s':>17} {'torch samples/s':>16} {'ratio':>6} "
          f"{'mlcore MiB':>10} {'torch MiB':>9}")
    for batch in (64, 256):
        results = runner.run_pair(os.path.abspath(__file__),
                                  [str(batch), "--epochs", str(args.epochs), "--threads",
                                   str(args.threads)], args.threads, args.torch_python)
        m, t = results.get("mlcore"), results.get("torch")
        if m and t:
            print(f"{batch:>5} {m['rate']:>17.0f} {t['rate']:>16.0f} {m['rate'] / t['rate']:>6.2f} "
                  f"{m['peak_mib']:>10.0f} {t['peak_mib']:>9.0f}")
        elif m:
            print(f"{batch:>5} {m['rate']:>17.0f} {'-':>16} {'-':>6} {m['peak_mib']:>10.0f}")


if __name__ == "__main__":
    main()
