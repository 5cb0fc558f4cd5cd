"""@component: a Python function as a reusable pipeline step."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import sys
import textwrap
import traceback
import typing

from .. import _mlcore
from . import _dsl
from . import _capture
from ._invoke import _hints, invoke, return_outputs
from ._types import parameter_type

_cpp = _mlcore.pipeline
ARTIFACT_TYPE_NAMES = frozenset(("Artifact", "Dataset", "Model", "Metrics"))

MODES = ("inprocess", "subprocess")


def _source_of(func) -> str:
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return ""
    # Drop decorator lines: the fresh process defines the plain function.
    lines = source.splitlines()
    start = next((i for i, line in enumerate(lines)
                  if line.lstrip().startswith(("def ", "async def "))), 0)
    return "\n".join(lines[start:]) + "\n"


def _io_specs(func):
    """(inputs, outputs) as (name, type, default JSON or None) tuples."""
    where = f"component '{func.__name__}'"
    hints = typing.get_type_hints(func)
    inputs, outputs = [], []
    for name, p in inspect.signature(func).parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{where}: *args and **kwargs are not supported ('{name}')")
        if name not in hints:
            raise TypeError(f"{where}: parameter '{name}' needs a type annotation")
        annotation = hints[name]
        io = getattr(annotation, "_mlcore_io", None)
        if io:
            type_name = io[1].type_name
            if getattr(annotation, "_mlcore_list", False):
                type_name = f"List[{type_name}]"
            (inputs if io[0] == "input" else outputs).append((name, type_name, None))
            continue
        type_name = parameter_type(annotation, f"{where} parameter '{name}'")
        default = None if p.default is inspect.Parameter.empty else json.dumps(p.default)
        inputs.append((name, type_name, default))
    for name, annotation in return_outputs(func):
        outputs.append((name, parameter_type(annotation, f"{where} return value '{name}'"), None))
    return inputs, outputs


def _run_in_process(func, has_artifacts):
    """The callable the C++ executor calls with a task's context, on one of its threads."""
    hints, names = _hints(func)
    floats = frozenset(n for n in names if hints.get(n) is float)
    outputs = return_outputs(func)
    single = len(outputs) == 1 and outputs[0][0] == "output"
    fields = [n for n, _ in outputs]

    def fast(ctx):
        # Parameters only: no executor-input JSON, values cross as Python objects.
        kwargs = ctx.params()
        for name in floats.intersection(kwargs):
            kwargs[name] = float(kwargs[name])
        result = func(**kwargs)
        if single:
            ctx.set_output("output", result)
        elif fields:
            for name, value in zip(fields, result):
                ctx.set_output(name, value)

    def general(ctx):
        invoke(func, json.loads(ctx.executor_input()),
               lambda name, value: ctx.set_output_param(name, json.dumps(value)))

    body = general if has_artifacts else fast

    def call(ctx):
        logs = _capture.begin(ctx)
        try:
            body(ctx)
        except BaseException:
            # The traceback goes to the task's stderr log; the exception fails the task.
            traceback.print_exc(file=logs.stream("stderr"))
            raise
        finally:
            _capture.end(logs)
    return call


class Component:
    """A component made from a Python function. Called inside a @pipeline it adds a task and
    returns a PipelineTask; called anywhere else it runs the plain function."""

    def __init__(self, func, *, name=None, mode="inprocess", retries=0, backoff=0.1,
                 backoff_factor=2.0, max_backoff=60.0, timeout=None, caching=True, cpu=None,
                 memory=0, gpu=0, image=None, base_image=None, packages_to_install=()):
        if mode not in MODES:
            raise ValueError(f"component '{func.__name__}': mode must be one of {MODES}, "
                             f"not {mode!r}")
        if image and base_image and image != base_image:
            raise ValueError(f"component '{func.__name__}': image={image!r} and "
                             f"base_image={base_image!r} name the same thing; give one")
        if isinstance(packages_to_install, str):
            raise TypeError(f"component '{func.__name__}': packages_to_install is a list of "
                            f"requirement strings, not the string {packages_to_install!r}")
        from .._args import INT32_MAX, check_int

        retries = check_int(f"component '{func.__name__}': retries", retries, 0, INT32_MAX)
        self.func = func
        self.name = name or func.__name__.replace("_", "-")
        self.mode = mode
        self.source = _source_of(func)
        inputs, outputs = _io_specs(func)
        self._inputs = inputs
        self._outputs = outputs
        version = hashlib.sha256((self.source or f"{func.__module__}.{func.__qualname__}")
                                 .encode()).hexdigest()
        env = {"MLCORE_COMPONENT_SOURCE": self.source, "MLCORE_COMPONENT_FUNCTION": func.__name__}
        runner = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                               "_subprocess.py"), "{{$}}"]
        portable = ["python3", "-m", "mlcore.pipelines._subprocess", "{{$}}"]
        # cpu: the local slots, and a Kubeflow CPU limit only when given (none by default).
        common = dict(inputs=inputs, outputs=outputs, image=image or base_image or "",
                      retries=retries, backoff=backoff, backoff_factor=backoff_factor,
                      max_backoff=max_backoff, timeout=timeout, caching=caching,
                      cpu=1.0 if cpu is None else cpu, cpu_limit=cpu or 0.0,
                      memory=int(memory), gpu=gpu,
                      packages_to_install=[str(p) for p in packages_to_install])
        if mode == "subprocess":
            if not self.source:
                raise ValueError(f"component '{func.__name__}': subprocess mode needs the "
                                 "function's source code, and inspect cannot find it")
            self._cpp = _cpp.Component(self.name, command=runner, env=env, **common)
        else:
            # Kubeflow runs the function from its source, as subprocess mode does.
            has_artifacts = any(t in ARTIFACT_TYPE_NAMES or t.startswith("List[")
                                for _, t, _ in inputs + outputs)
            self._cpp = _cpp.Component(self.name, fn=_run_in_process(func, has_artifacts),
                                       code_version=version,
                                       compile_command=portable if self.source else [],
                                       env=env if self.source else {}, **common)
        self.__doc__ = func.__doc__
        self.__wrapped__ = func

    @property
    def inputs(self):
        return [(n, t) for n, t, _ in self._inputs]

    @property
    def outputs(self):
        return [(n, t) for n, t, _ in self._outputs]

    def __call__(self, *args, **kwargs):
        builder = _dsl.current_builder()
        if builder is None:
            return self.func(*args, **kwargs)
        names = [n for n, _, _ in self._inputs]
        if len(args) > len(names):
            raise TypeError(f"component '{self.name}' takes {len(names)} inputs, "
                            f"{len(args)} given")
        arguments = dict(zip(names, args))
        for k, v in kwargs.items():
            if k in arguments:
                raise TypeError(f"component '{self.name}' got input '{k}' twice")
            arguments[k] = v
        return builder.add_task(self, arguments)

    def __repr__(self):
        return f"<mlcore component {self.name} ({self.mode})>"


def component(func=None, **options):
    """Turns a function into a component.

    Inputs are the function's parameters (int, float, str, bool, list, dict) and artifacts
    (``Input[Dataset]``, ``Output[Model]``...); its return value is the output ``output``, or one
    output per field of a NamedTuple. Options: ``mode`` ("inprocess" or "subprocess": a fresh
    Python process, for isolation, crash containment and parallelism past the GIL), ``retries``,
    ``backoff`` (s), ``backoff_factor``, ``timeout`` (s), ``caching``, ``cpu`` (local slots,
    and the Kubeflow CPU limit when given), ``memory`` (bytes), ``gpu``, ``name``; for Kubeflow
    ``base_image`` (or ``image``; default: the pipeline's, else the mlcore image the
    repository's Containerfile builds) and ``packages_to_install`` (pip requirements installed
    when the container starts, as kfp's lightweight components do).
    """
    if func is None:
        return lambda f: Component(f, **options)
    return Component(func, **options)
