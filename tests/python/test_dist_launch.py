"""`mlcore launch` with real worker processes: torchrun's environment, rank-prefixed output, the
group stopped and named when a worker fails or is killed, and restarts that resume."""

import os
import subprocess
import sys
import textwrap
import time

import pytest


def _launch(tmp_path, script, *args, timeout=120, env=None):
    path = tmp_path / "worker.py"
    path.write_text(textwrap.dedent(script))
    return subprocess.run([sys.executable, "-m", "mlcore", "launch", *args, str(path), "--flag",
                           "x"], capture_output=True, text=True, timeout=timeout, cwd=tmp_path,
                          env=dict(os.environ, **(env or {})))


def test_workers_get_torchrun_environment_and_prefixed_output(tmp_path):
    out = _launch(tmp_path, """
        import os, sys
        import mlcore.dist as dist
        env = dist.read_env()
        print(env.source, env.rank, env.world_size, env.local_rank, env.num_threads,
              os.environ["MASTER_ADDR"], sys.argv[1:])
    """, "--nproc-per-node", "2")
    assert out.returncode == 0, out.stderr
    lines = sorted(out.stdout.splitlines())
    assert lines[0].startswith("[rank 0] torchrun 0 2 0 ")
    assert lines[1].startswith("[rank 1] torchrun 1 2 1 ")
    assert all(line.endswith("127.0.0.1 ['--flag', 'x']") for line in lines)


def test_module_form(tmp_path):
    (tmp_path / "mymod.py").write_text("import os\nprint('module rank', os.environ['RANK'])\n")
    out = subprocess.run([sys.executable, "-m", "mlcore", "launch", "--nproc-per-node", "2", "-m",
                          "mymod"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.splitlines()) == ["[rank 0] module rank 0", "[rank 1] module rank 1"]


def test_a_failing_worker_stops_the_group_and_is_named(tmp_path):
    start = time.monotonic()
    out = _launch(tmp_path, """
        import os, sys, time
        if os.environ["RANK"] == "1":
            time.sleep(0.5)
            sys.exit(3)
        time.sleep(120)
    """, "--nproc-per-node", "2", "--stop-grace", "2")
    assert time.monotonic() - start < 60
    assert out.returncode == 3
    assert "mlcore launch: rank 1 exited with status 3" in out.stderr


def test_kill_9_of_a_rank_is_named_with_its_signal(tmp_path):
    out = _launch(tmp_path, """
        import os, signal, time
        if os.environ["RANK"] == "0":
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(120)
    """, "--nproc-per-node", "2", "--stop-grace", "2")
    assert out.returncode == 128 + 9
    assert "rank 0 was killed by signal 9" in out.stderr


def test_restart_resumes_from_the_last_checkpoint(tmp_path):
    # Each rank "trains" 5 epochs, checkpointing after each; rank 1 dies in epoch 3 of the first
    # run. The restarted group resumes at epoch 3: epochs 0-2 are not run again.
    out = _launch(tmp_path, """
        import json, os, sys
        rank, restart = int(os.environ["RANK"]), int(os.environ["MLCORE_RESTART_COUNT"])
        ckpt = f"ckpt{rank}.json"
        start = json.load(open(ckpt))["next_epoch"] if os.path.exists(ckpt) else 0
        for epoch in range(start, 5):
            if restart == 0 and rank == 1 and epoch == 3:
                sys.exit(1)
            print(f"restart {restart} epoch {epoch}", flush=True)
            with open(ckpt + ".tmp", "w") as f:
                json.dump({"next_epoch": epoch + 1}, f)
            os.replace(ckpt + ".tmp", ckpt)
    """, "--nproc-per-node", "2", "--max-restarts", "1",
        env={"TORCHELASTIC_RESTART_COUNT": ""})
    assert out.returncode == 0, out.stderr
    rank1 = [line for line in out.stdout.splitlines() if line.startswith("[rank 1]")]
    assert rank1 == ["[rank 1] restart 0 epoch 0", "[rank 1] restart 0 epoch 1",
                     "[rank 1] restart 0 epoch 2", "[rank 1] restart 1 epoch 3",
                     "[rank 1] restart 1 epoch 4"]
    assert "rank 1 exited with status 1; restarting the group (1 of 1)" in out.stderr


def test_pytorchjob_variables_are_the_defaults(tmp_path):
    out = _launch(tmp_path, """
        import os
        print(os.environ["RANK"], os.environ["WORLD_SIZE"], os.environ["GROUP_RANK"],
              os.environ["MASTER_PORT"])
    """, "--master-port", "0", env={"PET_NPROC_PER_NODE": "2", "PET_NNODES": "1",
                                     "PET_NODE_RANK": "0", "PET_MAX_RESTARTS": "0"})
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 2
    bad = _launch(tmp_path, "print(1)\n", "--nnodes", "1:3")  # elastic, but where to meet?
    assert bad.returncode == 2 and "rdzv_endpoint" in bad.stderr
    bad = _launch(tmp_path, "print(1)\n", "--nnodes", "3:1")
    assert bad.returncode == 2 and "MIN <= MAX" in bad.stderr


@pytest.mark.parametrize("args, message", [(["--nproc-per-node", "0"], "nproc_per_node"),
                                           (["--nnodes", "2"], "master port")])
def test_bad_options_are_refused(tmp_path, args, message):
    out = _launch(tmp_path, "print(1)\n", *args)
    assert out.returncode == 2
    assert message in out.stderr
