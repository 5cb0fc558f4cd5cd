"""SyncBatchNorm with two real ranks under `mlcore launch` against one process on the
concatenated batch: the losses (the forward outputs through the loss), the gradients (read back
from plain SGD steps), the weights and the running statistics agree within float tolerance.
Also: per-rank BatchNorm differs, and convert_sync_batchnorm swaps the layers."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("sklearn.datasets")

COMMON = """
    import numpy as np
    from sklearn.datasets import load_digits
    import mlcore.dist as dist
    import mlcore.nn as nn
    import mlcore.optim as optim

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)[:128] * 3.0 + 5.0
    y = data.target.astype(np.int64)[:128]
    LR = 0.05

    def net(sync=True):
        layers = [nn.Conv2d(4, 3), nn.BatchNorm2d(), nn.ReLU(), nn.Flatten(), nn.Dense(16),
                  nn.BatchNorm1d(), nn.ReLU(), nn.Dense(10)]
        if sync:
            layers = dist.convert_sync_batchnorm(layers)
        m = nn.Sequential(layers)
        m.build((1, 8, 8), seed=3)
        m.compile(optimizer=optim.SGD(LR))
        return m

    def state(m):
        out = dict(m.weights())
        for layer in m.layers:
            out.update({k: np.array(v) for k, v in layer.buffers().items()})
        return out
"""

STEPS, BATCH = 3, 32  # global batch; each of the 2 ranks takes half


def _launch(tmp_path, body, timeout=180):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(COMMON) + textwrap.dedent(body))
    env = dict(os.environ, MLCORE_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "mlcore", "launch", "--nproc-per-node", "2",
                           str(script)], capture_output=True, text=True, timeout=timeout,
                          cwd=tmp_path, env=env)


def _single(sync=True):
    ns = {}
    exec(textwrap.dedent(COMMON), ns)
    model = ns["net"](sync)
    before = ns["state"](model)
    losses, states = [], []
    for s in range(STEPS):
        lo = s * BATCH
        losses.append(model.train_on_batch(ns["x"][lo:lo + BATCH], ns["y"][lo:lo + BATCH]))
        states.append(ns["state"](model))
    return before, losses, states


@pytest.mark.parametrize("sync", [True, False])
def test_two_ranks_match_one_process_on_the_concatenated_batch(tmp_path, sync):
    out = _launch(tmp_path, f"""
        dp = dist.DataParallel(sync_batchnorm={sync})
        model = dp.prepare(net())
        half = {BATCH} // 2
        losses = []
        for s in range({STEPS}):
            lo = s * {BATCH} + dp.rank * half
            losses.append(model.train_on_batch(x[lo:lo + half], y[lo:lo + half]))
            np.savez(f"rank{{dp.rank}}_step{{s}}.npz", **state(model))
        np.save(f"rank{{dp.rank}}_losses.npy", np.array(losses))
    """)
    assert out.returncode == 0, out.stdout + out.stderr
    before, losses, states = _single()
    ranks_losses = [np.load(tmp_path / f"rank{r}_losses.npy") for r in range(2)]
    group_loss = (ranks_losses[0] + ranks_losses[1]) / 2  # equal halves: the batch's mean loss
    if not sync:  # per-rank statistics normalise each half differently
        assert not np.allclose(group_loss, losses, rtol=1e-4)
        return
    np.testing.assert_allclose(group_loss, losses, rtol=1e-4)
    for s in range(STEPS):
        ranks = [np.load(tmp_path / f"rank{r}_step{s}.npz") for r in range(2)]
        for name, value in states[s].items():
            np.testing.assert_array_equal(ranks[0][name], ranks[1][name], err_msg=name)
            np.testing.assert_allclose(ranks[0][name], value, rtol=1e-4, atol=1e-5, err_msg=name)
    # Plain SGD: the first step's change is LR x the averaged gradient, one process's gradient.
    first = np.load(tmp_path / "rank0_step0.npz")
    for name in ("conv2d_0.kernel", "sync_batch_norm2d_1.gamma", "dense_4.kernel"):
        got = (before[name] - first[name]) / 0.05
        want = (before[name] - states[0][name]) / 0.05
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4, err_msg=name)
    assert np.abs(want).max() > 1e-3  # a gradient, not nothing


def test_convert_keeps_options_and_other_layers():
    import mlcore.dist as dist
    import mlcore.nn as nn

    relu = nn.ReLU()
    layers = dist.convert_sync_batchnorm([nn.BatchNorm1d(momentum=0.3), relu])
    assert layers[0].type == "sync_batch_norm1d"
    assert layers[0].config["momentum"] == pytest.approx(0.3)
    assert layers[1] is relu or layers[1].type == "relu"
    assert dist.SyncBatchNorm2d().type == "sync_batch_norm2d"
    built = nn.BatchNorm1d()
    nn.Sequential([built]).build((3,))
    with pytest.raises(Exception, match="built already"):
        dist.convert_sync_batchnorm([built])
