"""The `mlcore hpo` verbs, run as users run them: a subprocess per command, trials as real
Python scripts printing Katib's `loss=<value>` lines, studies in a real SQLite store."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("yaml")

TRAIN = textwrap.dedent("""
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("--x", type=float)
    p.add_argument("--k", type=int)
    a = p.parse_args()
    for step in range(3):
        print(f"epoch {step} loss={(a.x - 1.5) ** 2 + a.k + (2 - step) * 0.1:.6f}", flush=True)
""")


def spec_text(name="quad", n_trials=6, extra=""):
    return textwrap.dedent(f"""
        name: {name}
        direction: minimize
        sampler: tpe
        seed: 0
        pruner: {{name: median, min_trials_required: 3}}
        command: "{sys.executable} train.py --x={{x}} --k={{k}}"
        metric: loss
        space:
          x: {{type: double, min: -5, max: 5}}
          k: {{type: int, min: 0, max: 3}}
        n_trials: {n_trials}
        n_parallel: 2
    """) + extra


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "mlcore.pipelines", "hpo", *args], cwd=cwd,
                          env=os.environ.copy(), capture_output=True, text=True, timeout=180)


def study_trials(name):
    import mlcore.hpo as hpo

    return hpo.load_study(name).trials


def test_run_list_show_resume(tmp_path, _isolated_home):
    work = tmp_path / "work"
    work.mkdir()
    (work / "train.py").write_text(TRAIN)
    (work / "spec.yaml").write_text(spec_text())

    out = cli("run", "spec.yaml", cwd=work)
    assert out.returncode == 0, out.stderr
    assert "study quad: 6 trials" in out.stdout
    trials = study_trials("quad")
    assert [t.number for t in trials] == list(range(6))
    assert {t.state for t in trials} <= {"complete", "pruned"}
    complete = [t for t in trials if t.state == "complete"]
    best = min(complete, key=lambda t: t.value)
    # The value is the script's last loss line: (x - 1.5)^2 + k.
    assert best.value == pytest.approx((best.params["x"] - 1.5) ** 2 + best.params["k"],
                                       abs=1e-5)
    assert f"best: trial {best.number}, value {best.value:.6g}" in out.stdout

    # The definition is recorded next to the store, with the spec's text.
    record = json.loads((_isolated_home / "hpo" / "quad.json").read_text())
    assert record["spec"] == (work / "spec.yaml").read_text()
    assert record["working_dir"] == str(work)

    out = cli("list", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    head, row = out.stdout.splitlines()[:2]
    assert head.split()[:8] == ["NAME", "DIRECTION", "TRIALS", "COMPLETE", "PRUNED", "FAILED",
                                "RUNNING", "BEST"]
    cols = row.split()
    assert cols[:3] == ["quad", "minimize", "6"]
    assert cols[3] == str(len(complete)) and cols[7] == f"{best.value:.6g}" and cols[8] == "yes"

    out = cli("show", "quad", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"best trial {best.number}: value {best.value:.6g}" in out.stdout
    assert f"  x = {best.params['x']:.6g}" in out.stdout
    table = out.stdout.split("\n\n", 1)[1].splitlines()
    head = table[0].split()
    assert head[:3] == ["NUMBER", "STATE", "VALUE"] and head[-2:] == ["SECONDS", "ERROR"]
    assert sorted(head[3:-2]) == ["k", "x"]
    assert [line.split()[0] for line in table[1:]] == [str(n) for n in range(6)]

    # Resume from another directory, with the spec file gone: the recorded definition runs in
    # the recorded working directory.
    (work / "spec.yaml").unlink()
    out = cli("resume", "quad", "--n-trials", "3", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "(9 in the study)" in out.stdout
    trials = study_trials("quad")
    assert len(trials) == 9 and all(t.state in ("complete", "pruned") for t in trials)

    # Without --n-trials, resume runs up to the spec's budget: here it is spent already.
    out = cli("resume", "quad", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "already has 9 of its 6 trials" in out.stdout
    assert len(study_trials("quad")) == 9

    # A second run of the same name points at resume instead of mixing definitions.
    (work / "spec.yaml").write_text(spec_text())
    out = cli("run", "spec.yaml", cwd=work)
    assert out.returncode == 1
    assert "already exists" in out.stderr and "mlcore hpo resume quad" in out.stderr


def test_resume_finishes_the_budget_and_storage_flag(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "spec.yaml").write_text(spec_text(name="budget", n_trials=5))
    db = tmp_path / "studies.db"
    out = cli("run", "spec.yaml", "--storage", str(db), "--n-trials", "2", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert db.exists()
    out = cli("resume", "budget", cwd=tmp_path)  # the recorded storage, up to n_trials: 5
    assert out.returncode == 0, out.stderr
    assert "(5 in the study)" in out.stdout
    out = cli("list", cwd=tmp_path)  # the default store plus the recorded ones
    assert out.returncode == 0, out.stderr
    row = [line for line in out.stdout.splitlines() if line.startswith("budget")][0]
    assert row.split()[2] == "5" and row.split()[-1] == str(db)
    out = cli("show", "budget", cwd=tmp_path)
    assert out.returncode == 0 and f"store {db}" in out.stdout


def test_katib_experiment_spec(tmp_path):
    import mlcore.hpo as hpo

    (tmp_path / "train.py").write_text(TRAIN)
    hpo.to_katib(
        tmp_path / "experiment.yaml", name="katib-quad", metric="loss",
        search_space={"x": hpo.FloatDistribution(-5, 5), "k": hpo.IntDistribution(0, 3)},
        command=f"{sys.executable} train.py --x={{x}} --k={{k}}", image="python:3.11",
        sampler="random", seed=3, parallel_trial_count=2, max_trial_count=4)
    out = cli("run", "experiment.yaml", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "(4 in the study)" in out.stdout  # maxTrialCount
    trials = study_trials("katib-quad")
    assert len(trials) == 4 and all(t.state == "complete" for t in trials)
    out = cli("resume", "katib-quad", "--n-trials", "2", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(study_trials("katib-quad")) == 6


def test_failing_trials_exit_1_with_the_reason(tmp_path):
    (tmp_path / "spec.yaml").write_text(textwrap.dedent("""
        name: silent
        command: "echo no metric here {x}"
        metric: loss
        space: {x: {type: double, min: 0, max: 1}}
        n_trials: 2
    """))
    out = cli("run", "spec.yaml", cwd=tmp_path)
    assert out.returncode == 1
    assert "no trial completed" in out.stderr and "printed no 'loss' metric" in out.stderr
    out = cli("show", "silent", cwd=tmp_path)
    assert out.returncode == 0
    assert out.stdout.count("failed") == 2 and "no complete trial yet" in out.stdout


@pytest.mark.parametrize("body, field", [
    ("name: b\ncommand: 'echo loss=1'\nmetric: loss\nn_trials: 1\n"
     "space: {x: {type: double, min: 5, max: 1}}\n", "space.x: float range has low 5 > high 1"),
    ("name: b\ncommand: 'echo {y}'\nmetric: loss\nn_trials: 1\n"
     "space: {x: {type: double, min: 0, max: 1}}\n", "command: placeholder {y}"),
    ("name: b\ncommand: 'echo loss=1'\nmetric: loss\nn_trials: 1\nsampler: nope\n"
     "space: {x: {type: double, min: 0, max: 1}}\n", "sampler: expected one of"),
    ("name: b\ncommand: 'echo loss=1'\nmetric: loss\nn_trials: 1\n"
     "space: {x: {type: float, low: 0, max: 1}}\n", "space.x.low: unknown field"),
    ("name: b\ncommand: 'echo loss=1'\nmetric: loss\n"
     "space: {x: {type: double, min: 0, max: 1}}\n", "n_trials: missing"),
    ("name: b\ncommand: 'echo loss=1'\nmetric: loss\nn_trials: zero\n"
     "space: {x: {type: double, min: 0, max: 1}}\n", "n_trials: expected an integer"),
    ("command: 'echo loss=1'\nmetric: loss\nspace: {}\n", "name: missing"),
    ("name: [b\n", "not valid YAML"),
    ("apiVersion: kubeflow.org/v1beta1\nkind: Experiment\nmetadata: {name: e}\nspec: {}\n",
     "spec."),
])
def test_bad_spec_exits_2_naming_file_and_field(tmp_path, body, field):
    (tmp_path / "bad.yaml").write_text(body)
    out = cli("run", "bad.yaml", cwd=tmp_path)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "bad.yaml: " in out.stderr and field in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_study_exits_1(tmp_path):
    out = cli("show", "nope", cwd=tmp_path)
    assert out.returncode == 1 and "no study named 'nope'" in out.stderr
    out = cli("resume", "nope", cwd=tmp_path)
    assert out.returncode == 1 and "no study named 'nope'" in out.stderr
    out = cli("run", "missing.yaml", cwd=tmp_path)
    assert out.returncode == 2 and "cannot read missing.yaml" in out.stderr
    out = cli("list", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == "no studies"
