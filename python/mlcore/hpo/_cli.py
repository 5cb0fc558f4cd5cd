"""The hyperparameter-search command line: the `mlcore hpo` verbs (see docs/hpo.md).

    mlcore hpo run SPEC.yaml [--storage PATH] [--n-trials N] [--n-parallel N]
    mlcore hpo list [--storage PATH]
    mlcore hpo show NAME [--storage PATH]
    mlcore hpo resume NAME [--n-trials N] [--n-parallel N] [--storage PATH]

Each verb takes --busy-timeout S: seconds a store call waits for another process's write lock
before the verb fails (exit status 1, naming the lock); default 30.

SPEC is a Katib Experiment (kind: Experiment, read with from_katib) or a small mlcore study
file (include/mlcore/hpo/study_spec.h). Trials are subprocesses (CommandObjective) started in the directory
`run` was called from. `run` records the definition in $MLCORE_HOME/hpo/<name>.json (the spec's
text, its path, the storage and the working directory) so `resume` continues the study as it was
defined, even when the file changed or moved since. Exit status: 0 when the study has a complete
trial, 1 for an unknown or failed study, 2 for a bad spec or argument.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional

from .._busy_timeout import seconds_argument as _seconds


class SpecError(Exception):
    """A spec that cannot define a study; the message names the file and the field."""


@dataclasses.dataclass
class CommandStudySpec:
    """A study whose trials run a command template: what either spec format comes down to."""

    name: str
    direction: str
    sampler: str
    seed: Optional[int]
    pruner: Optional[Dict[str, Any]]  # {"name": ..., options}
    command: str
    metric: str
    format: str
    search_space: Dict[str, Any]
    n_trials: Optional[int]  # the study's trial budget (Katib's maxTrialCount)
    n_parallel: int
    timeout: Optional[float]  # seconds for one `run`/`resume` call
    trial_timeout: Optional[float]
    max_failed_trials: Optional[int]
    goal: Optional[float]
    gpus_per_trial: int = 0  # GPU devices each running trial holds (CUDA_VISIBLE_DEVICES)
    gpus: Optional[List[int]] = None  # the devices to hand out; None: every CUDA device


def parse_spec(text: str, where: str) -> CommandStudySpec:
    """A spec's text -> CommandStudySpec; SpecError naming `where` and the field.

    A Katib Experiment (kind: Experiment) is read with from_katib; anything else is an mlcore
    study file, read by the C++ StudySpecFromJson (include/mlcore/hpo/study_spec.h documents
    the format) from the YAML (or JSON) document.
    """
    try:
        import yaml
    except ImportError as e:
        raise SpecError(f"{where}: reading a spec needs PyYAML (pip install pyyaml)") from e
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpecError(f"{where}: not valid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise SpecError(f"{where}: expected a mapping (a Katib Experiment or an mlcore study "
                        f"spec), got {type(doc).__name__}")
    if doc.get("kind") == "Experiment" or "apiVersion" in doc:
        return _from_katib(text, where)
    from .._mlcore import hpo as _core

    try:
        s = _core.study_spec_from_json(json.dumps(doc))
    except (TypeError, ValueError) as e:  # TypeError: a YAML value JSON cannot hold (a date)
        raise SpecError(f"{where}: {e}") from None
    pruner = None
    if s.pruner:
        pruner = {"name": s.pruner, **s.pruner_options}
    return CommandStudySpec(
        name=s.name, direction=s.direction, sampler=s.sampler, seed=s.seed, pruner=pruner,
        command=s.command, metric=s.metric, format=s.format,
        search_space={name: dist for name, dist in s.space}, n_trials=s.n_trials,
        n_parallel=s.n_parallel, timeout=s.timeout, trial_timeout=s.trial_timeout,
        max_failed_trials=s.max_failed_trials, goal=s.goal, gpus_per_trial=s.gpus_per_trial,
        gpus=s.gpus)


def _from_katib(text, where):
    from ._katib import from_katib

    try:
        d = from_katib(text)
    except ValueError as e:
        msg = str(e)
        if msg.startswith("the document: "):
            msg = msg[len("the document: "):]
        raise SpecError(f"{where}: {msg}") from None
    pruner = None
    if d.pruner == "median":
        pruner = {"name": "median", "min_trials_required": d.min_trials_required,
                  "start_step": d.start_step}
    return CommandStudySpec(
        name=d.name, direction=d.direction, sampler=d.sampler, seed=d.seed, pruner=pruner,
        command=d.command, metric=d.metric, format="text", search_space=dict(d.search_space),
        n_trials=d.max_trial_count, n_parallel=max(1, d.parallel_trial_count), timeout=None,
        trial_timeout=None, max_failed_trials=d.max_failed_trial_count or None, goal=d.goal,
        gpus_per_trial=d.gpus_per_trial)


# ---------------------------------------------------------------------------------------------
# Where things are kept.


def _home():
    from .._mlcore import store

    return store.default_home()


def _definition_path(name):
    return os.path.join(_home(), "hpo", f"{name}.json")


def _is_url(storage):
    """A server's URL (postgresql://...), not a file."""
    return bool(storage) and "://" in storage and not storage.startswith("sqlite://")


def _shown(storage):
    """A store for messages: a URL's password replaced by ***."""
    import re
    return re.sub(r"(postgres(?:ql)?://[^:/@\s]*:)[^@\s]*@", r"\1***@", storage)


def _db_path(storage):
    """The SQLite file of a storage argument (None: the default store), or a server's URL."""
    if _is_url(storage):
        return storage
    if storage in (None, "", "sqlite"):
        return os.path.join(_home(), "mlcore.db")
    if storage.startswith("sqlite:///"):  # relative after three slashes, absolute after four
        return os.path.abspath(storage[len("sqlite:///"):])
    return os.path.abspath(storage)


def _storage_arg(storage):
    if storage is None:
        return None
    if storage == "memory":
        raise SpecError("--storage memory: a study run from the command line must be stored "
                        "(give a file path or leave --storage out)")
    # Absolute, so the definition saved for `resume` names the same file from any directory.
    return storage if storage == "sqlite" else _db_path(storage)


def _load_definition(name):
    path = _definition_path(name)
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise SystemExit(f"mlcore hpo: cannot read the definition of study '{name}' ({path}): "
                         f"{e}")


# ---------------------------------------------------------------------------------------------
# Running.


def _create(spec, storage, load, busy_timeout=None):
    from .pruners import HyperbandPruner, MedianPruner, SuccessiveHalvingPruner
    from ._study import create_study, load_study

    pruner = None
    if spec.pruner:
        options = {k: v for k, v in spec.pruner.items() if k != "name"}
        pruner = {"median": MedianPruner, "successive_halving": SuccessiveHalvingPruner,
                  "hyperband": HyperbandPruner}[spec.pruner["name"]](**options)
    if load:
        return load_study(spec.name, storage=storage, sampler=spec.sampler, pruner=pruner,
                          seed=spec.seed, requeue_stale_trials=True, busy_timeout=busy_timeout)
    return create_study(name=spec.name, direction=spec.direction, sampler=spec.sampler,
                        seed=spec.seed, pruner=pruner, storage=storage, busy_timeout=busy_timeout)


def _optimize(study, spec, n_trials, n_parallel, working_dir):
    from ._study import CommandObjective

    objective = CommandObjective(command=spec.command, metric=spec.metric,
                                 search_space=dict(spec.search_space), format=spec.format,
                                 timeout=spec.trial_timeout, working_dir=working_dir)
    before = len(study.trials)
    if n_trials is not None:  # N more trials, whatever the budget
        budget = dict(n_trials=n_trials)
    else:  # up to the spec's budget of trials in the study
        budget = dict(max_trials=spec.n_trials)
        if spec.n_trials is not None and before >= spec.n_trials:
            print(f"study {spec.name}: already has {before} of its {spec.n_trials} trials "
                  f"(give --n-trials N to run more)")
            return _summary(study, before)
    start = time.monotonic()
    try:
        study.optimize(objective, timeout=spec.timeout, n_parallel=n_parallel or spec.n_parallel,
                       max_failed_trials=spec.max_failed_trials, goal=spec.goal,
                       gpus_per_trial=spec.gpus_per_trial, gpus=spec.gpus, **budget)
    except KeyboardInterrupt:
        print(f"study {spec.name}: interrupted; `mlcore hpo resume {spec.name}` continues it",
              file=sys.stderr)
        return 130
    except ValueError as e:  # the objective refused the command or the space
        print(f"mlcore hpo: study {spec.name}: {e}", file=sys.stderr)
        return 2
    print(f"study {spec.name}: {len(study.trials) - before} trials in "
          f"{time.monotonic() - start:.1f}s")
    return _summary(study, before)


def _summary(study, before):
    trials = study.trials
    states = {}
    for t in trials:
        states[t.state] = states.get(t.state, 0) + 1
    print("  " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())) +
          f" ({len(trials)} in the study)")
    if not states.get("complete"):
        failed = [t for t in trials[before:] if t.state == "failed" and t.error]
        if failed:
            print(f"no trial completed; trial {failed[0].number} failed: {failed[0].error}",
                  file=sys.stderr)
        else:
            print("no trial completed", file=sys.stderr)
        return 1
    best = study.best_trial
    print(f"  best: trial {best.number}, value {best.value:.6g}, params {_params(best.params)}")
    return 0


def _params(params):
    return ", ".join(f"{k}={_fmt(v)}" for k, v in params.items())


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _run(args):
    where = args.spec
    try:
        with open(args.spec) as f:
            text = f.read()
    except OSError as e:
        print(f"mlcore hpo: cannot read {args.spec}: {e.strerror}", file=sys.stderr)
        return 2
    try:
        spec = parse_spec(text, where)
        storage = _storage_arg(args.storage)
    except SpecError as e:
        print(f"mlcore hpo: {e}", file=sys.stderr)
        return 2
    try:
        study = _create(spec, storage, load=False, busy_timeout=args.busy_timeout)
    except (RuntimeError, ValueError) as e:
        if "already exists" in str(e):
            print(f"mlcore hpo: study '{spec.name}' already exists in {_shown(_db_path(storage))}; "
                  f"continue it with `mlcore hpo resume {spec.name}`", file=sys.stderr)
            return 1
        if isinstance(e, RuntimeError):
            raise
        print(f"mlcore hpo: {where}: {e}", file=sys.stderr)
        return 2
    record = {"name": spec.name, "spec_path": os.path.abspath(args.spec), "spec": text,
              "storage": storage, "working_dir": os.getcwd(), "created_at": time.time()}
    path = _definition_path(spec.name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1)
    os.replace(tmp, path)
    return _optimize(study, spec, args.n_trials, args.n_parallel, os.getcwd())


def _resume(args):
    record = _load_definition(args.name)
    if record is None:
        print(f"mlcore hpo: no study named '{args.name}' was run from the command line (no "
              f"{_definition_path(args.name)}); `mlcore hpo list` shows the stored studies",
              file=sys.stderr)
        return 1
    where = f"{record['spec_path']} (as recorded in {_definition_path(args.name)})"
    try:
        spec = parse_spec(record["spec"], where)
        storage = _storage_arg(args.storage) if args.storage else record.get("storage")
    except SpecError as e:
        print(f"mlcore hpo: {e}", file=sys.stderr)
        return 2
    try:
        study = _create(spec, storage, load=True, busy_timeout=args.busy_timeout)
    except KeyError:
        print(f"mlcore hpo: study '{args.name}' is not in {_shown(_db_path(storage))}", file=sys.stderr)
        return 1
    return _optimize(study, spec, args.n_trials, args.n_parallel, record.get("working_dir"))


# ---------------------------------------------------------------------------------------------
# Looking.


def _stores(storage):
    if storage:
        return [_db_path(storage)]
    paths = [_db_path(None)]
    directory = os.path.join(_home(), "hpo")
    if os.path.isdir(directory):
        for entry in sorted(os.listdir(directory)):
            if entry.endswith(".json"):
                record = _load_definition(entry[:-5]) or {}
                path = _db_path(record.get("storage"))
                if path not in paths:
                    paths.append(path)
    return paths


def _list(args):
    from ._study import list_studies

    rows = []
    for db in _stores(args.storage):
        if not _is_url(db) and not os.path.exists(db):  # opening would create it
            continue
        try:
            found = list_studies(db, busy_timeout=args.busy_timeout)
        except Exception as e:  # noqa: BLE001 - a broken store is reported, not raised
            print(f"mlcore hpo: cannot read {_shown(db)}: {e}", file=sys.stderr)
            return 1
        for s in sorted(found, key=lambda s: s["name"]):
            best = "-" if s["best_value"] is None else _fmt(s["best_value"])
            direction = ",".join(s["directions"])
            resumable = "yes" if os.path.exists(_definition_path(s["name"])) else "no"
            store = f"{db} (default)" if db == _db_path(None) else _shown(db)
            rows.append([s["name"], direction, str(s["n_trials"]), str(s["n_complete"]),
                         str(s["n_pruned"]), str(s["n_failed"]), str(s["n_running"]), best,
                         resumable, store])
    if not rows:
        print("no studies")
        return 0
    _table(["NAME", "DIRECTION", "TRIALS", "COMPLETE", "PRUNED", "FAILED", "RUNNING", "BEST",
            "RESUMABLE", "STORE"], rows)
    return 0


def _show(args):
    from ._study import load_study

    record = _load_definition(args.name)
    storage = args.storage or (record or {}).get("storage")
    if not _is_url(storage) and not os.path.exists(_db_path(storage)):
        print(f"mlcore hpo: no study named '{args.name}' ({_shown(_db_path(storage))} does not exist)",
              file=sys.stderr)
        return 1
    try:
        # A reading command never changes the study (a show between a kill and a resume must
        # not fail the killed trials that resume re-runs).
        study = load_study(args.name, storage=storage, busy_timeout=args.busy_timeout,
                           recover_stale_trials=False)
    except KeyError:
        print(f"mlcore hpo: no study named '{args.name}' in {_shown(_db_path(storage))}",
              file=sys.stderr)
        return 1
    trials = study.trials
    directions = study.directions
    print(f"study {study.name} ({', '.join(directions)}), {len(trials)} trials, "
          f"store {_shown(_db_path(storage))}")
    if record:
        print(f"  defined by {record['spec_path']}")
    complete = [t for t in trials if t.state == "complete"]
    if len(directions) > 1:
        for t in study.best_trials:
            print(f"  Pareto: trial {t.number}, values {t.values}, params {_params(t.params)}")
    elif complete:
        best = study.best_trial
        print(f"best trial {best.number}: value {best.value:.6g}")
        for k, v in best.params.items():
            print(f"  {k} = {_fmt(v)}")
    else:
        print("no complete trial yet")
    names = []
    for t in trials:
        for k in t.params:
            if k not in names:
                names.append(k)
    rows = []
    for t in trials:
        value = "-" if t.value is None else f"{t.value:.6g}"
        duration = "-" if t.duration is None else f"{t.duration:.2f}"
        error = (t.error or "").splitlines()[0][:60] if t.error else ""
        rows.append([str(t.number), t.state, value, *[_fmt(t.params.get(k, "")) for k in names],
                     duration, error])
    if rows:
        print()
        _table(["NUMBER", "STATE", "VALUE", *names, "SECONDS", "ERROR"], rows)
    return 0


def _table(head, rows):
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


# ---------------------------------------------------------------------------------------------


def _handle(fn):
    def handler(args):
        try:
            return fn(args)
        except TimeoutError as e:  # another process held the store's write lock too long
            print(f"mlcore hpo {args.verb}: {e}", file=sys.stderr)
            return 1
        except BrokenPipeError:  # `mlcore hpo show x | head`: the reader left, not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except SystemExit as e:
            if isinstance(e.code, str):
                print(e.code, file=sys.stderr)
                return 1
            raise

    return handler


def _positive(text):
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def register(subparsers):
    """Adds `hpo` with its verbs to the `mlcore` command's subparsers (mlcore._cli finds it);
    each verb sets handler=fn, fn(args) -> exit status."""
    hpo = subparsers.add_parser("hpo", help="hyperparameter search (studies of command trials)")
    verbs = hpo.add_subparsers(dest="verb", required=True)
    run = verbs.add_parser("run", help="create a study from a spec and run its trials")
    run.add_argument("spec", help="a Katib Experiment YAML or an mlcore study spec")
    run.add_argument("--storage", help="SQLite file (default: $MLCORE_HOME/mlcore.db)")
    run.add_argument("--n-trials", type=_positive, help="run N trials (default: the spec's budget)")
    run.add_argument("--n-parallel", type=_positive, help="trials at once (default: the spec's)")
    run.set_defaults(handler=_handle(_run))
    ls = verbs.add_parser("list", help="the stored studies")
    ls.add_argument("--storage")
    ls.set_defaults(handler=_handle(_list))
    show = verbs.add_parser("show", help="a study's best trial and its trials")
    show.add_argument("name")
    show.add_argument("--storage")
    show.set_defaults(handler=_handle(_show))
    resume = verbs.add_parser("resume", help="continue a study started with `hpo run`")
    resume.add_argument("name")
    resume.add_argument("--n-trials", type=_positive, help="run N more trials (default: up to the "
                        "spec's budget)")
    resume.add_argument("--n-parallel", type=_positive)
    resume.add_argument("--storage", help="override the recorded storage")
    resume.set_defaults(handler=_handle(_resume))
    for verb in (run, ls, show, resume):
        verb.add_argument("--busy-timeout", type=_seconds, metavar="S",
                          help="seconds to wait for another process's write lock (default: 30)")
