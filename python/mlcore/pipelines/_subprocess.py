"""Entry point of subprocess-mode components: ``python .../_subprocess.py '{{$}}'`` locally,
``python3 -m mlcore.pipelines._subprocess '{{$}}'`` in a Kubeflow container.

The function's source travels in MLCORE_COMPONENT_SOURCE (not on the command line, where its
braces would read as placeholders); it is executed in a namespace that has the mlcore artifact
types, then called through the same invoke() as in-process components. A crash here (exception,
segfault, os._exit) is the task's failure, never the executor's.
"""

import importlib
import json
import os
import sys
import traceback
import types


def _runtime():
    """(_artifacts, _invoke) without importing mlcore itself: run as a script, this file loads
    its siblings as a private package, so a task's process skips loading the C++ extension
    (most of a fresh process's start-up)."""
    if __package__:
        from . import _artifacts, _invoke
        return _artifacts, _invoke
    name = "_mlcore_pipeline_runtime"
    if name not in sys.modules:
        package = types.ModuleType(name)
        package.__path__ = [os.path.dirname(os.path.abspath(__file__))]
        sys.modules[name] = package
    return (importlib.import_module(name + "._artifacts"),
            importlib.import_module(name + "._invoke"))


def _make_mlcore_importable():
    """The function may import mlcore: run as a script from an uninstalled tree, this process
    (and the processes the function starts) find it beside this file's package. The parent's
    environment is left as it was; only the task's process gets the path."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if root not in sys.path:
        sys.path.insert(1, root)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root] + paths)


def main(argv):
    if not __package__:
        _make_mlcore_importable()
    _artifacts, _invoke = _runtime()
    from_kfp, invoke = _invoke.from_kfp, _invoke.invoke

    source = os.environ["MLCORE_COMPONENT_SOURCE"]
    function = os.environ["MLCORE_COMPONENT_FUNCTION"]
    executor_input = json.loads(argv[1])
    if "parameterValues" in executor_input.get("inputs", {}) or "outputFile" in executor_input.get(
            "outputs", {}):
        executor_input = from_kfp(executor_input)
    namespace = {"__name__": "__mlcore_component__"}
    for name in ("Artifact", "Dataset", "Model", "Metrics", "Input", "Output"):
        namespace[name] = getattr(_artifacts, name)
    import typing
    namespace.update({"NamedTuple": typing.NamedTuple, "List": typing.List, "Dict": typing.Dict})
    exec(compile(source, f"<component {function}>", "exec"), namespace)
    try:
        invoke(namespace[function], executor_input)
    except Exception:  # SystemExit keeps its exit status
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
