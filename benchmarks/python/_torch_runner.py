"""What the mlcore.nn-versus-PyTorch benchmarks share (bench_nn.py, bench_convnet.py): the
timed training loops of both frameworks and the runner that measures each configuration in its
own subprocess (so that threads and peak memory are its own; PyTorch may live in another venv).

Throughput is training samples per second of the fastest of `epochs` timed epochs after one
warm-up epoch: the fastest, because on a shared machine the slower ones measure the neighbours.
"""

import json
import os
import resource
import subprocess
import sys

from _timing import best_seconds

TORCH_VENV_PYTHON = "/tmp/nn-torch-venv/bin/python"


def default_torch_python():
    """The interpreter with torch: the benchmark venv when it exists, else this one."""
    return TORCH_VENV_PYTHON if os.path.exists(TORCH_VENV_PYTHON) else sys.executable


def mlcore_rate(model, x, y, batch, epochs):
    """Samples per second of ``model.fit`` (an mlcore.nn model, compiled) on (x, y)."""
    seconds = best_seconds(lambda: model.fit(x, y, epochs=1, batch_size=batch), epochs)
    return len(x) / seconds


def torch_rate(model, x, y, batch, epochs, lr=1e-3):
    """Samples per second of the usual PyTorch loop (shuffled batches, Adam, cross-entropy) on
    numpy (x, y), with the thread count torch was set to."""
    import torch

    x, y = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
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

    return len(x) / best_seconds(epoch, epochs)


def report_child(rate, threads):
    """What a child prints last: its rate, thread count and peak resident memory (MiB)."""
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rate": rate, "threads": threads, "peak_mib": peak_mib}))


def run_pair(script, child_args, threads, torch_python):
    """Runs ``script --child <framework> *child_args`` for mlcore (this interpreter) and torch
    (``torch_python``) with ``threads`` threads; {framework: result dict or None}."""
    env = dict(os.environ, MLCORE_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    results = {}
    for framework, python in (("mlcore", sys.executable), ("torch", torch_python)):
        out = subprocess.run([python, script, "--child", framework, *child_args], env=env,
                             capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{framework} failed: {out.stderr.strip().splitlines()[-1:]}")
            results[framework] = None
            continue
        results[framework] = json.loads(out.stdout.strip().splitlines()[-1])
    return results
