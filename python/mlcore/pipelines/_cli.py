"""The pipeline verbs of the `mlcore` command (registered by mlcore._cli through register()).

    run MODULE:PIPELINE [-p key=value ...] [--experiment E] [--no-cache] [--resume RUN_ID]
    runs list [--experiment E] [--state S]
    runs show RUN_ID | runs logs RUN_ID TASK [--stderr] | runs resume RUN_ID MODULE:PIPELINE
    compile MODULE:PIPELINE -o p.yaml
    scheduler [--once] [--poll S] [--misfire-grace S] [--start-retries N] [--start-backoff S]
              [--keep-fires N]
    schedules list | show S | pause S | resume S | delete S | next S [-n N]
    schedules create MODULE:PIPELINE --cron EXPR [-p key=value ...] [--name N] [--catchup P]
                     [--max-concurrency K] [--experiment E] [--time-zone Z]

MODULE is an importable module or a path to a .py file. RUN_ID may be any unique prefix of a
run id. Exit status: 0 when the run succeeded, 1 when it failed, 2 for a user error (one line on
stderr naming what was wrong). run, runs, scheduler and schedules take --busy-timeout S: seconds
a store call waits for another process's write lock (default 30) before the command fails with
exit status 1 naming the lock.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import sys
import threading
import time

from .._busy_timeout import seconds_argument as _seconds
from . import _run, _schedule
from ._dsl import PipelineDef


PIPELINE_REF = ("MODULE:PIPELINE or FILE.py:PIPELINE: an importable module, or a path to a .py "
                "file, and the name of a @pipeline in it (e.g. flow.py:train)")
RUN_STATES = ("pending", "running", "succeeded", "failed", "interrupted")


def load_pipeline(ref: str) -> PipelineDef:
    """The pipeline `ref` names; ValueError (a user error, exit status 2) when it cannot."""
    return _schedule.load_pipeline(ref)


def parse_params(pairs):
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"-p takes key=value, got {pair!r}")
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


class _StoreUrl(argparse.Action):
    """--store URL: where the records go, as the MLCORE_STORE environment variable says."""

    def __call__(self, parser, namespace, value, option_string=None):
        os.environ["MLCORE_STORE"] = value
        setattr(namespace, self.dest, value)


def _add_busy_timeout(p) -> None:
    p.add_argument("--busy-timeout", type=_seconds, metavar="S",
                   help="seconds to wait for another process's write lock (default: 30)")
    p.add_argument("--store", action=_StoreUrl, metavar="URL",
                   help="the store of the records: postgresql://user@host/db or a SQLite file "
                        "(default: $MLCORE_STORE, else $MLCORE_HOME/mlcore.db)")


def main(argv=None) -> int:
    """The whole `mlcore` command (mlcore._cli.main), under its old name."""
    from .._cli import main as mlcore_main

    return mlcore_main(argv)


def register(sub) -> None:
    """Adds the pipeline verbs (run, runs, compile, scheduler, schedules) to the `mlcore`
    command's subparsers."""
    r = sub.add_parser("run", help="run a pipeline on the local executor",
                       description="Runs a pipeline here and waits for it; prints its outputs.")
    r.add_argument("pipeline", help=PIPELINE_REF)
    r.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                   help="a pipeline parameter (VALUE as JSON, else as text); repeatable")
    r.add_argument("--experiment", default="Default", help="experiment to file the run under")
    r.add_argument("--no-cache", action="store_true", help="run every task, ignoring the cache")
    r.add_argument("--resume", metavar="RUN_ID",
                   help="resume this failed or interrupted run (finished tasks are kept)")
    r.add_argument("--max-parallelism", type=int, default=0,
                   help="most tasks running at once (0: one per core)")
    _add_busy_timeout(r)
    r.set_defaults(handler=_run_pipeline)
    _add_runs_parsers(sub)
    c = sub.add_parser("compile", help="write the KFP v2 IR (PipelineSpec YAML)",
                       description="Compiles a pipeline for Kubeflow Pipelines.")
    c.add_argument("pipeline", help=PIPELINE_REF)
    c.add_argument("-o", "--output", required=True, help="the YAML file to write")
    c.add_argument("--base-image", default=None,
                   help="image for components that name none (default: the pipeline's, else "
                        "mlcore:<version>, built by the repository's Containerfile)")
    c.add_argument("--package", action="append", default=None, dest="packages",
                   metavar="REQUIREMENT", help="pip-install this in every task's container "
                                               "before it runs (repeatable)")
    c.set_defaults(handler=_compile)
    _add_schedule_parsers(sub)


def _add_runs_parsers(sub) -> None:
    runs = sub.add_parser("runs", help="recorded runs: list, show, logs, resume")
    rs = runs.add_subparsers(dest="verb", required=True)
    ls = rs.add_parser("list", help="runs, newest first, with state, start time and duration")
    ls.add_argument("--experiment", help="only runs of this experiment")
    ls.add_argument("--pipeline", help="only runs of this pipeline")
    ls.add_argument("--state", choices=RUN_STATES, help="only runs in this state")
    ls.add_argument("-n", "--limit", type=int, default=100, help="most runs listed (default 100)")
    ls.set_defaults(handler=_runs_list)
    show = rs.add_parser("show", help="a run: arguments, tasks (state, duration, cache hits), "
                                      "outputs and artifacts")
    show.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of one")
    show.set_defaults(handler=_runs_show)
    logs = rs.add_parser("logs", help="a task's stdout (or stderr) log")
    logs.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of one")
    logs.add_argument("task", help="the task's name (loop iterations: name[i])")
    logs.add_argument("--stderr", action="store_true", help="the stderr log instead")
    logs.set_defaults(handler=_runs_logs)
    resume = rs.add_parser("resume", help="resume a failed or interrupted run")
    resume.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of one")
    resume.add_argument("pipeline", help=PIPELINE_REF)
    resume.set_defaults(handler=_runs_resume)
    for verb in (ls, show, logs, resume):
        _add_busy_timeout(verb)


def _run_pipeline(args) -> int:
    run = _run.run(load_pipeline(args.pipeline), arguments=parse_params(args.param),
                   experiment=args.experiment, enable_caching=not args.no_cache,
                   resume=args.resume, max_parallelism=args.max_parallelism,
                   namespace=args.namespace, busy_timeout=args.busy_timeout)
    return _finish(run.wait(progress=sys.stderr.isatty()))


def _compile(args) -> int:
    _run.compile(load_pipeline(args.pipeline), args.output, base_image=args.base_image,
                 packages_to_install=args.packages)
    print(f"wrote {args.output}")
    return 0


def _when(seconds) -> str:
    return datetime.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")


def _took(start, end) -> str:
    if start is None:
        return "-"
    seconds = (end if end is not None else time.time()) - start
    text = f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
    return text if end is not None else f"{text}+"


def _runs_list(args) -> int:
    rows = [("RUN ID", "STATE", "PIPELINE", "EXPERIMENT", "STARTED", "DURATION")]
    for run in _run.runs(experiment=args.experiment, pipeline=args.pipeline, state=args.state,
                         namespace=args.namespace, busy_timeout=args.busy_timeout,
                         limit=args.limit, newest_first=True):
        rec = run.record
        rows.append((rec["id"], rec["state"], rec["pipeline"], rec["experiment"],
                     _when(rec["created_at"]), _took(rec["created_at"], rec["finished_at"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    return 0


def _runs_show(args) -> int:
    run = _run.get_run(args.run_id, namespace=args.namespace, busy_timeout=args.busy_timeout)
    rec = run.record
    print(f"run {run.id}: {rec['state']}  pipeline {rec['pipeline']}  experiment "
          f"{rec['experiment']}")
    print(f"  started {_when(rec['created_at'])}, took {_took(rec['created_at'], rec['finished_at'])}"
          f"  arguments {json.dumps(rec['arguments'])}")
    if run.error:
        print(f"  error: {run.error}")
    tasks = run.tasks
    cached = sum(t.state == "cached" for t in tasks)
    print(f"tasks ({len(tasks)}, {cached} from the cache):")
    width = max((len(t.name) for t in tasks), default=4)
    for t in tasks:
        first_error_line = t.error.splitlines()[0] if t.error else ""
        print(f"  {t.name.ljust(width)}  {t.state:11s} {_took(t.started_at, t.finished_at):>9s}"
              f"  attempts={t.attempts}  {first_error_line}".rstrip())
    if rec["outputs"]:
        print("outputs:")
        for name, value in run.outputs.items():
            print(f"  {name} = {value!r}")
    artifacts = run._client.list_artifacts(run.id)
    if artifacts:
        print("artifacts:")
        for a in artifacts:
            print(f"  {a['task']}.{a['output']}  {a['type']}  sha256:{a['digest'][:12]}  {a['uri']}")
    return 0


def _runs_logs(args) -> int:
    task = _run.get_run(args.run_id, namespace=args.namespace,
                        busy_timeout=args.busy_timeout).task(args.task)
    sys.stdout.write(task.logs("stderr" if args.stderr else "stdout"))
    return 0


def _runs_resume(args) -> int:
    run_id = _run.get_run(args.run_id, namespace=args.namespace, busy_timeout=args.busy_timeout).id
    run = _run.run(load_pipeline(args.pipeline), resume=run_id, namespace=args.namespace,
                   busy_timeout=args.busy_timeout)
    return _finish(run.wait(progress=sys.stderr.isatty()))


def _add_schedule_parsers(sub) -> None:
    s = sub.add_parser("scheduler", help="fire recurring runs (long-lived)")
    s.add_argument("--once", action="store_true",
                   help="fire what is due now, wait for those runs, and exit")
    s.add_argument("--poll", type=float, default=_schedule.SCHEDULER_DEFAULTS["poll"],
                   help="most seconds between looks at the store (new schedules, finished runs)")
    s.add_argument("--misfire-grace", type=float,
                   default=_schedule.SCHEDULER_DEFAULTS["misfire_grace"],
                   help="catchup=skip: how many seconds late a time may still fire")
    s.add_argument("--start-retries", type=int,
                   default=_schedule.SCHEDULER_DEFAULTS["start_retries"],
                   help="tries again to start a run that failed to start (pipeline not loadable)")
    s.add_argument("--start-backoff", type=float,
                   default=_schedule.SCHEDULER_DEFAULTS["start_backoff"],
                   help="seconds before the first such retry (doubling after each)")
    s.add_argument("--keep-fires", type=int, default=_schedule.SCHEDULER_DEFAULTS["keep_fires"],
                   help="fire records kept per schedule, latest first (0: all)")
    s.add_argument("--lease", type=float, default=_schedule.SCHEDULER_DEFAULTS["lease"],
                   help="seconds a claimed fire stays this scheduler's unrenewed; another "
                        "scheduler takes over a fire whose lease ran out")
    # Test-only: read "now" (Unix seconds) from this file instead of the system clock.
    s.add_argument("--clock-file", help=argparse.SUPPRESS)
    _add_busy_timeout(s)
    s.set_defaults(handler=_scheduler)

    sc = sub.add_parser("schedules", help="recurring runs")
    v = sc.add_subparsers(dest="verb", required=True)
    ls = v.add_parser("list")
    _add_busy_timeout(ls)
    ls.set_defaults(handler=_schedules_list)
    for verb in ("show", "pause", "resume", "delete", "next"):
        p = v.add_parser(verb)
        p.add_argument("schedule", help="id or name")
        if verb == "next":
            p.add_argument("-n", type=int, default=5)
        _add_busy_timeout(p)
        p.set_defaults(handler=_schedules_verb)
    cr = v.add_parser("create")
    cr.add_argument("pipeline", help=PIPELINE_REF)
    cr.add_argument("--cron", required=True)
    cr.add_argument("-p", "--param", action="append", help="key=value (JSON or text)")
    cr.add_argument("--name")
    cr.add_argument("--experiment", default=_schedule.SCHEDULE_DEFAULTS["experiment"])
    cr.add_argument("--catchup", default=_schedule.SCHEDULE_DEFAULTS["catchup"],
                    choices=["skip", "once", "all"])
    cr.add_argument("--max-catchup", type=int, default=_schedule.SCHEDULE_DEFAULTS["max_catchup"])
    cr.add_argument("--max-concurrency", type=int,
                    default=_schedule.SCHEDULE_DEFAULTS["max_concurrency"])
    cr.add_argument("--time-zone", default=_schedule.SCHEDULE_DEFAULTS["time_zone"])
    _add_busy_timeout(cr)
    cr.set_defaults(handler=_schedules_create)


def _describe(s) -> str:
    rec = s.record
    state = "enabled" if rec["enabled"] else "paused"
    nxt = s.next_times(1)
    when = f"{nxt[0]:%Y-%m-%d %H:%M} UTC" if nxt and rec["enabled"] else "-"
    return (f"{rec['id']}  {rec['name']:20s}  {rec['cron']:15s}  {state:7s}  next {when}  "
            f"{rec['pipeline']}")


def _schedules_list(args) -> int:
    for s in _schedule.schedules(namespace=args.namespace, busy_timeout=args.busy_timeout):
        print(_describe(s))
    return 0


def _schedules_create(args) -> int:
    ref = args.pipeline
    module = ref.rsplit(":", 1)[0]
    if module.endswith(".py") or os.path.sep in module:
        ref = os.path.abspath(module) + ":" + ref.rsplit(":", 1)[1]
    try:
        s = _schedule.schedule(ref, args.cron, parse_params(args.param),
                               max_concurrency=args.max_concurrency, catchup=args.catchup,
                               max_catchup=args.max_catchup, experiment=args.experiment,
                               name=args.name, time_zone=args.time_zone,
                               namespace=args.namespace, busy_timeout=args.busy_timeout)
    except (ValueError, KeyError) as e:
        print(f"mlcore schedules create: {e}", file=sys.stderr)
        return 2
    print(_describe(s))
    return 0


def _schedules_verb(args) -> int:
    try:
        s = _schedule.get_schedule(args.schedule, namespace=args.namespace,
                                   busy_timeout=args.busy_timeout)
    except KeyError as e:
        print(f"mlcore schedules {args.verb}: {e.args[0]}", file=sys.stderr)
        return 1
    if args.verb == "pause":
        s.pause()
    elif args.verb == "resume":
        s.resume()
    elif args.verb == "delete":
        s.delete()
        print(f"deleted {args.schedule}")
        return 0
    elif args.verb == "next":
        for t in s.next_times(args.n):
            print(f"{t:%Y-%m-%d %H:%M} UTC")
        return 0
    elif args.verb == "show":
        print(_describe(s))
        for f in s.fires(20):
            retry = (f"  next try {f['retry_at']:%Y-%m-%d %H:%M:%S}"
                     if f.get("retry_at") and f["state"] == "retrying" else "")
            print(f"  {f['scheduled_time']:%Y-%m-%d %H:%M}  {f['state']:8s}  "
                  f"tries={f.get('attempts', 0)}  {f['run_id']}  {f['error']}{retry}")
        return 0
    print(_describe(s))
    return 0


def _scheduler(args) -> int:
    def log(line):
        print(line, flush=True)

    sched = _schedule.make_scheduler(namespace=args.namespace, poll=args.poll,
                                     misfire_grace=args.misfire_grace,
                                     clock_file=args.clock_file, log=log,
                                     start_retries=args.start_retries,
                                     start_backoff=args.start_backoff,
                                     keep_fires=args.keep_fires, lease=args.lease,
                                     busy_timeout=args.busy_timeout)
    if args.once:
        fires = sched.tick()
        for f in fires:
            if f["state"] != "started":
                print(f"schedule {f['schedule_id']}: {f['error']}", file=sys.stderr)
        _schedule.wait_for_runs([f["run_id"] for f in fires if f["run_id"]],
                                namespace=args.namespace, busy_timeout=args.busy_timeout)
        return 0 if all(f["state"] == "started" for f in fires) else 1

    errors = []

    def loop():
        try:
            sched.run()
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    def stop(signum, frame):
        sched.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # The C++ loop runs on a thread so that this thread stays free to take signals.
    t = threading.Thread(target=loop, name="mlcore-scheduler", daemon=True)
    t.start()
    log(f"mlcore scheduler: namespace {args.namespace}, poll {args.poll} s")
    while t.is_alive():
        t.join(0.2)
    if errors:
        print(f"mlcore scheduler: {errors[0]}", file=sys.stderr)
        return 1
    return 0
