"""Elastic membership with real launchers on 127.0.0.1: two `mlcore launch --nnodes 1:2`
"nodes" meet at one rendezvous endpoint and train digits data-parallel with checkpoints; when
one launcher is killed the other re-forms the group alone (world size 1) and resumes from the
last checkpoint, and a launcher that arrives later is taken in (world size 2) the same way.
Each test is bounded by its timeouts (the workers' collectives time out after 10 s)."""

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

pytest.importorskip("sklearn.datasets")

WORKER = """
    import os, time
    import numpy as np
    from sklearn.datasets import load_digits
    import mlcore.dist as dist
    import mlcore.nn as nn
    import mlcore.optim as optim

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)[:256]
    y = data.target.astype(np.int64)[:256]
    dp = dist.DataParallel(timeout=10)
    model = nn.Sequential([nn.Dense(32), nn.ReLU(), nn.Dense(10)])
    model.build((64,), seed=0)
    model.compile(optimizer=optim.SGD(0.1), metrics=["accuracy"])
    tag = f"round {os.environ['MLCORE_ELASTIC_ROUND']} world {dp.world_size}"

    class Report:
        def on_epoch_end(self, epoch, logs):
            print(f"{tag} epoch {epoch}", flush=True)
            time.sleep(float(os.environ.get("EPOCH_PAUSE", "1")))
            return False

    model.fit(x, y, epochs=int(os.environ.get("EPOCHS", "8")), batch_size=16, strategy=dp,
              checkpoint_dir=os.environ["CKPT"], callbacks=[Report()])
    print(f"{tag} done", flush=True)
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One launcher as its own process; its output lines are collected as they come."""

    def __init__(self, tmp_path, port, name, epochs=8):
        env = dict(os.environ, CKPT=str(tmp_path / "ckpt"), EPOCHS=str(epochs),
                   MLCORE_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlcore", "launch", "--nnodes", "1:2", "--nproc-per-node", "1",
             "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "job",
             "--rdzv-conf", "last_call_timeout=4,join_timeout=60", "--max-restarts", "2",
             "--stop-grace", "2", str(tmp_path / "worker.py")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path, env=env)
        self.name, self.lines = name, []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(re.search(pattern, line) for line in self.lines):
                return
            if self.proc.poll() is not None and not self.proc.stdout.readable():
                break
            time.sleep(0.1)
        raise AssertionError(f"{self.name}: no line matching {pattern!r} in {timeout} s:\n" +
                             "\n".join(self.lines))

    def finish(self, timeout):
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        time.sleep(0.2)  # the reader drains the pipe
        return self.proc.returncode

    def epochs(self, world):
        return [int(m.group(1)) for line in self.lines
                for m in [re.search(rf"world {world} epoch (\d+)", line)] if m]


def _start_host(tmp_path, port, **kw):
    (tmp_path / "worker.py").write_text(textwrap.dedent(WORKER))
    host = Node(tmp_path, port, "host", **kw)
    deadline = time.monotonic() + 30  # the host launcher serves the rendezvous store
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return host
        time.sleep(0.1)
    host.proc.kill()
    raise AssertionError("the first launcher never served the rendezvous port")


def test_a_node_leaves_and_the_other_continues_alone_from_the_checkpoint(tmp_path):
    port = _free_port()
    host = _start_host(tmp_path, port)
    other = Node(tmp_path, port, "other")
    try:
        host.wait_for(r"world 2 epoch 1", 90)
        other.proc.send_signal(signal.SIGKILL)  # the launcher; its worker dies with it
        assert host.finish(150) == 0, "\n".join(host.lines)
    finally:
        other.finish(5)
    together, alone = host.epochs(2), host.epochs(1)
    assert alone, "\n".join(host.lines)
    assert alone[-1] == 7 and any("world 1 done" in line for line in host.lines)
    # Resumed after the last checkpoint the pair wrote: nothing before it trained again.
    assert min(alone) >= 1 and min(alone) <= max(together) + 1
    assert any("round" in line and "node 0 of 1, world size 1" in line for line in host.lines)


def test_a_node_that_arrives_later_is_taken_in(tmp_path):
    port = _free_port()
    host = _start_host(tmp_path, port, epochs=7)
    try:
        host.wait_for(r"world 1 epoch 1", 90)
        late = Node(tmp_path, port, "late", epochs=7)
        try:
            host.wait_for(r"world 2 epoch", 90)
            assert host.finish(150) == 0, "\n".join(host.lines)
            assert late.finish(60) == 0, "\n".join(late.lines)
        finally:
            late.finish(5)
    finally:
        host.finish(5)
    alone, together = host.epochs(1), host.epochs(2)
    assert together and together[-1] == 6
    assert min(together) >= 1 and min(together) <= max(alone) + 1  # from the checkpoint
    assert any("membership changed" in line for line in host.lines)
    assert late.epochs(2) == together  # both ranks report the group's epochs


@pytest.mark.parametrize("min_replicas", [None, 1])
def test_the_pytorchjob_elastic_policy_is_what_the_launcher_reads(monkeypatch, min_replicas):
    import mlcore.kube as kube
    from mlcore.dist import launcher

    job = kube.pytorch_job("train", "img:1", ["train.py"], workers=2, max_restarts=3)
    if min_replicas is not None:  # a user widening the policy to an elastic range
        job["spec"]["elasticPolicy"]["minReplicas"] = min_replicas
    for key, value in kube.operator_env(job, "Worker", 0).items():
        monkeypatch.setenv(key, value)
    d = launcher.defaults_from_env()
    assert launcher._nnodes(d["nnodes"]) == (min_replicas or 3, 3)
    assert d["rdzv_endpoint"] == "train-master-0:23456" and d["rdzv_id"] == "train"
    assert d["rdzv_backend"] == "c10d" and d["max_restarts"] == "3"
