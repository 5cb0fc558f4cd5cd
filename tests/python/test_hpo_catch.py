"""optimize(catch=...) (issues 16 and 20): an exception of the objective fails its trial, recorded
with the Python traceback, and is raised again unless `catch` names its class (Optuna's rule)."""

import threading

import pytest

from mlcore import hpo


def _bad(trial):
    x = trial.suggest_float("x", 0, 1)
    return undefined_name * x  # noqa: F821 - the NameError a newcomer meets


def test_an_exception_is_recorded_with_its_traceback_and_raised_again():
    study = hpo.create_study(sampler="random", seed=0)
    with pytest.raises(NameError, match="undefined_name"):
        study.optimize(_bad, n_trials=10)
    assert len(study.trials) == 1  # stopped at once, the trial recorded
    t = study.trials[0]
    assert t.state == "failed"
    assert t.error.startswith("NameError: name 'undefined_name' is not defined")
    assert "Traceback (most recent call last)" in t.error
    assert "in _bad" in t.error and "test_hpo_catch.py" in t.error


def test_the_failed_trial_is_logged_with_its_traceback(capfd):
    study = hpo.create_study(sampler="random", seed=0)
    with pytest.raises(NameError):
        study.optimize(_bad, n_trials=3)
    err = capfd.readouterr().err
    assert "trial 0 failed: NameError" in err
    assert "Traceback (most recent call last)" in err


def test_a_wrong_keyword_to_suggest_float_is_raised():
    study = hpo.create_study(sampler="random", seed=0)
    with pytest.raises(TypeError):
        study.optimize(lambda t: t.suggest_float("x", 0, 1, lgo=True), n_trials=5)
    assert [t.state for t in study.trials] == ["failed"]


def test_catch_keeps_going_for_the_classes_it_names_only():
    calls = []

    def objective(trial):
        calls.append(trial.number)
        x = trial.suggest_float("x", 0, 1)
        if trial.number < 3:
            raise ValueError(f"bad input {trial.number}")
        if trial.number == 5:
            raise KeyError("a bug")
        return x

    study = hpo.create_study(sampler="random", seed=0)
    with pytest.raises(KeyError, match="a bug"):
        study.optimize(objective, n_trials=20, catch=(ValueError,))
    states = [t.state for t in study.trials]
    assert states == ["failed"] * 3 + ["complete"] * 2 + ["failed"]
    assert "ValueError: bad input 1" in study.trials[1].error
    assert "Traceback" in study.trials[1].error
    study.optimize(objective, n_trials=2, catch=Exception)  # one class, as Optuna takes
    assert len(study.trials) == 8


def test_catch_must_name_exception_classes():
    study = hpo.create_study()
    with pytest.raises(TypeError, match="catch takes exception classes"):
        study.optimize(lambda t: 1.0, n_trials=1, catch=("ValueError",))


def test_parallel_workers_stop_and_raise_and_leave_no_trial_running():
    lock = threading.Lock()
    seen = []

    def objective(trial):
        with lock:
            seen.append(trial.number)
        if trial.number == 4:
            raise RuntimeError("worker bug")
        return trial.suggest_float("x", 0, 1)

    study = hpo.create_study(sampler="random", seed=0)
    with pytest.raises(RuntimeError, match="worker bug"):
        study.optimize(objective, n_trials=500, n_parallel=3)
    assert len(study.trials) < 50
    assert all(t.state in ("complete", "failed") for t in study.trials)
    assert sum(t.state == "failed" for t in study.trials) == 1


def test_nan_and_non_numbers_fail_the_trial_without_stopping():
    values = iter([float("nan"), "abc", None, 1.0])
    study = hpo.create_study()
    study.optimize(lambda t: next(values), n_trials=4)
    assert [t.state for t in study.trials] == ["failed", "failed", "failed", "complete"]


def test_callbacks_see_the_failed_trial_before_the_exception_is_raised():
    seen = []
    study = hpo.create_study()
    with pytest.raises(NameError):
        study.optimize(_bad, n_trials=3, callbacks=[lambda s, t: seen.append(t.state)])
    assert seen == ["failed"]


def test_objective_values_out_of_float_range_say_so():
    study = hpo.create_study()
    study.optimize(lambda t: 10**400, n_trials=1)
    study.optimize(lambda t: float("-inf"), n_trials=1)
    study.optimize(lambda t: [10**400], n_trials=1)
    errors = [t.error for t in study.trials]
    assert "too large" in errors[0] and "not a number" not in errors[0], errors[0]
    assert "returned -inf" in errors[1], errors[1]
    assert "too large" in errors[2], errors[2]




def test_a_raised_exception_keeps_no_stale_view_of_its_trial():
    """The raised exception's traceback once kept the objective's `trial` (a view of a C++
    Trial that ended with the call); a later Trial at the same address came back from ask() as
    that view and crashed. The frames' locals are cleared; the lines stay."""
    study = hpo.create_study()
    with pytest.raises(NameError) as info:
        study.optimize(_bad, n_trials=1)
    assert "_bad" in "".join(__import__("traceback").format_tb(info.tb))
    for name in ("a", "b"):
        other = hpo.create_study(name=name)
        for i in range(30):
            t = other.ask()
            t.suggest_float("x", 0, 1)
            other.tell(t, float(i))
        assert [t.value for t in other.trials] == [float(i) for i in range(30)]
