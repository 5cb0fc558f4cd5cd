"""Search-space helpers: distributions for a space declared up front, and conditions."""

from .._mlcore import hpo as _core

Distribution = _core.Distribution


def FloatDistribution(low, high, *, log=False, step=None):
    return _core.Distribution.float_(low, high, log, step)


def IntDistribution(low, high, *, log=False, step=1):
    return _core.Distribution.int_(low, high, log, step)


def DiscreteDistribution(values):
    return _core.Distribution.discrete(list(values))


def CategoricalDistribution(choices):
    return _core.Distribution.categorical(list(choices))


class conditional:  # noqa: N801 (reads as a declaration inside a space dict)
    """A parameter that exists only when ``parent`` takes one of ``values``.

    ``{"opt": CategoricalDistribution(["sgd", "adam"]),
       "momentum": conditional(FloatDistribution(0, 1), parent="opt", values=["sgd"])}``
    """

    def __init__(self, distribution, *, parent, values):
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            values = [values]
        self.distribution = distribution
        self.parent = parent
        self.values = list(values)


def space_entries(search_space):
    """A dict of distributions (or conditionals) -> the list the C++ study takes."""
    entries = []
    for name, spec in (search_space or {}).items():
        if isinstance(spec, conditional):
            entries.append((name, spec.distribution, spec.parent, spec.values))
        elif isinstance(spec, Distribution):
            entries.append((name, spec, None, None))
        else:
            raise TypeError(
                f"search_space['{name}'] must be a Distribution or conditional(...), "
                f"not {type(spec).__name__}"
            )
    return entries
