"""What users coming from Optuna expect of mlcore.hpo (issue 16, HPO): storage URLs read as
SQLAlchemy reads them, study user attributes, samplers/pruners namespaces with classes,
MedianPruner's Optuna argument names, TrialState, slice and contour plots."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from mlcore import hpo


def _quadratic(trial):
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_float("y", 1e-3, 1, log=True)
    c = trial.suggest_categorical("c", ["a", "b"])
    return (x - 1) ** 2 + y + (0.5 if c == "a" else 0.0)


# --- storage URLs -----------------------------------------------------------------------------


def test_three_slashes_are_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = hpo.create_study(name="r", storage="sqlite:///rel.db")
    study.optimize(_quadratic, n_trials=2)
    assert (tmp_path / "rel.db").is_file()
    assert not os.path.exists("/rel.db") or os.path.getmtime("/rel.db") < os.path.getmtime(
        tmp_path / "rel.db")
    assert len(hpo.load_study("r", storage="sqlite:///rel.db").trials) == 2
    sub = tmp_path / "sub"
    sub.mkdir()
    hpo.create_study(name="r2", storage="sqlite:///sub/nested.db")
    assert (sub / "nested.db").is_file()


def test_four_slashes_are_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    url = f"sqlite:///{tmp_path}/abs.db"  # tmp_path starts with "/": four slashes
    assert url.startswith("sqlite:////")
    hpo.create_study(name="a", storage=url).optimize(_quadratic, n_trials=1)
    assert (tmp_path / "abs.db").is_file()
    assert hpo.load_study("a", storage=str(tmp_path / "abs.db")).trials[0].state == "complete"


def test_the_cli_reads_urls_the_same_way(tmp_path):
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({
        "name": "cli", "direction": "minimize", "sampler": "random", "seed": 1,
        "command": f"{sys.executable} -c \"print('loss=' + str({{x}} ** 2))\"",
        "metric": "loss", "n_trials": 2,
        "space": {"x": {"type": "double", "min": 0, "max": 1}}}))
    env = dict(os.environ)
    run = subprocess.run([sys.executable, "-m", "mlcore", "hpo", "run", str(spec),
                          "--storage", "sqlite:///cli.db"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "cli.db").is_file()
    shown = subprocess.run([sys.executable, "-m", "mlcore", "hpo", "list", "--storage",
                            f"sqlite:///{tmp_path}/cli.db"], env=env, capture_output=True,
                           text=True, timeout=60)
    assert "cli" in shown.stdout and str(tmp_path / "cli.db") in shown.stdout, shown.stdout


# --- hpo list ---------------------------------------------------------------------------------


def test_hpo_list_counts_pruned_and_failed_trials_and_names_the_default_store(_isolated_home):
    study = hpo.create_study(name="counts", sampler="random", seed=0)
    for i in range(7):
        t = study.ask()
        t.suggest_float("x", 0, 1)
        if i < 3:
            study.tell(t, 1.0 * i)
        elif i < 5:
            study.tell(t, state="pruned")
        else:
            study.tell(t, state="failed")
    [s] = hpo.list_studies()
    assert (s["n_trials"], s["n_complete"], s["n_pruned"], s["n_failed"]) == (7, 3, 2, 2)
    out = subprocess.run([sys.executable, "-m", "mlcore", "hpo", "list"], capture_output=True,
                         text=True, timeout=60, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    header, row = out.stdout.splitlines()[:2]
    cells = dict(zip(header.split(), row.split()))
    assert (cells["TRIALS"], cells["COMPLETE"], cells["PRUNED"], cells["FAILED"]) == (
        "7", "3", "2", "2")
    assert str(_isolated_home / "mlcore.db") in row  # never blank for the default store


# --- study user attributes --------------------------------------------------------------------


def test_study_user_attrs_are_stored(tmp_path):
    db = str(tmp_path / "u.db")
    study = hpo.create_study(name="u", storage=db)
    study.set_user_attr("dataset", "digits")
    study.set_user_attr("folds", [1, 2, 3])
    study.set_user_attr("dataset", "wine")  # replaced
    assert study.user_attrs == {"dataset": "wine", "folds": [1, 2, 3]}
    assert hpo.load_study("u", storage=db).user_attrs == {"dataset": "wine", "folds": [1, 2, 3]}
    memory = hpo.create_study()
    memory.set_user_attr("k", {"a": 1})
    assert memory.user_attrs == {"k": {"a": 1}}
    with pytest.raises((TypeError, ValueError)):
        memory.set_user_attr("bad", object())


# --- samplers and pruners namespaces ----------------------------------------------------------


def test_samplers_namespace_has_classes_that_map_to_the_registry_names():
    from mlcore.hpo import samplers

    expected = {"TPESampler": "tpe", "RandomSampler": "random", "GPSampler": "gp",
                "CmaEsSampler": "cmaes", "NSGAIISampler": "nsga2", "SobolSampler": "sobol"}
    for cls_name, name in expected.items():
        cls = getattr(samplers, cls_name)
        assert isinstance(cls, type) and issubclass(cls, samplers.BaseSampler)
        s = cls(seed=3)
        assert isinstance(s, cls) and s.name == name
    assert samplers.GridSampler({"x": hpo.CategoricalDistribution([1, 2])}).name == "grid"
    assert hpo.TPESampler is samplers.TPESampler
    study = hpo.create_study(sampler=samplers.TPESampler(seed=0, n_startup_trials=3))
    study.optimize(_quadratic, n_trials=5)
    assert len(study.trials) == 5
    hpo.create_study(sampler="tpe", seed=0).optimize(_quadratic, n_trials=2)  # strings still work


def test_auto_sampler_names_auto():
    from mlcore.hpo import samplers

    if "auto" not in hpo._core.sampler_names():
        pytest.skip("this build has no sampler named 'auto' yet")
    assert samplers.AutoSampler(seed=0).name == "auto"


def test_pruners_namespace_and_median_pruner_argument_names():
    from mlcore.hpo import pruners

    p = pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=10)
    assert isinstance(p, pruners.BasePruner) and p.name == "median"
    pruners.MedianPruner(5, 10)
    pruners.MedianPruner(min_trials_required=2, start_step=1)  # Katib's names still work
    with pytest.raises(TypeError, match="n_startup_trials or min_trials_required"):
        pruners.MedianPruner(n_startup_trials=5, min_trials_required=2)
    assert pruners.SuccessiveHalvingPruner().name == "successive_halving"
    assert pruners.HyperbandPruner(max_resource=27).name == "hyperband"
    assert pruners.NopPruner().name == "none"
    assert hpo.MedianPruner is pruners.MedianPruner


def test_median_pruner_warmup_is_honoured():
    study = hpo.create_study(pruner=hpo.pruners.MedianPruner(n_startup_trials=1,
                                                             n_warmup_steps=5))

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        for step in range(10):
            trial.report(10.0 if trial.number > 0 else 0.0, step)
            if trial.should_prune():
                assert step >= 5  # never pruned during the warm-up
                raise hpo.TrialPruned()
        return x

    study.optimize(objective, n_trials=3)
    assert [t.state for t in study.trials] == ["complete", "pruned", "pruned"]


# --- TrialState -------------------------------------------------------------------------------


def test_trial_state_is_an_enum_equal_to_the_old_strings():
    from mlcore.hpo import TrialState

    study = hpo.create_study()
    study.optimize(_quadratic, n_trials=1)
    t = study.trials[0]
    assert t.state is TrialState.COMPLETE
    assert t.state == "complete" and t.state in {"complete", "pruned"}
    assert str(t.state) == "complete" and f"{t.state}" == "complete"
    assert json.dumps(t.state) == '"complete"'
    assert TrialState.FAIL == "failed" and TrialState.FAILED is TrialState.FAIL
    assert TrialState.COMPLETE.is_finished() and not TrialState.RUNNING.is_finished()
    trial = study.ask()
    study.tell(trial, state=TrialState.PRUNED)
    assert study.trials[-1].state == TrialState.PRUNED


# --- slice and contour plots ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tuned():
    study = hpo.create_study(sampler="random", seed=1)
    study.optimize(_quadratic, n_trials=25)
    return study


def test_plot_slice_draws_one_panel_per_parameter_with_every_trial(tuned):
    svg = hpo.plot_slice(tuned)
    root = ET.fromstring(svg._repr_svg_())
    ns = "{http://www.w3.org/2000/svg}"
    panels = root.findall(f"{ns}g")
    assert [p.get("data-param") for p in panels] == ["c", "x", "y"]
    for p in panels:
        dots = p.findall(f"{ns}circle")
        assert len(dots) == 25
        assert all(d.find(f"{ns}title").text.startswith("trial ") for d in dots)  # tooltips


def test_plot_contour_draws_a_surface_and_the_trials(tuned, tmp_path):
    ns = "{http://www.w3.org/2000/svg}"
    one = ET.fromstring(hpo.plot_contour(tuned, params=["x", "y"]).text)
    [panel] = one.findall(f"{ns}g")
    assert (panel.get("data-x"), panel.get("data-y")) == ("x", "y")
    assert len(panel.findall(f"{ns}circle")) == 25
    assert len([r for r in panel.findall(f"{ns}rect") if r.get("class") == "cell"]) == 24 * 24
    matrix = ET.fromstring(hpo.plot_contour(tuned).text)
    assert len(matrix.findall(f"{ns}g")) == 6  # 3 parameters: every ordered pair
    hpo.plot_contour(tuned).save(tmp_path / "c.svg")
    assert (tmp_path / "c.svg").read_text().startswith("<svg")
    with pytest.raises(ValueError, match="two parameters"):
        hpo.plot_contour(tuned, params=["x"])
