"""mlcore.dist's communicator with real processes on 127.0.0.1: every collective, op and dtype
against numpy on 2, 3 and 4 ranks over both transports; a rank killed with SIGKILL; bad
environments. Each group is bounded by a timeout of seconds, so no test can hang."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dist_worker.py")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(mode, rank, world, init, arg="", env=None, timeout="20"):
    full = dict(os.environ, DIST_TEST_TIMEOUT=timeout, **(env or {}))
    return subprocess.Popen([sys.executable, WORKER, mode, str(rank), str(world), init, arg],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full)


def finish(procs, limit=120):
    outs = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
            out += "\n(killed by the test: it ran past its limit)"
        outs.append((p.returncode, out))
    return outs


@pytest.mark.parametrize("world,transport", [(1, "tcp"), (2, "shm"), (2, "tcp"), (3, "shm"),
                                             (3, "tcp"), (4, "shm"), (4, "tcp"),
                                             (4, "hosts2")])
def test_collectives_match_numpy(world, transport):
    init = f"tcp://127.0.0.1:{free_port()}"
    outs = finish([start("collectives", r, world, init, transport) for r in range(world)])
    for rank, (code, out) in enumerate(outs):
        assert code == 0, f"rank {rank}:\n{out}"


def test_file_init_method(tmp_path):
    init = f"file://{tmp_path / 'rendezvous'}"
    outs = finish([start("init", r, 2, init) for r in range(2)], limit=30)
    assert [code for code, _ in outs] == [0, 0], outs


def test_killed_rank_is_named_within_the_timeout(tmp_path):
    init = f"tcp://127.0.0.1:{free_port()}"
    go = str(tmp_path / "go")
    procs = [start("survivor", r, 3, init, go) for r in range(2)]
    procs.append(start("victim", 2, 3, init))
    for p in procs:  # every rank has joined and passed a barrier
        assert p.stdout.readline().strip() == "READY"
    os.kill(procs[2].pid, signal.SIGKILL)
    procs[2].wait()
    open(go, "w").close()
    outs = finish(procs[:2], limit=30)
    for rank, (code, out) in enumerate(outs):
        assert code == 3, f"rank {rank}:\n{out}"
        assert "allreduce" in out and "[2]" in out and "rank 2 is gone" in out, out
        assert "timeout 3s" in out, out
        elapsed = float(out.split("ELAPSED ")[1].split()[0])
        assert elapsed < 3 + 2.5, out


def env_for(rank, world, port, **extra):
    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
           "WORLD_SIZE": str(world)}
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def run_env_group(envs, timeout="3"):
    # The parent's own MASTER_* must not leak into a rank told to lack them.
    base = {k: v for k, v in os.environ.items()
            if k not in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE")}
    procs = []
    for env in envs:
        full = dict(base, DIST_TEST_TIMEOUT=timeout, **env)
        procs.append(subprocess.Popen([sys.executable, WORKER, "init", "0", "0", "env://"],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, env=full))
    return finish(procs, limit=30)


def test_missing_master_port_fails_on_every_rank():
    outs = run_env_group([env_for(r, 2, None) for r in range(2)])
    for code, out in outs:
        assert code == 3 and "MASTER_PORT" in out, out


def test_rank_outside_world_size_is_clear():
    outs = run_env_group([env_for(2, 2, free_port())])
    assert outs[0][0] == 3 and "rank 2 is outside [0, world size 2)" in outs[0][1], outs


def test_port_in_use_fails_on_every_rank():
    with socket.socket() as squatter:
        squatter.bind(("0.0.0.0", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        start_time = time.monotonic()
        outs = run_env_group([env_for(r, 2, port) for r in range(2)])
    assert outs[0][0] == 3 and "in use" in outs[0][1], outs
    assert outs[1][0] == 3 and f"127.0.0.1:{port}" in outs[1][1], outs
    assert time.monotonic() - start_time < 20


def test_ranks_disagreeing_on_world_size_fail_on_every_rank():
    port = free_port()
    outs = run_env_group([env_for(0, 2, port), env_for(1, 3, port)])
    for code, out in outs:
        assert code == 3 and "disagree on the world size" in out, out
