"""mlcore.hpo.samplers: the samplers as classes, as optuna.samplers has them.

    from mlcore.hpo.samplers import TPESampler
    study = mlcore.hpo.create_study(sampler=TPESampler(seed=0, multivariate=True))

Each class builds the C++ sampler of that name (the same one ``create_study(sampler="tpe")``
builds from the string, which keeps working) with the keyword options of
``mlcore.hpo._samplers``, whose defaults are read from the C++ options structs. ``sampler.name``
is the registry name; ``BaseSampler`` is the class all of them share (``isinstance`` works).
"""

import inspect

from .._args import UINT64_MAX, check_int
from .._mlcore import hpo as _core
from . import _samplers


class BaseSampler:
    """A built-in sampler: a named C++ sampler with its options (subclasses set the name)."""

    _build = None  # the factory in _samplers (a staticmethod in each subclass)

    def __init__(self, *args, **kwargs):
        if kwargs.get("seed") is not None:
            kwargs["seed"] = check_int("seed", kwargs["seed"], 0, UINT64_MAX)
        self._core = type(self)._build(*args, **kwargs)

    @property
    def name(self):
        """The registry name ("tpe", "random", ...), as create_study(sampler=...) takes it."""
        return self._core.name

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


def _sampler_class(class_name, build, doc=None):
    """A BaseSampler subclass whose constructor is `build` (same signature and docs)."""
    cls = type(class_name, (BaseSampler,), {
        "_build": staticmethod(build),
        "__doc__": doc or build.__doc__ or f"The {class_name} (see docs/hpo.md).",
        "__module__": __name__,
    })
    cls.__init__.__signature__ = inspect.signature(build)  # help() shows the real options
    return cls


def _auto(seed=None):
    """Lets mlcore pick the sampler from the study (its space and objectives): "auto"."""
    return _core.create_sampler("auto", seed=seed)


RandomSampler = _sampler_class("RandomSampler", _samplers.RandomSampler,
                               "Independent uniform samples: the baseline, and any space.")
GridSampler = _sampler_class("GridSampler", _samplers.GridSampler)
TPESampler = _sampler_class("TPESampler", _samplers.TPESampler,
                            "Tree-structured Parzen estimator (the default sampler).")
GPSampler = _sampler_class("GPSampler", _samplers.GPSampler)
CmaEsSampler = _sampler_class("CmaEsSampler", _samplers.CmaEsSampler)
NSGAIISampler = _sampler_class("NSGAIISampler", _samplers.NSGAIISampler)
SobolSampler = _sampler_class("SobolSampler", _samplers.SobolSampler)
QMCSampler = SobolSampler
AutoSampler = _sampler_class("AutoSampler", _auto)


def core_sampler(sampler):
    """The C++ sampler behind a BaseSampler; other objects unchanged."""
    return sampler._core if isinstance(sampler, BaseSampler) else sampler


__all__ = [
    "AutoSampler",
    "BaseSampler",
    "CmaEsSampler",
    "GPSampler",
    "GridSampler",
    "NSGAIISampler",
    "QMCSampler",
    "RandomSampler",
    "SobolSampler",
    "TPESampler",
]
