"""Multi-objective studies, NSGA-II, samplers and pruners written in Python, and Katib
Experiments read back (from_katib)."""

import math
import threading

import pytest

import mlcore.hpo as hpo


def two_objectives(trial):
    x = trial.suggest_float("x", -2, 4)
    kind = trial.suggest_categorical("kind", ["plain", "worse"])
    penalty = 1.0 if kind == "worse" else 0.0
    return x * x + penalty, (x - 2) ** 2 + penalty


def dominates(a, b):
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def test_multi_objective_study_has_a_pareto_front(tmp_path):
    study = hpo.create_study(name="mo", directions=["minimize", "minimize"],
                             storage=str(tmp_path / "s.db"), seed=1)
    assert study.directions == ["minimize", "minimize"]
    study.optimize(two_objectives, n_trials=120, n_parallel=2)
    complete = [t for t in study.trials if t.state == "complete"]
    assert len(complete) == 120
    front = study.best_trials
    assert front
    for f in front:
        assert len(f.values) == 2 and f.value == f.values[0]
        assert not any(dominates(t.values, f.values) for t in complete)
    with pytest.raises(ValueError, match="best_trials"):
        study.best_trial
    page = study._repr_html_()
    assert "Pareto front" in page and "values[1] (minimize)" in page
    assert page.count("<tr>") == min(len(front), 10) + 1
    # Values survive the store and another process's view of it.
    again = hpo.load_study("mo", storage=str(tmp_path / "s.db"))
    assert again.directions == ["minimize", "minimize"]
    assert [t.values for t in again.trials] == [t.values for t in study.trials]
    assert {t.number for t in again.best_trials} == {t.number for t in front}


def test_ask_tell_with_several_values_and_bad_counts():
    study = hpo.create_study(directions=["minimize", "maximize"], sampler="random", seed=0)
    t = study.ask()
    t.suggest_float("x", 0, 1)
    study.tell(t, [1.0, 2.0])
    t = study.ask()
    study.tell(t, 3.0)  # one value for two objectives: the trial fails, the study goes on
    t = study.ask()
    study.tell(t, [1.0, float("nan")])
    trials = study.trials
    assert trials[0].state == "complete" and trials[0].values == [1.0, 2.0]
    assert trials[1].state == "failed" and "the study has 2 objective" in trials[1].error
    assert trials[2].state == "failed" and "nan" in trials[2].error
    with pytest.raises(ValueError, match="direction or directions"):
        hpo.create_study(direction="minimize", directions=["minimize"])
    with pytest.raises(ValueError, match="sampler 'tpe'"):
        hpo.create_study(directions=["minimize", "maximize"], sampler=hpo.TPESampler())


def test_nsga2_is_seeded_and_improves_on_random():
    def run(sampler):
        study = hpo.create_study(directions=["minimize", "minimize"], sampler=sampler)
        study.optimize(two_objectives, n_trials=150)
        return study

    a = run(hpo.NSGAIISampler(seed=5, population_size=30))
    b = run(hpo.NSGAIISampler(seed=5, population_size=30))
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    # The last generation lives near the front (x in [0, 2], kind plain) far more than random.
    last = a.trials[-30:]
    near = sum(1 for t in last if -0.1 <= t.params["x"] <= 2.1 and t.params["kind"] == "plain")
    assert near >= 20
    with pytest.raises(ValueError, match="population_size"):
        hpo.NSGAIISampler(population_size=1)


class CenterFirst:
    """A Python sampler: the middle of the range for the first trial, then a small grid walk."""

    def __init__(self):
        self.calls = []

    def sample(self, study, trial, name, distribution):
        self.calls.append((threading.get_ident(), name, len(study.trials)))
        assert isinstance(trial, hpo.FrozenTrial)
        assert study.direction == "minimize"
        if distribution.type == "categorical":
            return distribution.choices[trial.number % len(distribution.choices)]
        lo, hi = distribution.low, distribution.high
        done = [t for t in study.trials if t.state == "complete"]
        return lo + (hi - lo) * ((0.5 + 0.1 * len(done)) % 1.0)


class StopAfterStepOne:
    def prune(self, study, trial):
        return max(trial.intermediate_values) >= 1 and trial.number % 2 == 1


def test_python_sampler_and_pruner_run_on_worker_threads():
    sampler = CenterFirst()

    def objective(trial):
        x = trial.suggest_float("x", 0, 10)
        c = trial.suggest_categorical("c", ["a", "b"])
        for step in range(3):
            trial.report(x + step, step)
            if trial.should_prune():
                raise hpo.TrialPruned()
        return x

    study = hpo.create_study(sampler=sampler, pruner=StopAfterStepOne())
    study.optimize(objective, n_trials=8, n_parallel=3)
    trials = study.trials
    assert len(trials) == 8
    assert trials[0].params["x"] == pytest.approx(5.0)
    assert {t.params["c"] for t in trials} == {"a", "b"}
    assert {t.state for t in trials} == {"complete", "pruned"}
    assert all(t.state == "pruned" for t in trials if t.number % 2 == 1)
    assert len(sampler.calls) == 16
    assert threading.get_ident() not in {c[0] for c in sampler.calls}


def test_python_sampler_errors_fail_clearly():
    class OutOfRange:
        def sample(self, study, trial, name, distribution):
            return 99.0

    study = hpo.create_study(sampler=OutOfRange())
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2, catch=ValueError)
    assert [t.state for t in study.trials] == ["failed", "failed"]
    assert "sampler python:OutOfRange returned 99.0 for 'x'" in study.trials[0].error
    trial = study.ask()
    with pytest.raises(ValueError, match="OutOfRange.*'x'.*outside"):
        trial.suggest_float("x", 0, 1)
    with pytest.raises(TypeError, match="sample"):
        hpo.create_study(sampler=object())


SPACE = {
    "lr": hpo.FloatDistribution(1e-4, 1e-1, log=True),
    "layers": hpo.IntDistribution(1, 7, step=2),
    "opt": hpo.CategoricalDistribution(["sgd", "adam"]),
    "batch": hpo.DiscreteDistribution([32, 64, 128]),
}


def test_from_katib_reads_back_to_katib(tmp_path):
    path = tmp_path / "exp.yaml"
    hpo.to_katib(path, name="mnist", metric="loss", search_space=SPACE,
                 command="python train.py --lr={lr} --layers={layers} --opt={opt} --b={batch}",
                 image="me/train:1", direction="maximize", goal=0.5, sampler="random", seed=9,
                 pruner="median", min_trials_required=4, start_step=2, parallel_trial_count=3,
                 max_trial_count=20, max_failed_trial_count=5, additional_metrics=["acc"],
                 namespace="ns")
    d = hpo.from_katib(path)
    assert (d.name, d.metric, d.direction, d.goal, d.sampler, d.seed) == (
        "mnist", "loss", "maximize", 0.5, "random", 9)
    assert (d.pruner, d.min_trials_required, d.start_step) == ("median", 4, 2)
    assert (d.parallel_trial_count, d.max_trial_count, d.max_failed_trial_count) == (3, 20, 5)
    assert d.additional_metrics == ["acc"] and d.namespace == "ns" and d.image == "me/train:1"
    assert d.command == "python train.py --lr={lr} --layers={layers} --opt={opt} --b={batch}"
    assert list(d.search_space) == list(SPACE)
    for name, dist in SPACE.items():
        assert d.search_space[name] == dist, name
    # And once more around: the same document.
    assert d.to_katib() == path.read_text()


def test_from_katib_runs_the_experiment_locally(tmp_path):
    script = tmp_path / "train.py"
    script.write_text("import sys\nx = float(sys.argv[1])\nprint(f'loss={(x - 0.3) ** 2}')\n")
    path = tmp_path / "exp.yaml"
    hpo.to_katib(path, name="local", metric="loss",
                 search_space={"x": hpo.FloatDistribution(0, 1)},
                 command=f"{__import__('sys').executable} {script} {{x}}", image="unused",
                 sampler="random", seed=1, max_trial_count=6, parallel_trial_count=2)
    d = hpo.from_katib(str(path))
    study = d.create_study(storage="memory")
    d.optimize(study)
    assert len(study.trials) == 6
    assert all(t.state == "complete" for t in study.trials)
    assert study.best_value == pytest.approx(min((t.params["x"] - 0.3) ** 2 for t in study.trials))


def test_from_katib_errors_name_the_place(tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("apiVersion: kubeflow.org/v1beta1\nkind: Experiment\nspec: [unclosed\n")
    with pytest.raises(ValueError, match=r"bad.yaml: document is not valid YAML: line \d+, column \d+"):
        hpo.from_katib(bad_yaml)
    text = hpo.to_katib(name="e", metric="loss", search_space=SPACE, command="run {lr}",
                        image="i")
    broken = text.replace('min: "0.0001"', 'min: "tiny"')
    p = tmp_path / "broken.yaml"
    p.write_text(broken)
    with pytest.raises(ValueError, match=r"broken.yaml: Katib experiment spec.parameters\[0\]"):
        hpo.from_katib(p)
    p.write_text(text.replace("objectiveMetricName", "objectiveMetric"))
    with pytest.raises(ValueError, match="spec.objective.objectiveMetricName: is required"):
        hpo.from_katib(p)


def test_progress_bar_in_a_terminal(capsys):
    study = hpo.create_study(sampler="random", seed=0)

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        if trial.number == 3:
            raise RuntimeError("boom")
        return x

    study.optimize(objective, n_trials=6, show_progress_bar=True, catch=RuntimeError)
    err = capsys.readouterr().err
    frames = err.rstrip("\n").split("\r")
    assert frames[-1].startswith("[" + "#" * 30 + "] 6/6 trials")
    assert "1 failed" in frames[-1]
    best = min(t.value for t in study.trials if t.state == "complete")
    assert f"best {best:.6g}" in frames[-1]
    assert "0/6 trials" in err and err.endswith("\n")


def test_progress_bar_in_jupyter_updates_one_block(monkeypatch):
    pytest.importorskip("IPython")
    from IPython.core import display_functions

    shown = []

    class Handle:
        def update(self, obj):
            shown.append(("update", obj.data))

    def fake_display(obj, display_id=None):
        shown.append(("display", obj.data))
        return Handle()

    monkeypatch.setattr(display_functions, "display", fake_display)
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", fake_display)
    from mlcore.hpo._progress import ProgressBar

    study = hpo.create_study(sampler="random", seed=0)
    bar = ProgressBar(n_trials=2, notebook=True)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2, callbacks=[bar.update])
    bar.close()
    assert [kind for kind, _ in shown] == ["display", "update", "update", "update"]
    assert "2/2 trials" in shown[-1][1] and 'width:100.0%' in shown[-1][1]


def test_plot_optimization_history_is_standalone_svg(tmp_path):
    import xml.etree.ElementTree as ET

    study = hpo.create_study(sampler="random", seed=2)
    study.optimize(lambda t: (t.suggest_float("x", -1, 1) - 0.2) ** 2, n_trials=15)
    svg = hpo.plot_optimization_history(study)
    root = ET.fromstring(svg._repr_svg_())
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}circle")) == 15
    best_line = root.find(f"{ns}polyline").get("points").split()
    ys = [float(p.split(",")[1]) for p in best_line]
    # SVG y grows downwards: the best-so-far of a minimization never rises, so y never shrinks.
    assert all(b >= a for a, b in zip(ys, ys[1:]))
    svg.save(tmp_path / "h.svg")
    assert (tmp_path / "h.svg").read_text().startswith("<svg")
    mo = hpo.create_study(directions=["minimize", "maximize"], sampler="random")
    with pytest.raises(ValueError, match="target"):
        hpo.plot_optimization_history(mo)


def test_param_importances_find_the_parameter_that_matters():
    import xml.etree.ElementTree as ET

    study = hpo.create_study(sampler="random", seed=4)

    def objective(trial):
        x = trial.suggest_float("x", 1e-3, 1.0, log=True)
        trial.suggest_float("noise", 0, 1)
        opt = trial.suggest_categorical("opt", ["a", "b"])
        return 10 * math.log10(x) ** 2 + (0.5 if opt == "b" else 0.0)

    study.optimize(objective, n_trials=120)
    imp = hpo.param_importances(study)
    assert list(imp)[0] == "x"
    assert imp["x"] > 0.8 and imp["noise"] < 0.1
    assert sum(imp.values()) == pytest.approx(1.0)
    root = ET.fromstring(hpo.plot_param_importances(study)._repr_svg_())
    bars = root.findall("{http://www.w3.org/2000/svg}rect")
    assert [b.find("{http://www.w3.org/2000/svg}title").text.split(":")[0] for b in bars] == \
        list(imp)


def test_plot_parallel_coordinate_draws_every_trial_across_every_axis():
    import xml.etree.ElementTree as ET

    study = hpo.create_study(sampler="random", seed=6)

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        opt = trial.suggest_categorical("opt", ["sgd", "adam", "rms"])
        return lr + (0.1 if opt == "sgd" else 0.0)

    study.optimize(objective, n_trials=12)
    ns = "{http://www.w3.org/2000/svg}"
    root = ET.fromstring(hpo.plot_parallel_coordinate(study)._repr_svg_())
    lines = root.findall(f"{ns}polyline")
    assert len(lines) == 12
    assert all(len(l.get("points").split()) == 3 for l in lines)  # lr, opt, value
    assert [t.text for t in root.findall(f"{ns}text")][-3:] == ["lr", "opt", "value"]
