"""`mlcore hpo run` with GPU slots from the spec (fake device numbers: no GPU needed), and
`mlcore hpo list` built on mlcore.hpo.list_studies."""

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("yaml")


def cli(*args, cwd):
    env = os.environ.copy()
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return subprocess.run([sys.executable, "-m", "mlcore.pipelines", "hpo", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=180)


def test_spec_gpus_give_each_trial_its_device(tmp_path):
    (tmp_path / "spec.yaml").write_text(textwrap.dedent("""
        name: gpus
        direction: minimize
        sampler: random
        seed: 0
        command: "echo $CUDA_VISIBLE_DEVICES > seen{trial_number}; sleep 0.1; echo loss={x}"
        metric: loss
        space:
          x: {type: double, min: 0, max: 1}
        n_trials: 6
        n_parallel: 4
        gpus_per_trial: 1
        gpus: [3, 5]
    """))
    out = cli("run", "spec.yaml", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    seen = [(tmp_path / f"seen{i}").read_text().strip() for i in range(6)]
    assert set(seen) <= {"3", "5"} and len(set(seen)) == 2, seen
    out = cli("list", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    row = [line.split() for line in out.stdout.splitlines() if line.startswith("gpus")][0]
    assert row[:5] == ["gpus", "minimize", "6", "6", "0"]


@pytest.mark.parametrize("gpu_fields, error", [
    ("gpus: [0, -1]", "gpus[1]"),
    ("gpus_per_trial: 3\ngpus: [0, 1]", "asks for 3 GPU(s)"),
], ids=["negative-gpu", "more-per-trial-than-listed"])
def test_bad_gpu_fields_are_spec_errors(tmp_path, gpu_fields, error):
    (tmp_path / "spec.yaml").write_text(textwrap.dedent("""
        name: bad
        command: "echo loss={x}"
        metric: loss
        space:
          x: {type: double, min: 0, max: 1}
        n_trials: 2
    """) + gpu_fields + "\n")
    out = cli("run", "spec.yaml", cwd=tmp_path)
    assert out.returncode == 2 and error in out.stderr, out.stderr
