"""Resource slots for parallel trials, with fake device lists (no GPU needed): trials running
at the same time never share a device, at most one trial per slot runs, and the slots come
back however a trial ends."""

import sys
import threading
import time

import pytest

import mlcore.hpo as hpo


def _max_overlap_and_check_sharing(runs):
    """runs: [(start, end, devices)]; asserts that overlapping runs share no device and returns
    the most runs at once."""
    most = 0
    for i, (s1, e1, d1) in enumerate(runs):
        at_once = 1
        for j, (s2, e2, d2) in enumerate(runs):
            if i != j and s2 < e1 and s1 < e2:
                assert not set(d1) & set(d2), f"trials {i} and {j} shared {set(d1) & set(d2)}"
                if s2 <= s1:
                    at_once += 1
        most = max(most, at_once)
    return most


def test_python_trials_hold_their_own_gpu():
    study = hpo.create_study(sampler="random", seed=0)
    runs, lock = [], threading.Lock()

    def objective(trial):
        start = time.monotonic()
        devices = trial.devices
        assert len(devices) == 1 and trial.cuda_visible_devices == str(devices[0])
        x = trial.suggest_float("x", 0, 1)
        time.sleep(0.05)
        with lock:
            runs.append((start, time.monotonic(), devices))
        if trial.number % 3 == 1:
            raise RuntimeError("a failing trial returns its GPU too")
        return x

    study.optimize(objective, n_trials=18, n_parallel=6, gpus=[0, 1, 2], gpus_per_trial=1,
                   catch=RuntimeError)
    assert len(runs) == 18
    most = _max_overlap_and_check_sharing(runs)
    assert 2 <= most <= 3
    assert {d for _, _, ds in runs for d in ds} == {0, 1, 2}
    states = [t.state for t in study.trials]
    assert states.count("failed") == 6 and states.count("complete") == 12


def test_command_trials_get_cuda_visible_devices(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    script = tmp_path / "trial.py"
    script.write_text(
        "import os, sys, time\n"
        "start = time.time(); time.sleep(0.2)\n"
        "print(f'{start} {time.time()} {os.environ[\"CUDA_VISIBLE_DEVICES\"]} '\n"
        "      f'{os.environ[\"OMP_NUM_THREADS\"]}', file=sys.stderr)\n"
        "open(sys.argv[1], 'w').write(f'{start} {time.time()} '\n"
        "    f'{os.environ[\"CUDA_VISIBLE_DEVICES\"]} {os.environ[\"OMP_NUM_THREADS\"]}')\n"
        "print('loss=' + sys.argv[2])\n")
    objective = hpo.CommandObjective(
        command=f"{sys.executable} {script} {tmp_path}/t{{trial_number}} {{x}}", metric="loss",
        search_space={"x": hpo.FloatDistribution(0, 1)})
    study = hpo.create_study(sampler="random", seed=1)
    study.optimize(objective, n_trials=9, n_parallel=6, gpus=[0, 1, 2], gpus_per_trial=1,
                   cpus=6, cpus_per_trial=2)
    assert [t.state for t in study.trials] == ["complete"] * 9, [t.error for t in study.trials]
    runs = []
    for i in range(9):
        start, end, device, threads = (tmp_path / f"t{i}").read_text().split()
        assert device in {"0", "1", "2"} and threads == "2"
        runs.append((float(start), float(end), [device]))
    assert _max_overlap_and_check_sharing(runs) <= 3


def test_devices_are_named_as_this_process_sees_them(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6,GPU-0b1c")
    objective = hpo.CommandObjective(
        command=f"echo $CUDA_VISIBLE_DEVICES > {tmp_path}/seen; echo loss={{x}}", metric="loss",
        search_space={"x": hpo.FloatDistribution(0, 1)})
    study = hpo.create_study(sampler="random")
    study.optimize(objective, n_trials=1, gpus=[2, 1], gpus_per_trial=2)
    assert study.trials[0].state == "complete", study.trials[0].error
    assert (tmp_path / "seen").read_text().strip() == "GPU-0b1c,6"
    with pytest.raises(ValueError, match="not among CUDA_VISIBLE_DEVICES"):
        study.optimize(objective, n_trials=1, gpus=[3], gpus_per_trial=1)


def test_bad_resources_are_clear_errors():
    study = hpo.create_study(sampler="random")
    objective = lambda t: t.suggest_float("x", 0, 1)  # noqa: E731
    with pytest.raises(ValueError, match=r"asks for 4 GPU\(s\).*0,1,2"):
        study.optimize(objective, n_trials=2, gpus=[0, 1, 2], gpus_per_trial=4)
    with pytest.raises(ValueError, match="gpus_per_trial must be >= 0"):
        study.optimize(objective, n_trials=2, gpus=[0], gpus_per_trial=-1)
    with pytest.raises(ValueError, match="listed twice"):
        study.optimize(objective, n_trials=2, gpus=[1, 1], gpus_per_trial=1)
    with pytest.raises(ValueError, match=r"asks for 9 CPU\(s\)"):
        study.optimize(objective, n_trials=2, cpus=4, cpus_per_trial=9)
    assert study.trials == []  # refused before any trial started


def test_without_resources_trials_hold_nothing():
    study = hpo.create_study(sampler="random")
    seen = []
    study.optimize(lambda t: seen.append((t.devices, t.cpus)) or 1.0, n_trials=2)
    assert seen == [([], 0), ([], 0)]


def test_katib_gpu_limit_round_trips_and_drives_the_slots(tmp_path, monkeypatch):
    pytest.importorskip("yaml")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    text = hpo.to_katib(name="g", metric="loss", search_space={"x": hpo.FloatDistribution(0, 1)},
                        command=f"echo $CUDA_VISIBLE_DEVICES >> {tmp_path}/seen; echo loss={{x}}",
                        image="me/train:1", gpus_per_trial=1, parallel_trial_count=2,
                        max_trial_count=4)
    assert '"nvidia.com/gpu": 1' in text
    definition = hpo.from_katib(text)
    assert definition.gpus_per_trial == 1
    assert '"nvidia.com/gpu": 1' in definition.to_katib()
    study = definition.create_study(storage="memory")
    definition.optimize(study, gpus=[7, 8])
    assert [t.state for t in study.trials] == ["complete"] * 4
    assert set((tmp_path / "seen").read_text().split()) <= {"7", "8"}
