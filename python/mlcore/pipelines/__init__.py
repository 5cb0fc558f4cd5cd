"""mlcore.pipelines: reusable components chained into DAGs, run locally in parallel, cached,
recorded and resumable, and compiled for Kubeflow Pipelines.

    @mlcore.pipelines.component
    def add(a: int, b: int) -> int:
        return a + b

    @mlcore.pipelines.pipeline
    def twice(x: int = 1):
        return add(a=add(a=x, b=x).output, b=x)

    run = mlcore.pipelines.run(twice, arguments={"x": 3}).wait()
    run.status, run.outputs, run.tasks

The scheduler, executor, cache and records are C++ (mlcore._mlcore.pipeline); this package only
defines. See docs/pipelines.md.
"""

from ._artifacts import Artifact, Dataset, Input, Metrics, Model, Output
from ._component import Component, component
from ._dsl import (Collected, Condition, Elif, Else, ExitHandler, If, LoopItem, OneOf, ParallelFor,
                   PipelineDef, PipelineParameter, PipelineTask, TaskOutput, pipeline)
from ._run import Run, Task, client, compile, get_run, run, runs
from ._schedule import Schedule, get_schedule, schedule, schedules

__all__ = [
    "Artifact", "Collected", "Component", "Condition", "Dataset", "Elif", "Else", "ExitHandler",
    "If", "Input", "LoopItem", "Metrics", "Model", "OneOf", "Output", "ParallelFor",
    "PipelineDef", "PipelineParameter", "PipelineTask", "Run", "Schedule", "Task", "TaskOutput",
    "client", "compile", "component", "get_run", "get_schedule", "pipeline", "run", "runs",
    "schedule", "schedules",
]
