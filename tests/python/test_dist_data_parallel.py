"""Data-parallel training with real worker processes under `mlcore launch`: two ranks on the
digits data end with the weights of one process on the same global batches, report the group's
numbers, refuse different architectures on every rank, and resume from rank 0's checkpoint
after a rank is killed."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("sklearn.datasets")

COMMON = """
    import json, os, sys
    import numpy as np
    from sklearn.datasets import load_digits
    import mlcore.dist as dist
    import mlcore.nn as nn
    import mlcore.optim as optim

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)[:512]
    y = data.target.astype(np.int64)[:512]

    def mlp(seed, hidden=32):
        m = nn.Sequential([nn.Dense(hidden), nn.ReLU(), nn.Dense(10)])
        m.build((64,), seed=seed)
        m.compile(optimizer=optim.SGD(0.1, momentum=0.9), metrics=["accuracy"])
        return m
"""


def _run(tmp_path, body, nproc=2, extra=(), timeout=240):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(COMMON) + textwrap.dedent(body))
    return subprocess.run([sys.executable, "-m", "mlcore", "launch", "--nproc-per-node",
                           str(nproc), *extra, str(script)], capture_output=True, text=True,
                          timeout=timeout, cwd=tmp_path)


def test_two_ranks_match_one_process_on_the_same_global_batches(tmp_path):
    out = _run(tmp_path, """
        dp = dist.DataParallel()
        model = mlp(seed=dp.rank)          # rank 1's own weights are replaced by rank 0's
        h = model.fit(x, y, epochs=3, batch_size=16, seed=4, strategy=dp)
        logs = model.evaluate(x, y, strategy=dp)
        w = model.weights()
        np.savez(f"rank{dp.rank}.npz", **w)
        json.dump({"loss": h.history["loss"], "eval": logs}, open(f"rank{dp.rank}.json", "w"))
    """)
    assert out.returncode == 0, out.stdout + out.stderr
    ns = {}
    exec(textwrap.dedent(COMMON), ns)  # the same data and model in this process
    single = ns["mlp"](seed=0)
    h = single.fit(ns["x"], ns["y"], epochs=3, batch_size=32, seed=4)
    ref = single.weights()
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    for name, value in ref.items():
        np.testing.assert_array_equal(ranks[0][name], ranks[1][name])
        np.testing.assert_allclose(ranks[0][name], value, rtol=1e-4, atol=1e-5)
    logs = [json.load(open(tmp_path / f"rank{r}.json")) for r in range(2)]
    assert logs[0] == logs[1]  # every rank reports the group's numbers
    np.testing.assert_allclose(logs[0]["loss"], h.history["loss"], rtol=1e-4)
    expected = single.evaluate(ns["x"], ns["y"])
    for key in ("loss", "accuracy"):
        assert logs[0]["eval"][key] == pytest.approx(expected[key], rel=1e-4)


def test_custom_loop_with_train_on_batch_and_no_sync(tmp_path):
    out = _run(tmp_path, """
        dp = dist.DataParallel()
        model = dp.prepare(mlp(seed=dp.rank))
        shard = dist.DistributedSampler(len(x), shuffle=False).indices(0)
        for i in range(0, 64, 16):
            model.train_on_batch(x[shard[i:i + 16]], y[shard[i:i + 16]])
        with dp.no_sync():
            pass
        w = model.weights()
        np.savez(f"rank{dp.rank}.npz", **w)
        print("buckets", dp.bucket_sizes())
    """)
    assert out.returncode == 0, out.stdout + out.stderr
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    for name in ranks[0].files:
        np.testing.assert_array_equal(ranks[0][name], ranks[1][name])


def test_different_architectures_fail_on_every_rank(tmp_path):
    out = _run(tmp_path, """
        dp = dist.DataParallel()
        model = mlp(seed=0, hidden=32 if dp.rank == 0 else 16)
        try:
            model.fit(x, y, epochs=1, strategy=dp)
        except ValueError as e:
            print("refused:", e)
            sys.exit(5)
    """)
    assert out.returncode == 5
    lines = [line for line in out.stdout.splitlines() if "refused:" in line]
    assert any(line.startswith("[rank 0] refused:") for line in lines), out.stdout
    assert any(line.startswith("[rank 1] refused:") and "on rank 1" in line for line in lines)
    assert all("rank(s) 1 built a different model" in line for line in lines)


def test_kill_9_under_the_launcher_then_restart_resumes_from_the_checkpoint(tmp_path):
    # Rank 1 kills itself with SIGKILL in epoch 2 of the first run; the launcher stops rank 0,
    # restarts the group, and both ranks resume from rank 0's checkpoint after epoch 1.
    out = _run(tmp_path, """
        import signal
        restart = int(os.environ["MLCORE_RESTART_COUNT"])
        dp = dist.DataParallel(timeout=30)
        model = mlp(seed=0)

        class Die:
            def on_epoch_end(self, epoch, logs):
                print(f"restart {restart} finished epoch {epoch}", flush=True)
                if restart == 0 and dp.rank == 1 and epoch == 1:
                    os.kill(os.getpid(), signal.SIGKILL)
                return False

        h = model.fit(x, y, epochs=4, batch_size=32, strategy=dp, checkpoint_dir="ckpt",
                      callbacks=[Die()])
        print("epochs run", h.epochs_run, flush=True)
    """, extra=["--max-restarts", "1", "--stop-grace", "3"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "rank 1 was killed by signal 9 (Killed); restarting the group" in out.stderr
    rank0 = [line for line in out.stdout.splitlines() if line.startswith("[rank 0]")]
    assert "[rank 0] restart 1 finished epoch 2" in rank0
    assert "[rank 0] restart 1 finished epoch 3" in rank0
    assert "[rank 0] restart 1 finished epoch 0" not in rank0  # nothing before it redone
    assert "[rank 0] epochs run 2" in rank0
    assert os.path.exists(tmp_path / "ckpt" / "model.safetensors")


def test_kill_9_without_restarts_names_the_rank(tmp_path):
    out = _run(tmp_path, """
        import signal
        dp = dist.DataParallel(timeout=20)
        model = mlp(seed=0)
        if dp.rank == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        model.fit(x, y, epochs=50, strategy=dp)
    """, extra=["--stop-grace", "2"])
    assert out.returncode == 128 + 9
    assert "mlcore launch: rank 1 was killed by signal 9" in out.stderr


def test_fit_on_a_sharded_dataset_keeps_replicas_equal(tmp_path):
    out = _run(tmp_path, """
        dp = dist.DataParallel()
        data = dist.shard(nn.Dataset.from_tensors(x, y).shuffle(len(x), seed=1)).batch(32)
        model = mlp(seed=dp.rank)
        h = model.fit(data, epochs=2, strategy=dp)
        np.savez(f"rank{dp.rank}.npz", **model.weights())
        print("loss", h.history["loss"][-1])
    """)
    assert out.returncode == 0, out.stdout + out.stderr
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    for name in ranks[0].files:
        np.testing.assert_array_equal(ranks[0][name], ranks[1][name])
    losses = [line.split()[-1] for line in out.stdout.splitlines() if "] loss " in line]
    assert len(losses) == 2 and losses[0] == losses[1]  # the group's loss on both ranks
