"""The lifecycle's training step: one rank of a data-parallel job on the digits split.

    mlcore launch --nproc-per-node 2 examples/lifecycle_train.py \
        --data train.npz --hidden 64 --lr 0.01 --epochs 20 --out model/

Every rank reads the same arrays; DataParallel shards each epoch between the ranks and averages
the gradients, so the replicas stay identical; rank 0 saves the checkpoint. A Kubeflow
PyTorchJob runs this same file (examples/lifecycle.py carries its source in the job's
environment), with the operator's variables in place of the launcher's.
"""

import argparse
import json
import os

import numpy as np

import mlcore.dist as dist
from mlcore import nn, optim


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="an .npz with x (float32 [N, 64]) and y")
    p.add_argument("--hidden", type=int, required=True)
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32, help="per rank")
    p.add_argument("--out", required=True, help="the checkpoint directory rank 0 writes")
    args = p.parse_args(argv)

    with np.load(args.data) as d:
        x, y = d["x"].astype(np.float32), d["y"].astype(np.int64)
    dp = dist.DataParallel()
    model = nn.Sequential([nn.Dense(args.hidden), nn.ReLU(), nn.Dense(10)])
    model.compile(optimizer=optim.Adam(args.lr), loss="cross_entropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, seed=0,
                        strategy=dp)
    rank, world = dp.rank, dp.world_size
    print(f"rank {rank}/{world}: trained on {len(x) // world} samples an epoch, "
          f"final loss {history.history['loss'][-1]:.4f}", flush=True)
    if rank == 0:
        model.save(args.out)
        with open(os.path.join(args.out, "training.json"), "w") as f:
            json.dump({"world_size": world, "epochs": args.epochs,
                       "loss": history.history["loss"]}, f)


if __name__ == "__main__":
    main()
