"""Issue 12's study rules from Python: a finished trial never changes, a trial is told only to
its own study, and negative counts and times are ValueError instead of running for ever."""

import pytest

from mlcore import hpo


def test_a_trial_told_to_another_study_is_refused(tmp_path):
    db = f"sqlite:///{tmp_path}/two.db"
    a = hpo.create_study(name="a", storage=db)
    b = hpo.create_study(name="b", storage=db)
    from_a = a.ask()
    from_b = b.ask()
    with pytest.raises(ValueError, match="belongs to study 'a', not 'b'"):
        b.tell(from_a, 123.0)
    assert [t.state for t in a.trials] == ["running"]
    assert [t.state for t in b.trials] == ["running"]
    a.tell(from_a, 1.0)
    b.tell(from_b, 2.0)
    assert a.trials[0].value == 1.0 and b.trials[0].value == 2.0


def test_a_finished_trial_never_changes():
    study = hpo.create_study()
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    trial.report(0.5, 0)
    study.tell(trial, 0.25)
    with pytest.raises(ValueError, match="suggesting 'new'"):
        trial.suggest_float("new", 0.0, 1.0)
    with pytest.raises(ValueError, match="report"):
        trial.report(0.1, 1)
    with pytest.raises(ValueError, match="should_prune"):
        trial.should_prune()
    stored = study.trials[0]
    assert set(stored.params) == {"x"}
    assert stored.intermediate_values == {0: 0.5}


@pytest.mark.parametrize("kwargs", [dict(n_trials=-1), dict(n_trials=1, timeout=-1),
                                    dict(n_trials=1, timeout=float("nan"))])
def test_negative_or_nan_limits_are_value_errors(kwargs):
    study = hpo.create_study()
    with pytest.raises(ValueError):
        study.optimize(lambda t: t.suggest_float("x", 0, 1), **kwargs)
    assert study.trials == []
