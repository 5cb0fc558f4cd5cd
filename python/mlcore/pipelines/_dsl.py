"""@pipeline and the pieces a pipeline function is written with: task outputs as channels,
``.after()``, If/Elif/Else, ParallelFor and ExitHandler. Calling components inside a pipeline
function adds tasks to a C++ Pipeline, which validates each one on the spot."""

from __future__ import annotations

import inspect
import json
import threading
import typing

from .. import _mlcore
from ._types import parameter_type

_cpp = _mlcore.pipeline
_local = threading.local()


def _stack():
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def current_builder():
    stack = _stack()
    return stack[-1] if stack else None


class Condition:
    """``channel <op> value``, made by comparing a task output or a pipeline parameter."""

    def __init__(self, lhs, op, rhs):
        if isinstance(rhs, Channel):
            raise TypeError("conditions compare a task output or parameter with a constant")
        self.lhs, self.op, self.rhs = lhs, op, rhs

    def as_tuple(self, negate=False):
        return (list(self.lhs.binding), self.op, json.dumps(self.rhs), negate)

    def __bool__(self):
        raise TypeError("a pipeline condition is decided when the pipeline runs: use it in "
                        "mlcore.If(...), not in a Python if")


class Channel:
    """A value known only when the pipeline runs: a pipeline parameter or a task output."""

    type_name = "str"
    __hash__ = object.__hash__

    def __eq__(self, other):
        return Condition(self, "==", other)

    def __ne__(self, other):
        return Condition(self, "!=", other)

    def __lt__(self, other):
        return Condition(self, "<", other)

    def __le__(self, other):
        return Condition(self, "<=", other)

    def __gt__(self, other):
        return Condition(self, ">", other)

    def __ge__(self, other):
        return Condition(self, ">=", other)


class PipelineParameter(Channel):
    def __init__(self, name, type_name):
        self.name, self.type_name = name, type_name
        self.binding = ("param", name)

    def __repr__(self):
        return f"<pipeline parameter {self.name}: {self.type_name}>"


class TaskOutput(Channel):
    def __init__(self, task, output, type_name):
        self.task, self.output, self.type_name = task, output, type_name
        self.binding = ("output", task, output)

    def __repr__(self):
        return f"<output {self.output} of task {self.task}: {self.type_name}>"


class LoopItem(Channel):
    """The current item of a ``with mlcore.ParallelFor(...) as item:`` loop; ``item.key`` or
    ``item["key"]`` is a field of a dict item."""

    type_name = "any"

    def __init__(self, loop, field=""):
        self.loop, self.field = loop, field
        self.binding = ("item", loop, field)

    def __getattr__(self, name):
        if name.startswith("_") or self.field:
            raise AttributeError(name)
        return LoopItem(self.loop, name)

    def __getitem__(self, key):
        if self.field:
            raise TypeError("a loop item's field has no fields of its own")
        return LoopItem(self.loop, str(key))

    def __repr__(self):
        return f"<item of {self.loop}{'.' + self.field if self.field else ''}>"


class Collected(Channel):
    """``mlcore.Collected(task.output)``: outside a ParallelFor, the list of a body task's output
    over every iteration, in item order (as KFP's dsl.Collected)."""

    type_name = "list"

    def __init__(self, output):
        if isinstance(output, PipelineTask):
            output = output.output
        if not isinstance(output, TaskOutput):
            raise TypeError("mlcore.Collected takes the output of a task inside a ParallelFor, "
                            f"not {output!r}")
        self.task, self.output = output.task, output.output
        self.binding = ("gather", output.task, output.output)

    def __repr__(self):
        return f"<collected {self.output} of task {self.task}>"


class PipelineTask:
    """A task in a pipeline being defined: ``.outputs["name"]``, ``.output``, ``.after()``."""

    def __init__(self, builder, name, component):
        self._builder = builder
        self.name = name
        self.component = component
        self.outputs = {n: TaskOutput(name, n, t) for n, t in component.outputs}

    @property
    def output(self):
        """The single output, or the function's return value when there are several."""
        if "output" in self.outputs:
            return self.outputs["output"]
        if len(self.outputs) != 1:
            raise AttributeError(f"task '{self.name}' has {len(self.outputs)} outputs "
                                 f"({', '.join(self.outputs) or 'none'}); use .outputs[name]")
        return next(iter(self.outputs.values()))

    def after(self, *tasks):
        """Runs this task after `tasks`, without passing data."""
        for t in tasks:
            self._builder.pipeline.after(self.name, t.name if isinstance(t, PipelineTask) else t)
        return self

    def __repr__(self):
        return f"<task {self.name} ({self.component.name})>"


class Builder:
    def __init__(self, name, parameters):
        self.pipeline = _cpp.Pipeline(name, parameters)
        self.tasks = []
        self.conditions = []  # active (Condition, negate) pairs, innermost last
        self.last_chain = None  # conditions of the If/Elif chain that just closed
        self.groups = []
        self.loop = None  # the dynamic ParallelFor whose body is being defined
        self.loop_count = 0

    def _binding(self, value, component, input_name):
        if isinstance(value, Channel):
            return list(value.binding)
        if isinstance(value, PipelineTask):
            return list(value.output.binding)
        if isinstance(value, (list, tuple)) and any(isinstance(v, (Channel, PipelineTask))
                                                    for v in value):
            # Gathers task outputs (ParallelFor results) and constants into one list input.
            items = [self._binding(v, component, input_name) for v in value]
            return ["collect", json.dumps(items)]
        if isinstance(value, tuple):
            value = list(value)
        try:
            return ["const", json.dumps(value)]
        except TypeError:
            where = (f"component '{component.name}' input '{input_name}'" if component
                     else f"mlcore.ParallelFor {input_name}")
            raise TypeError(f"{where}: {type(value).__name__} is not a pipeline value") from None

    def add_task(self, component, arguments):
        bindings = {k: self._binding(v, component, k) for k, v in arguments.items()}
        name = self.pipeline.unique_task_name(component.name)
        conditions = [c.as_tuple(negate) for c, negate in self.conditions]
        self.pipeline.add_task(name, component._cpp, bindings, conditions=conditions,
                               group="/".join(self.groups), loop=self.loop or "")
        task = PipelineTask(self, name, component)
        self.tasks.append(task)
        return task


def _builder_or_raise(what):
    b = current_builder()
    if b is None:
        raise RuntimeError(f"mlcore.{what} is used inside a @pipeline function")
    return b


class If:
    """``with mlcore.If(task.output == "heads"):`` -- the tasks inside run only when it holds."""

    def __init__(self, condition, name=None):
        if not isinstance(condition, Condition):
            raise TypeError("mlcore.If takes a comparison of a task output or pipeline parameter "
                            "with a constant, e.g. If(task.output > 0.5)")
        self.condition = condition

    def _own(self, builder):
        return [(self.condition, False)], [self.condition]

    def __enter__(self):
        b = _builder_or_raise(type(self).__name__)
        self._builder = b
        own, self._chain = self._own(b)
        self._count = len(own)
        b.conditions.extend(own)
        b.groups.append(type(self).__name__.lower())
        return self

    def __exit__(self, *exc):
        b = self._builder
        del b.conditions[len(b.conditions) - self._count:]
        b.groups.pop()
        b.last_chain = self._chain
        return False


class Elif(If):
    """Runs when every earlier branch of the chain did not, and its own condition holds."""

    def _own(self, builder):
        if not builder.last_chain:
            raise RuntimeError("mlcore.Elif must follow mlcore.If or mlcore.Elif")
        prior = builder.last_chain
        return [(c, True) for c in prior] + [(self.condition, False)], prior + [self.condition]


class Else(If):
    """Runs when no earlier branch of the chain did."""

    def __init__(self, name=None):
        self.condition = None

    def _own(self, builder):
        if not builder.last_chain:
            raise RuntimeError("mlcore.Else must follow mlcore.If or mlcore.Elif")
        return [(c, True) for c in builder.last_chain], None


class ExitHandler:
    """``with mlcore.ExitHandler(cleanup_task):`` -- cleanup_task runs after the tasks inside,
    whatever happens to them (failure, skip)."""

    def __init__(self, exit_task):
        if not isinstance(exit_task, PipelineTask):
            raise TypeError("mlcore.ExitHandler takes the task to run on exit")
        self.exit_task = exit_task

    def __enter__(self):
        self._builder = _builder_or_raise("ExitHandler")
        self._start = len(self._builder.tasks)
        return self

    def __exit__(self, *exc):
        b = self._builder
        inside = b.tasks[self._start:]
        if exc[0] is None:
            if not inside:
                raise ValueError("mlcore.ExitHandler guards no tasks")
            for t in inside:
                b.pipeline.after(self.exit_task.name, t.name)
            b.pipeline.set_run_always(self.exit_task.name, True)
        return False


class ParallelFor:
    """A loop over `items` with at most `parallelism` iterations at once (0: no limit).

    ``with mlcore.ParallelFor(items, parallelism=2) as item:`` -- the body's tasks run once per
    item, expanded when the run reaches the loop, so `items` may be a task's list output (the
    fan-out is known only once that task ran), a list parameter or a constant list. Each
    iteration's tasks are recorded as ``task[i]``; ``mlcore.Collected(task.output)`` after the
    loop is the list of their outputs.

    ``for item in mlcore.ParallelFor([...]):`` -- a constant list unrolled when defining: each
    iteration's tasks are ordinary tasks of the pipeline.
    """

    def __init__(self, items, parallelism=0):
        if isinstance(items, PipelineTask):
            items = items.output
        self.items = items if isinstance(items, Channel) else list(items)
        self.parallelism = int(parallelism)
        if self.parallelism < 0:
            raise ValueError(f"mlcore.ParallelFor: parallelism must be >= 0, not {parallelism}")

    def __enter__(self):
        b = _builder_or_raise("ParallelFor")
        if b.loop is not None:
            raise ValueError(f"mlcore.ParallelFor inside ParallelFor '{b.loop}': nested loops "
                             "decided at run time are not supported (unroll the inner one with "
                             "`for item in mlcore.ParallelFor([...])`)")
        self._builder = b
        b.loop_count += 1
        name = b.pipeline.unique_task_name(f"for-loop-{b.loop_count}")
        b.pipeline.add_loop(name, b._binding(self.items, None, "items"), self.parallelism)
        self.name = name
        b.loop = name
        b.groups.append(name)
        return LoopItem(name)

    def __exit__(self, *exc):
        b = self._builder
        b.loop = None
        b.groups.pop()
        return False

    def __iter__(self):
        if isinstance(self.items, Channel):
            raise TypeError("`for item in mlcore.ParallelFor(...)` unrolls a list known when "
                            "defining; over a task output or parameter use "
                            "`with mlcore.ParallelFor(...) as item:`")
        b = _builder_or_raise("ParallelFor")
        iterations = []
        for i, item in enumerate(self.items):
            start = len(b.tasks)
            b.groups.append(f"for-{i}")
            try:
                yield item
            finally:
                b.groups.pop()
            iterations.append(b.tasks[start:])
            if self.parallelism and i >= self.parallelism:
                for t in iterations[i]:
                    for u in iterations[i - self.parallelism]:
                        b.pipeline.after(t.name, u.name)


class PipelineDef:
    """A pipeline defined by a function; built (and validated) on first use."""

    def __init__(self, func, name=None):
        self.func = func
        self.name = name or func.__name__.replace("_", "-")
        hints = typing.get_type_hints(func)
        self.parameters = []
        for pname, p in inspect.signature(func).parameters.items():
            if pname not in hints:
                raise TypeError(f"pipeline '{self.name}': parameter '{pname}' needs a type "
                                "annotation")
            type_name = parameter_type(hints[pname], f"pipeline '{self.name}' parameter '{pname}'")
            default = None if p.default is inspect.Parameter.empty else json.dumps(p.default)
            self.parameters.append((pname, type_name, default))
        self._built = None
        self.__doc__ = func.__doc__

    def build(self):
        """The C++ Pipeline (mlcore._mlcore.pipeline.Pipeline), built once."""
        if self._built is None:
            builder = Builder(self.name, self.parameters)
            _stack().append(builder)
            try:
                result = self.func(**{n: PipelineParameter(n, t) for n, t, _ in self.parameters})
            finally:
                _stack().pop()
            for name, channel in _pipeline_outputs(result).items():
                builder.pipeline.add_output(name, channel.task, channel.output)
            self._built = builder.pipeline
        return self._built

    @property
    def digest(self):
        return self.build().digest

    def __call__(self, *args, **kwargs):
        if current_builder() is None:
            raise TypeError(f"pipeline '{self.name}' runs with mlcore.run({self.name}, "
                            "arguments={...}); call it directly only inside another @pipeline")
        # Used as a component of another pipeline: its tasks join the outer one.
        bound = inspect.signature(self.func).bind(*args, **kwargs)
        bound.apply_defaults()
        return self.func(*bound.args, **bound.kwargs)

    def _repr_svg_(self):
        from ._view import dag_svg, upstream_of
        return dag_svg(upstream_of(self.build().to_json()))

    def __repr__(self):
        return f"<mlcore pipeline {self.name}>"


def _pipeline_outputs(result):
    if result is None:
        return {}
    if isinstance(result, PipelineTask):
        return dict(result.outputs)
    if isinstance(result, TaskOutput):
        return {"output": result}
    if isinstance(result, dict):
        out = {}
        for k, v in result.items():
            if isinstance(v, PipelineTask):
                v = v.output
            if not isinstance(v, TaskOutput):
                raise TypeError(f"pipeline output '{k}' must be a task output, not {v!r}")
            out[k] = v
        return out
    raise TypeError("a pipeline function returns nothing, a task, a task output or a dict of "
                    f"them, not {type(result).__name__}")


def pipeline(func=None, *, name=None):
    """Turns a function that calls components into a pipeline (a validated DAG)."""
    if func is None:
        return lambda f: PipelineDef(f, name=name)
    return PipelineDef(func, name=name)
