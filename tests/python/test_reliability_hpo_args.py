"""HPO arguments that used to be silently reinterpreted are refused with errors naming them
(issue 12, errors)."""

import pytest

from mlcore import hpo


def test_an_empty_study_name_is_refused():
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        hpo.create_study(name="")


def test_storage_of_the_wrong_type_is_refused():
    with pytest.raises(TypeError, match="storage must be .* not int"):
        hpo.create_study(name="s", storage=3)


def test_a_sqlite_file_in_a_missing_directory_is_refused_and_nothing_is_created(tmp_path):
    missing = tmp_path / "no" / "such" / "dir"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        hpo.create_study(name="s", storage=f"sqlite:///{missing}/x.db")
    with pytest.raises(FileNotFoundError, match=str(missing)):
        hpo.create_study(name="s", storage=str(missing / "x.db"))
    assert not (tmp_path / "no").exists()


def test_tpe_named_with_two_directions_is_refused_and_the_default_is_nsga2():
    with pytest.raises(ValueError, match="sampler 'tpe' optimizes one objective"):
        hpo.create_study(directions=["minimize", "maximize"], sampler="tpe")
    study = hpo.create_study(directions=["minimize", "maximize"])
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), n_trials=3)
    assert len(study.trials) == 3
