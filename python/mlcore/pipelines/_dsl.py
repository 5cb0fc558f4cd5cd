"""@pipeline and the pieces a pipeline function is written with: task outputs as channels,
``.after()``, If/Elif/Else, ParallelFor and ExitHandler. Calling components inside a pipeline
function adds tasks to a C++ Pipeline, which validates each one on the spot. If/Elif/Else,
ExitHandler and pipelines called inside pipelines open task groups of the C++ Pipeline
(Pipeline::BeginIf, ...): their tasks inherit the groups' conditions, and mlcore.compile makes
each group a sub-DAG as KFP's compiler does."""

from __future__ import annotations

import html
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
    over every iteration, in item order (as KFP's dsl.Collected). An artifact output gathers
    into an ``Input[List[Model]]`` input; across nested loops the list holds one list per outer
    iteration."""

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


class OneOf(Channel):
    """``mlcore.OneOf(a.output, b.output, ...)``: after an If/Elif/Else chain that ends with an
    Else, the output of whichever branch ran (as KFP's dsl.OneOf). Each output comes from a task
    directly in a different branch of that chain, all of one type (parameters or artifacts);
    the pipeline checks this when the task reading it is added."""

    def __init__(self, *outputs):
        if not outputs:
            raise TypeError("mlcore.OneOf takes the outputs of tasks in an If/Elif/Else chain")
        items = []
        for i, output in enumerate(outputs):
            if isinstance(output, PipelineTask):
                output = output.output
            if not isinstance(output, TaskOutput):
                raise TypeError(f"mlcore.OneOf item {i}: takes task outputs, not {output!r}")
            items.append(output)
        self.outputs = tuple(items)
        self.type_name = items[0].type_name
        self.binding = ("oneof", json.dumps([list(o.binding) for o in items]))

    def __repr__(self):
        return "<one of " + ", ".join(f"{o.task}.{o.output}" for o in self.outputs) + ">"


class _TaskOutputs(dict):
    """A task's outputs by name; a name it lacks is a KeyError naming the task and its
    outputs, not a bare KeyError('nope')."""

    def __init__(self, task, outputs):
        super().__init__(outputs)
        self._task = task

    def __missing__(self, key):
        raise KeyError(f"task '{self._task}' has no output {key!r}; its outputs: "
                       f"{', '.join(self) or 'none'}")


class PipelineTask:
    """A task in a pipeline being defined: ``.outputs["name"]``, ``.output``, ``.after()``."""

    def __init__(self, builder, name, component):
        self._builder = builder
        self.name = name
        self.component = component
        self.outputs = _TaskOutputs(name, {n: TaskOutput(name, n, t) for n, t in component.outputs})

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
        self.loop = None  # the dynamic ParallelFor whose body is being defined
        self.loop_count = 0

    def _binding(self, value, component, input_name, where=None):
        if isinstance(value, Channel):
            return list(value.binding)
        if isinstance(value, PipelineTask):
            return list(value.output.binding)
        if isinstance(value, (list, tuple)) and any(isinstance(v, (Channel, PipelineTask))
                                                    for v in value):
            # Gathers task outputs (ParallelFor results) and constants into one list input.
            items = [self._binding(v, component, input_name, where) for v in value]
            return ["collect", json.dumps(items)]
        if isinstance(value, tuple):
            value = list(value)
        try:
            return ["const", json.dumps(value)]
        except TypeError:
            where = where or (f"component '{component.name}' input '{input_name}'" if component
                              else f"mlcore.ParallelFor {input_name}")
            raise TypeError(f"{where}: {type(value).__name__} is not a pipeline value") from None

    def add_task(self, component, arguments):
        bindings = {k: self._binding(v, component, k) for k, v in arguments.items()}
        name = self.pipeline.unique_task_name(component.name)
        # The open groups' conditions are added by the C++ Pipeline (TaskOptions::group).
        self.pipeline.add_task(name, component._cpp, bindings, loop=self.loop or "")
        task = PipelineTask(self, name, component)
        self.tasks.append(task)
        return task


def _builder_or_raise(what):
    b = current_builder()
    if b is None:
        raise RuntimeError(f"mlcore.{what} is used inside a @pipeline function")
    return b


class If:
    """``with mlcore.If(task.output == "heads"):`` -- the tasks inside run only when it holds.
    `name` is what Kubeflow shows for the branch (KFP's dsl.If name)."""

    def __init__(self, condition, name=None):
        if not isinstance(condition, Condition):
            raise TypeError("mlcore.If takes a comparison of a task output or pipeline parameter "
                            "with a constant, e.g. If(task.output > 0.5)")
        self.condition = condition
        self.display_name = name or ""

    def _begin(self, b):
        return b.pipeline.begin_if(self.condition.as_tuple(), self.display_name, b.loop or "")

    def __enter__(self):
        b = _builder_or_raise(type(self).__name__)
        self._builder = b
        try:
            self.name = self._begin(b)
        except (ValueError, RuntimeError) as e:
            raise type(e)(f"mlcore.{type(self).__name__}: {e}") from None
        return self

    def __exit__(self, *exc):
        self._builder.pipeline.end_group()
        return False


class Elif(If):
    """Runs when every earlier branch of the chain did not, and its own condition holds."""

    def _begin(self, b):
        return b.pipeline.begin_elif(self.condition.as_tuple(), self.display_name, b.loop or "")


class Else(If):
    """Runs when no earlier branch of the chain did."""

    def __init__(self, name=None):
        self.condition = None
        self.display_name = name or ""

    def _begin(self, b):
        return b.pipeline.begin_else(self.display_name, b.loop or "")


class ExitHandler:
    """``with mlcore.ExitHandler(cleanup_task):`` -- cleanup_task runs after the tasks inside,
    whatever happens to them (failure, skip)."""

    def __init__(self, exit_task, name=None):
        if not isinstance(exit_task, PipelineTask):
            raise TypeError("mlcore.ExitHandler takes the task to run on exit")
        self.exit_task = exit_task
        self.display_name = name or ""

    def __enter__(self):
        b = _builder_or_raise("ExitHandler")
        self._builder = b
        self.name = b.pipeline.begin_exit_handler(self.exit_task.name, self.display_name,
                                                  b.loop or "")
        return self

    def __exit__(self, *exc):
        # Orders the exit task after every task inside and makes it run whatever happens.
        try:
            self._builder.pipeline.end_group()
        except ValueError as e:
            if exc[0] is None:
                raise ValueError(f"mlcore.ExitHandler: {e}") from None
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
        self._builder = b
        b.loop_count += 1
        name = b.pipeline.unique_task_name(f"for-loop-{b.loop_count}")
        # Inside another loop's body: nested, expanded once per outer iteration.
        self._outer = b.loop
        b.pipeline.add_loop(name, b._binding(self.items, None, "items"), self.parallelism,
                            parent=b.loop or "")
        self.name = name
        b.loop = name
        return LoopItem(name)

    def __exit__(self, *exc):
        self._builder.loop = self._outer
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
            yield item
            iterations.append(b.tasks[start:])
            if self.parallelism and i >= self.parallelism:
                for t in iterations[i]:
                    for u in iterations[i - self.parallelism]:
                        b.pipeline.after(t.name, u.name)


class PipelineDef:
    """A pipeline defined by a function; built (and validated) on first use."""

    def __init__(self, func, name=None, base_image=None, packages_to_install=()):
        self.func = func
        self.name = name or func.__name__.replace("_", "-")
        # Kubeflow defaults for components that set none (mp.compile's arguments override).
        self.base_image = base_image
        self.packages_to_install = list(packages_to_install)
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
        # Used as a component of another pipeline: its tasks join the outer one (and run inlined),
        # in a group that mlcore.compile makes a sub-DAG component, as KFP does.
        b = current_builder()
        bound = inspect.signature(self.func).bind(*args, **kwargs)
        arguments = {k: b._binding(v, None, k, f"pipeline '{self.name}' parameter '{k}'")
                     for k, v in bound.arguments.items()}
        bound.apply_defaults()
        b.pipeline.begin_pipeline(b.pipeline.unique_task_name(self.name), self.parameters,
                                  arguments, b.loop or "")
        start = len(b.tasks)
        try:
            result = self.func(*bound.args, **bound.kwargs)
        except BaseException:
            b.pipeline.end_group()
            raise
        inside = {t.name for t in b.tasks[start:]}
        try:
            returned = _pipeline_outputs(result)
        except TypeError:  # returns something else (a list of tasks, ...): no outputs to map
            returned = {}
        b.pipeline.end_group([(k, v.task, v.output) for k, v in returned.items()
                              if v.task in inside])
        return result

    def _repr_svg_(self):
        from ._view import dag_svg
        return dag_svg(self.build().to_json())

    def _repr_html_(self):
        # Notebooks prefer HTML to SVG when both are offered: the drawing goes inside it.
        from ._view import dag_svg
        return (f"<div class=\"mlcore-pipeline\"><p>pipeline <b>{html.escape(self.name)}</b></p>"
                f"<div>{dag_svg(self.build().to_json())}</div></div>")

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


def pipeline(func=None, *, name=None, base_image=None, packages_to_install=()):
    """Turns a function that calls components into a pipeline (a validated DAG).
    ``base_image`` and ``packages_to_install`` are the Kubeflow defaults of its components."""
    options = dict(name=name, base_image=base_image, packages_to_install=packages_to_install)
    if func is None:
        return lambda f: PipelineDef(f, **options)
    return PipelineDef(func, **options)
