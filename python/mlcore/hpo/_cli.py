"""The hyperparameter-search command line: the `mlcore hpo` verbs (see docs/hpo.md).

    mlcore hpo run SPEC.yaml [--storage PATH] [--n-trials N] [--n-parallel N]
    mlcore hpo list [--storage PATH]
    mlcore hpo show NAME [--storage PATH]
    mlcore hpo resume NAME [--n-trials N] [--n-parallel N] [--storage PATH]

Each verb takes --busy-timeout S: seconds a store call waits for another process's write lock
before the verb fails (exit status 1, naming the lock); default 30.

SPEC is a Katib Experiment (kind: Experiment, read with from_katib) or a small mlcore study
file (parse_spec below). Trials are subprocesses (CommandObjective) started in the directory
`run` was called from. `run` records the definition in $MLCORE_HOME/hpo/<name>.json (the spec's
text, its path, the storage and the working directory) so `resume` continues the study as it was
defined, even when the file changed or moved since. Exit status: 0 when the study has a complete
trial, 1 for an unknown or failed study, 2 for a bad spec or argument.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
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


_DIST_TYPES = ("double", "float", "int", "discrete", "categorical")
_PRUNER_OPTIONS = {
    "median": ("min_trials_required", "start_step"),
    "successive_halving": ("min_resource", "reduction_factor", "min_early_stopping_rate"),
    "hyperband": ("min_resource", "max_resource", "reduction_factor"),
}
_TOP_FIELDS = ("name", "direction", "directions", "sampler", "seed", "pruner", "command",
               "metric", "format", "space", "n_trials", "n_parallel", "timeout",
               "trial_timeout", "max_failed_trials", "goal", "gpus_per_trial", "gpus")


def _number(where, field, value, kind=float, minimum=None):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok:
        raise SpecError(f"{where}: {field}: expected {'an integer' if kind is int else 'a number'}"
                        f", got {value!r}")
    if minimum is not None and value < minimum:
        raise SpecError(f"{where}: {field}: must be at least {minimum}, got {value!r}")
    return kind(value)


def _distribution(where, field, entry):
    from ._distributions import (CategoricalDistribution, DiscreteDistribution,
                                 FloatDistribution, IntDistribution)

    if not isinstance(entry, dict):
        raise SpecError(f"{where}: {field}: expected a mapping like "
                        f"{{type: double, min: 0.001, max: 0.1}}, got {entry!r}")
    kind = entry.get("type")
    if kind not in _DIST_TYPES:
        raise SpecError(f"{where}: {field}.type: expected one of {', '.join(_DIST_TYPES)}, "
                        f"got {kind!r}")
    allowed = {"type", "log"} | ({"min", "max", "step"} if kind in ("double", "float", "int")
                                  else {"values"})
    for key in entry:
        if key not in allowed:
            raise SpecError(f"{where}: {field}.{key}: unknown field for type {kind} "
                            f"(allowed: {', '.join(sorted(allowed))})")
    try:
        if kind in ("double", "float", "int"):
            for key in ("min", "max"):
                if key not in entry:
                    raise SpecError(f"{where}: {field}.{key}: missing")
            num = int if kind == "int" else float
            low = _number(where, f"{field}.min", entry["min"], num)
            high = _number(where, f"{field}.max", entry["max"], num)
            log = entry.get("log", False)
            if not isinstance(log, bool):
                raise SpecError(f"{where}: {field}.log: expected true or false, got {log!r}")
            step = entry.get("step")
            if step is not None:
                step = _number(where, f"{field}.step", step, num)
            if kind == "int":
                return IntDistribution(low, high, log=log, step=1 if step is None else step)
            return FloatDistribution(low, high, log=log, step=step)
        values = entry.get("values")
        if not isinstance(values, list):
            raise SpecError(f"{where}: {field}.values: expected a list, got {values!r}")
        if kind == "discrete":
            return DiscreteDistribution(values)
        return CategoricalDistribution(values)
    except (ValueError, TypeError) as e:
        raise SpecError(f"{where}: {field}: {e}") from None


def parse_spec(text: str, where: str) -> CommandStudySpec:
    """A spec's text -> CommandStudySpec; SpecError naming `where` and the field.

    mlcore format (YAML or JSON):
        name: demo                   # required
        direction: minimize          # or maximize (or directions: [one])
        sampler: tpe                 # a sampler name (tpe, random, grid, gp, cmaes, sobol)
        seed: 0
        pruner: median               # or {name: median, min_trials_required: 3, start_step: 0}
        command: "python train.py --lr={lr} --layers={layers}"
        metric: loss                 # read from stdout as loss=<value> (format: text or json)
        space:
          lr: {type: double, min: 1.0e-4, max: 0.1, log: true}
          layers: {type: int, min: 1, max: 4}
          opt: {type: categorical, values: [sgd, adam]}
        n_trials: 20                 # trials in the study (run and resume stop there)
        n_parallel: 2
        timeout: 600                 # seconds per run/resume call; trial_timeout per trial
        gpus_per_trial: 1            # each running trial gets its own GPU(s)
        gpus: [0, 1]                 # the devices to hand out (default: every CUDA device)
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
    for key in doc:
        if key not in _TOP_FIELDS:
            raise SpecError(f"{where}: {key}: unknown field (allowed: {', '.join(_TOP_FIELDS)})")
    for key in ("name", "command", "metric", "space"):
        if key not in doc:
            raise SpecError(f"{where}: {key}: missing")
    for key in ("name", "command", "metric"):
        if not isinstance(doc[key], str) or not doc[key]:
            raise SpecError(f"{where}: {key}: expected a non-empty string, got {doc[key]!r}")
    if "/" in doc["name"] or doc["name"].startswith("."):
        raise SpecError(f"{where}: name: {doc['name']!r} cannot name a file (no '/', no "
                        f"leading '.')")
    direction = doc.get("direction", "minimize")
    if "directions" in doc:
        dirs = doc["directions"]
        if not isinstance(dirs, list) or len(dirs) != 1:
            raise SpecError(f"{where}: directions: a command study reads one metric, so give "
                            f"one direction, got {dirs!r}")
        direction = dirs[0]
    if direction not in ("minimize", "maximize"):
        raise SpecError(f"{where}: direction: expected minimize or maximize, got {direction!r}")
    from .._mlcore import hpo as _core

    sampler = doc.get("sampler", "tpe")
    if sampler not in _core.sampler_names():
        raise SpecError(f"{where}: sampler: expected one of {', '.join(_core.sampler_names())}, "
                        f"got {sampler!r}")
    seed = doc.get("seed")
    if seed is not None:
        seed = _number(where, "seed", seed, int, 0)
    pruner = doc.get("pruner")
    if isinstance(pruner, str):
        pruner = {"name": pruner}
    if pruner is not None:
        if not isinstance(pruner, dict) or pruner.get("name") not in _PRUNER_OPTIONS:
            raise SpecError(f"{where}: pruner: expected one of {', '.join(_PRUNER_OPTIONS)} "
                            f"(a name or {{name: ..., options}}), got {pruner!r}")
        for key, value in pruner.items():
            if key == "name":
                continue
            if key not in _PRUNER_OPTIONS[pruner["name"]]:
                raise SpecError(f"{where}: pruner.{key}: unknown option for {pruner['name']} "
                                f"(allowed: {', '.join(_PRUNER_OPTIONS[pruner['name']])})")
            _number(where, f"pruner.{key}", value, int, 0)
    fmt = doc.get("format", "text")
    if fmt not in ("text", "json"):
        raise SpecError(f"{where}: format: expected text or json, got {fmt!r}")
    space = doc["space"]
    if not isinstance(space, dict) or not space:
        raise SpecError(f"{where}: space: expected a mapping of parameter names, got {space!r}")
    search_space = {str(k): _distribution(where, f"space.{k}", v) for k, v in space.items()}
    opt = {}
    for key, kind, minimum in (("n_trials", int, 1), ("n_parallel", int, 1),
                               ("timeout", float, 0), ("trial_timeout", float, 0),
                               ("max_failed_trials", int, 1), ("goal", float, None)):
        value = doc.get(key)
        opt[key] = None if value is None else _number(where, key, value, kind, minimum)
    gpus_per_trial = doc.get("gpus_per_trial")
    gpus_per_trial = 0 if gpus_per_trial is None else _number(where, "gpus_per_trial",
                                                              gpus_per_trial, int, 0)
    gpus = doc.get("gpus")
    if gpus is not None:
        if not isinstance(gpus, list) or not gpus:
            raise SpecError(f"{where}: gpus: expected a list of device numbers, got {gpus!r}")
        gpus = [_number(where, f"gpus[{i}]", g, int, 0) for i, g in enumerate(gpus)]
    if opt["n_trials"] is None and opt["timeout"] is None:
        raise SpecError(f"{where}: n_trials: missing (give n_trials or timeout, else the study "
                        f"would never end)")
    spec = CommandStudySpec(
        name=doc["name"], direction=direction, sampler=sampler, seed=seed, pruner=pruner,
        command=doc["command"], metric=doc["metric"], format=fmt, search_space=search_space,
        n_trials=opt["n_trials"], n_parallel=opt["n_parallel"] or 1, timeout=opt["timeout"],
        trial_timeout=opt["trial_timeout"], max_failed_trials=opt["max_failed_trials"],
        goal=opt["goal"], gpus_per_trial=gpus_per_trial, gpus=gpus)
    _check_command(spec, where)
    return spec


def _check_command(spec, where):
    """Unknown placeholders fail here, at load, rather than in every trial."""
    names = set(spec.search_space) | {"trial_number"}
    found = re.findall(r"\$\{trialParameters\.([A-Za-z_][A-Za-z0-9_]*)\}", spec.command)
    found += re.findall(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}", spec.command)
    for name in found:
        if name not in names:
            raise SpecError(f"{where}: command: placeholder {{{name}}} is not a parameter of "
                            f"space (parameters: {', '.join(sorted(spec.search_space))})")


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
    env = os.environ.get("MLCORE_HOME")
    return env if env else os.path.join(os.path.expanduser("~"), ".mlcore")


def _definition_path(name):
    return os.path.join(_home(), "hpo", f"{name}.json")


def _db_path(storage):
    """The SQLite file of a storage argument (None: the default store)."""
    if storage in (None, "", "sqlite"):
        return os.path.join(_home(), "mlcore.db")
    if storage.startswith("sqlite:///"):
        return storage[len("sqlite://"):]
    return os.path.abspath(storage)


def _storage_arg(storage):
    if storage is None:
        return None
    if storage == "memory":
        raise SpecError("--storage memory: a study run from the command line must be stored "
                        "(give a file path or leave --storage out)")
    return storage if storage == "sqlite" or storage.startswith("sqlite:///") else \
        os.path.abspath(storage)


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
    from ._samplers import HyperbandPruner, MedianPruner, SuccessiveHalvingPruner
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
            print(f"mlcore hpo: study '{spec.name}' already exists in {_db_path(storage)}; "
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
        print(f"mlcore hpo: study '{args.name}' is not in {_db_path(storage)}", file=sys.stderr)
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
        if not os.path.exists(db):  # opening a store would create it
            continue
        try:
            found = list_studies(db, busy_timeout=args.busy_timeout)
        except Exception as e:  # noqa: BLE001 - a broken store is reported, not raised
            print(f"mlcore hpo: cannot read {db}: {e}", file=sys.stderr)
            return 1
        for s in sorted(found, key=lambda s: s["name"]):
            best = "-" if s["best_value"] is None else _fmt(s["best_value"])
            direction = ",".join(s["directions"])
            resumable = "yes" if os.path.exists(_definition_path(s["name"])) else "no"
            store = "" if db == _db_path(None) else db
            rows.append([s["name"], direction, str(s["n_trials"]), str(s["n_complete"]),
                         str(s["n_running"]), best, resumable, store])
    if not rows:
        print("no studies")
        return 0
    _table(["NAME", "DIRECTION", "TRIALS", "COMPLETE", "RUNNING", "BEST", "RESUMABLE", "STORE"],
           rows)
    return 0


def _show(args):
    from ._study import load_study

    record = _load_definition(args.name)
    storage = args.storage or (record or {}).get("storage")
    if not os.path.exists(_db_path(storage)):
        print(f"mlcore hpo: no study named '{args.name}' ({_db_path(storage)} does not exist)",
              file=sys.stderr)
        return 1
    try:
        study = load_study(args.name, storage=storage, busy_timeout=args.busy_timeout)
    except KeyError:
        print(f"mlcore hpo: no study named '{args.name}' in {_db_path(storage)}",
              file=sys.stderr)
        return 1
    trials = study.trials
    directions = study.directions
    print(f"study {study.name} ({', '.join(directions)}), {len(trials)} trials, "
          f"store {_db_path(storage)}")
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


def add_subparser(subparsers):
    """Adds `hpo` with its verbs to the `mlcore` command's subparsers; each verb sets
    handler=fn, fn(args) -> exit status."""
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
