"""mlcore: the machine-learning lifecycle of a Kubeflow platform as one embeddable library.

The C++ core lives in the extension module ``mlcore._mlcore``; this package re-exports it and
adds the conveniences a notebook wants (copying constructors, numpy in and out).
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
from . import cuda
from ._tensor import as_tensor, tensor
from .pipelines import (
    Artifact,
    Dataset,
    Elif,
    Else,
    ExitHandler,
    If,
    Input,
    Metrics,
    Model,
    Output,
    ParallelFor,
    component,
    compile,
    get_run,
    pipeline,
    run,
    runs,
)

ops = _mlcore.ops
store = _mlcore.store

__version__ = build_info()["version"]


def __getattr__(name):
    # Subpackages (mlcore.hpo, mlcore.nn, ...) load on first use, so `import mlcore` stays fast
    # and a module's Python dependencies are needed only by those who use it.
    import importlib
    import importlib.util

    if importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'mlcore' has no attribute '{name}'")

__all__ = [
    "Artifact",
    "Dataset",
    "Elif",
    "Else",
    "ExitHandler",
    "If",
    "Input",
    "Metrics",
    "Model",
    "Output",
    "ParallelFor",
    "component",
    "compile",
    "get_run",
    "pipeline",
    "run",
    "runs",
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
