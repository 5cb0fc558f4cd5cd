"""Train a PyTorch model data-parallel with mlcore.dist alone: no torch.distributed.

    mlcore launch --nproc-per-node 2 examples/torch_ddp_with_mlcore.py

Like Horovod, mlcore's collectives take any framework's tensors: a PyTorch tensor goes through
DLPack and is reduced in place, without a copy. This script does by hand what a data-parallel
wrapper does: rank 0's initial weights are broadcast to every rank, each rank trains on its
shard of the digits data (mlcore.dist.DistributedSampler), and a hook on every parameter starts
an asynchronous allreduce (average) of its gradient as soon as backward has accumulated it, so
communication overlaps the rest of the backward pass; the optimizer steps once all are done.
At the end every rank holds the same weights (checked), and rank 0 prints the accuracy.
"""

import numpy as np
import torch
from sklearn.datasets import load_digits

import mlcore.dist as dist


def main(epochs=5, batch_size=32):
    torch.set_num_threads(1)
    comm = dist.init_from_env()  # torchrun / mlcore launch / PyTorchJob environment
    torch.manual_seed(comm.rank)  # different on purpose: the broadcast below makes them equal
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    for p in model.parameters():
        comm.broadcast(p.data, src=0)

    pending = []

    def reduce_when_ready(param):
        pending.append(comm.all_reduce_async(param.grad, op="avg"))

    for p in model.parameters():
        p.register_post_accumulate_grad_hook(reduce_when_ready)

    data = load_digits()
    x = torch.from_numpy((data.data / 16.0).astype(np.float32))
    y = torch.from_numpy(data.target.astype(np.int64))
    sampler = dist.DistributedSampler(len(x), rank=comm.rank, world_size=comm.world_size, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch in range(epochs):
        order = torch.from_numpy(sampler.indices(epoch))
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            for work in pending:  # every gradient is now the group's average
                work.wait()
            pending.clear()
            opt.step()

    # Identical replicas: the max and the min of every weight over the ranks agree.
    for p in model.parameters():
        hi, lo = p.data.clone(), p.data.clone()
        comm.all_reduce(hi, op="max")
        comm.all_reduce(lo, op="min")
        assert torch.equal(hi, lo), "replicas diverged"
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    if comm.rank == 0:
        print(f"world_size={comm.world_size} accuracy={accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
