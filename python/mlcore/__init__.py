"""mlcore: the machine-learning lifecycle of a Kubeflow platform as one embeddable library.

The C++ core lives in the extension module ``mlcore._mlcore``; this package re-exports it and
adds the conveniences a notebook wants (copying constructors, numpy in and out).

Only the extension loads with ``import mlcore``; the Python layers behind the other names
(pipelines, tensors from numpy, CUDA queries, schedules) load on first use, so a process that
runs one pipeline or one study pays for nothing else.

``mlcore.Dataset``, ``mlcore.Model``, ``mlcore.Metrics``, ``mlcore.Artifact``, ``mlcore.Input``
and ``mlcore.Output`` are the Kubeflow Pipelines artifact types of mlcore.artifacts (files a
pipeline task reads and writes), not mlcore.nn.Dataset or mlcore.nn.Model.
"""

from . import _mlcore
from ._mlcore import (  # noqa: F401 (re-exports)
    Tensor,
    allocator_stats,
    build_info,
    empty,
    from_dlpack,
    from_numpy,
    get_log_level,
    num_threads,
    set_log_level,
    zeros,
)

ops = _mlcore.ops
store = _mlcore.store


def _lazy_tensor_method(name):
    """Tensor.<name> until mlcore._tensor (which needs numpy) loads and puts the real one in
    its place: float(t), t.item(), t.numpy() work right after `import mlcore`."""

    def method(self, *args, **kwargs):
        from . import _tensor  # noqa: F401 (replaces these methods on Tensor)

        return getattr(self, name)(*args, **kwargs)

    method.__name__ = name
    return method


for _name in ("numpy", "item", "tolist", "cpu", "cuda", "__float__", "__int__", "__array__"):
    if _name not in Tensor.__dict__:
        setattr(Tensor, _name, _lazy_tensor_method(_name))

__version__ = build_info()["version"]

# name -> (submodule, attribute); None: the submodule itself.
_LAZY = {
    "as_tensor": ("._tensor", "as_tensor"),
    "tensor": ("._tensor", "tensor"),
    "cuda": (".cuda", None),
    "schedule": (".pipelines._schedule", "schedule"),
    "schedules": (".pipelines._schedule", "schedules"),
    "get_schedule": (".pipelines._schedule", "get_schedule"),
    "Schedule": (".pipelines._schedule", "Schedule"),
}
for _name in ("Collected", "Elif", "Else", "ExitHandler", "If", "OneOf", "ParallelFor",
              "component", "compile", "get_run", "pipeline", "run", "runs"):
    _LAZY[_name] = (".pipelines", _name)
# The Kubeflow Pipelines artifact types (mlcore.artifacts.Dataset, ...), under their old
# top-level names: not mlcore.nn.Dataset / mlcore.nn.Model.
for _name in ("Artifact", "Dataset", "Input", "Metrics", "Model", "Output"):
    _LAZY[_name] = (".artifacts", _name)
del _name


def __getattr__(name):
    import importlib

    if name in _LAZY:
        module_name, attr = _LAZY[name]
        module = importlib.import_module(module_name, __name__)
        value = module if attr is None else getattr(module, attr)
        globals()[name] = value  # later lookups skip this function
        return value
    # Subpackages (mlcore.hpo, mlcore.nn, ...) load on first use, so `import mlcore` stays fast
    # and a module's Python dependencies are needed only by those who use it.
    import importlib.util

    if importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'mlcore' has no attribute '{name}'")


def _subpackages():
    """mlcore's public subpackages and modules (nn, hpo, optim, pipelines, dist, serve, ...),
    found on disk without importing them, so tab completion lists them before first use."""
    import os
    import pkgutil

    return {info.name for info in pkgutil.iter_modules([os.path.dirname(__file__)])
            if not info.name.startswith("_")}


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | _subpackages())


__all__ = [
    "Artifact",
    "artifacts",
    "Collected",
    "Dataset",
    "Elif",
    "Else",
    "ExitHandler",
    "If",
    "Input",
    "Metrics",
    "Model",
    "OneOf",
    "Output",
    "ParallelFor",
    "component",
    "compile",
    "get_run",
    "pipeline",
    "run",
    "runs",
    "schedule",
    "schedules",
    "get_schedule",
    "Schedule",
    "Tensor",
    "allocator_stats",
    "as_tensor",
    "build_info",
    "cuda",
    "empty",
    "from_dlpack",
    "from_numpy",
    "get_log_level",
    "num_threads",
    "ops",
    "set_log_level",
    "store",
    "tensor",
    "zeros",
]
