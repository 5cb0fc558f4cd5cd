"""Samplers and pruners written in Python.

A sampler is any object with ``sample(study, trial, name, distribution)`` returning the value of
parameter ``name`` (a value ``distribution`` contains); a pruner is any object with
``prune(study, trial)`` returning True to stop ``trial``. ``study`` is a read-only
:class:`StudyView` (``trials``, ``direction``, ``directions``), ``trial`` the asking trial's
:class:`FrozenTrial` (its parameters so far, its intermediate values). Both are called from the C++
worker threads with the GIL held, once per parameter (sampler) or per ``should_prune`` (pruner);
an exception fails the trial with its message.
"""

import dataclasses
from typing import List, Tuple

from .._mlcore import hpo as _core
from ._trial import FrozenTrial


@dataclasses.dataclass(frozen=True)
class StudyView:
    """What a Python sampler or pruner sees of the study: its trials when the trial was asked."""

    trials: Tuple
    directions: List[str]

    @property
    def direction(self):
        return self.directions[0]


def _frozen(record):
    return FrozenTrial(**record)


def python_sampler(obj):
    """Wraps an object with ``sample(study, trial, name, distribution)`` as a core Sampler."""
    if not callable(getattr(obj, "sample", None)):
        raise TypeError(f"a sampler needs a sample(study, trial, name, distribution) method; "
                        f"{type(obj).__name__} has none")

    def fn(trials, directions, trial, name, distribution):
        view = StudyView(tuple(_frozen(t) for t in trials), list(directions))
        return obj.sample(view, _frozen(trial), name, distribution)

    return _core.python_sampler(f"python:{type(obj).__name__}", fn)


def python_pruner(obj):
    """Wraps an object with ``prune(study, trial)`` as a core Pruner."""
    if not callable(getattr(obj, "prune", None)):
        raise TypeError(f"a pruner needs a prune(study, trial) method; "
                        f"{type(obj).__name__} has none")

    def fn(trials, direction, trial):
        view = StudyView(tuple(_frozen(t) for t in trials), [direction])
        return bool(obj.prune(view, _frozen(trial)))

    return _core.python_pruner(f"python:{type(obj).__name__}", fn)
