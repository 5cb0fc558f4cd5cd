"""The pipelines command line: python -m mlcore.pipelines (the `mlcore` command's pipeline verbs).

    run MODULE:PIPELINE [-p key=value ...] [--experiment E] [--no-cache] [--resume RUN_ID]
    runs list [--experiment E] [--state S]
    runs show RUN_ID | runs logs RUN_ID TASK [--stderr] | runs resume RUN_ID MODULE:PIPELINE
    compile MODULE:PIPELINE -o p.yaml

MODULE is an importable module or a path to a .py file. Exit status: 0 when the run succeeded.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys

from . import _run
from ._dsl import PipelineDef


def load_pipeline(ref: str) -> PipelineDef:
    if ":" not in ref:
        raise SystemExit(f"expected MODULE:PIPELINE, got {ref!r}")
    module_name, attr = ref.rsplit(":", 1)
    if module_name.endswith(".py") or os.path.sep in module_name:
        spec = importlib.util.spec_from_file_location(
            os.path.splitext(os.path.basename(module_name))[0], module_name)
        if spec is None:
            raise SystemExit(f"cannot load {module_name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    p = getattr(module, attr, None)
    if not isinstance(p, PipelineDef):
        raise SystemExit(f"{ref} is not a @pipeline")
    return p


def parse_params(pairs):
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"-p takes key=value, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _finish(run) -> int:
    print(f"run {run.id}: {run.status}")
    if run.error:
        print(run.error, file=sys.stderr)
    for name, value in run.outputs.items():
        print(f"  {name} = {value!r}")
    return 0 if run.status == "succeeded" else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="mlcore", description="mlcore pipelines")
    parser.add_argument("--namespace", default="default")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a pipeline on the local executor")
    r.add_argument("pipeline")
    r.add_argument("-p", "--param", action="append", help="key=value (JSON or text)")
    r.add_argument("--experiment", default="Default")
    r.add_argument("--no-cache", action="store_true")
    r.add_argument("--resume")
    r.add_argument("--max-parallelism", type=int, default=0)
    runs = sub.add_parser("runs", help="recorded runs")
    rs = runs.add_subparsers(dest="verb", required=True)
    ls = rs.add_parser("list")
    ls.add_argument("--experiment")
    ls.add_argument("--state")
    show = rs.add_parser("show")
    show.add_argument("run_id")
    logs = rs.add_parser("logs")
    logs.add_argument("run_id")
    logs.add_argument("task")
    logs.add_argument("--stderr", action="store_true")
    resume = rs.add_parser("resume")
    resume.add_argument("run_id")
    resume.add_argument("pipeline")
    c = sub.add_parser("compile", help="write the KFP v2 IR (PipelineSpec YAML)")
    c.add_argument("pipeline")
    c.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    ns = args.namespace

    if args.command == "run":
        run = _run.run(load_pipeline(args.pipeline), arguments=parse_params(args.param),
                       experiment=args.experiment, enable_caching=not args.no_cache,
                       resume=args.resume, max_parallelism=args.max_parallelism, namespace=ns)
        return _finish(run.wait(progress=sys.stderr.isatty()))
    if args.command == "compile":
        _run.compile(load_pipeline(args.pipeline), args.output)
        print(f"wrote {args.output}")
        return 0
    if args.verb == "list":
        for run in _run.runs(experiment=args.experiment, state=args.state, namespace=ns):
            rec = run.record
            print(f"{rec['id']}  {rec['state']:11s}  {rec['pipeline']:20s}  {rec['experiment']}")
        return 0
    if args.verb == "show":
        run = _run.get_run(args.run_id, namespace=ns)
        print(f"run {run.id}: {run.status}  arguments={run.arguments}")
        for t in run.tasks:
            print(f"  {t.name:24s} {t.state:11s} attempts={t.attempts}  {t.error.splitlines()[0] if t.error else ''}")
        return 0
    if args.verb == "logs":
        task = _run.get_run(args.run_id, namespace=ns).task(args.task)
        sys.stdout.write(task.logs("stderr" if args.stderr else "stdout"))
        return 0
    run = _run.run(load_pipeline(args.pipeline), resume=args.run_id, namespace=ns)
    return _finish(run.wait(progress=sys.stderr.isatty()))
