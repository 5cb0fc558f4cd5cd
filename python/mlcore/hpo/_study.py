"""Study and FrozenTrial: the Python face of mlcore::hpo::Study."""

import dataclasses
import os
from typing import Any, Dict, Optional

from .._args import INT32_MAX, UINT64_MAX, check_int
from .._busy_timeout import busy_timeout_seconds as _busy_timeout
from .._mlcore import hpo as _core
from . import _custom
from ._distributions import space_entries
from ._trial import FrozenTrial
from .pruners import core_pruner
from .samplers import core_sampler


@dataclasses.dataclass
class CommandObjective:
    """A trial as a subprocess: ``command`` with ``{param}`` placeholders, run with /bin/sh; the
    last ``metric`` it prints (Katib's ``name=value`` text, or JSON lines with format="json",
    or a JSON-lines ``metrics_file``) is the trial's value, earlier ones are intermediate values.
    In a multi-objective study give ``metric`` as a list of names, one per objective.
    A crash, a run past ``timeout`` seconds or a missing metric fails the trial with the reason.
    A trial holding GPUs (``optimize(gpus_per_trial=...)``) gets them, and only them, in
    CUDA_VISIBLE_DEVICES. Each trial's stdout and stderr are kept in ``log_dir``/trial-<n>/
    (``FrozenTrial.log()`` and the dashboard's trial page read them), each file bounded by
    ``max_log_bytes`` (then rotated to <name>.1 with a marker). ``log_dir`` None: <home>/hpo/
    logs/<study> beside the study's SQLite store (the default home for a PostgreSQL storage;
    none for a memory storage); "": output is not kept. The whole trial runs in C++ with the GIL
    released."""

    command: str
    metric: Any  # a name, or a list of names for a multi-objective study
    search_space: Dict[str, Any]
    format: str = "text"
    metrics_file: Optional[str] = None
    timeout: Optional[float] = None
    working_dir: Optional[str] = None
    env: Optional[Dict[str, str]] = None
    log_dir: Optional[str] = None
    max_log_bytes: int = 16 << 20

    def __post_init__(self):
        # A placeholder naming no parameter, an empty command or a bad timeout: now, not at
        # the first optimize.
        metric = self.metric
        if isinstance(metric, (list, tuple)):
            metric = metric[0] if metric else ""
        _core.check_command(self.command, str(metric), space_entries(self.search_space),
                            self.metrics_file or "", self.timeout)


@dataclasses.dataclass
class PipelineObjective:
    """A trial as one run of an mlcore pipeline (see ``pipeline_objective``)."""

    pipeline: Any
    metric: str
    search_space: Optional[Dict[str, Any]] = None
    arguments: Optional[Dict[str, Any]] = None
    experiment: str = "hpo"
    timeout: Optional[float] = None
    max_parallelism: int = 0
    enable_caching: bool = True
    namespace: str = "default"
    home: Optional[str] = None
    busy_timeout: Optional[float] = None  # seconds; None: the pipeline client's default (30)


def pipeline_objective(pipeline, metric, search_space=None, arguments=None, *, experiment="hpo",
                       timeout=None, max_parallelism=0, enable_caching=True,
                       namespace="default", home=None, busy_timeout=None):
    """An objective that runs ``pipeline`` (an ``@mlcore.pipelines.pipeline``) once per trial.

    The trial's parameters (those of ``search_space``, suggested before the run, and those of the
    study's declared space) become pipeline arguments over ``arguments``. The trial's value is
    the run's output named ``metric`` when it is a number, else ``metric`` in the metadata of a
    Metrics artifact of the run. The run id is the trial's user attr "pipeline_run_id"; a failed
    run fails the trial with the run's error. Runs are recorded under ``experiment``.
    ``busy_timeout``: seconds the runs' store calls wait for another connection's write lock
    (None: 30; see mlcore.pipelines.client)."""
    return PipelineObjective(pipeline, metric, search_space, arguments, experiment, timeout,
                             max_parallelism, enable_caching, namespace, home,
                             _busy_timeout(busy_timeout))


def _resources(gpus_per_trial, gpus, cpus_per_trial, cpus):
    return dict(gpus_per_trial=gpus_per_trial or 0,
                gpus=None if gpus is None else [int(g) for g in gpus],
                cpus_per_trial=cpus_per_trial or 0, cpus=cpus or 0)


def _optimize_pipeline(core, objective, limits):
    import json

    from mlcore import pipelines

    if not isinstance(objective.pipeline, pipelines.PipelineDef):
        raise TypeError(f"pipeline_objective takes a @pipeline, not "
                        f"{type(objective.pipeline).__name__}")
    client = pipelines.client(objective.home, objective.namespace, objective.busy_timeout)
    core.optimize_pipeline(
        client, objective.pipeline.build(), objective.metric,
        space_entries(objective.search_space or {}), json.dumps(objective.arguments or {}),
        objective.experiment, objective.timeout, objective.max_parallelism,
        objective.enable_caching, **limits)


def _optimize_command(study, objective, limits):
    metric, metrics = objective.metric, []
    if isinstance(metric, (list, tuple)):
        metrics = [str(m) for m in metric]
        if not metrics:
            raise ValueError("CommandObjective.metric is an empty list")
        metric = metrics[0]
    study._core.optimize_command(
        objective.command, metric, space_entries(objective.search_space),
        format=objective.format, metrics_file=objective.metrics_file or "",
        trial_timeout=objective.timeout, working_dir=objective.working_dir or "",
        env=dict(objective.env or {}), metrics=metrics,
        log_dir=_trial_log_dir(study, objective.log_dir),
        max_log_bytes=check_int("max_log_bytes", objective.max_log_bytes, 1), **limits)


def _catch(catch):
    """optimize's ``catch`` as a tuple of exception classes (Optuna takes one class or a
    tuple)."""
    if catch is None:
        return ()
    classes = tuple(catch) if isinstance(catch, (tuple, list)) else (catch,)
    for c in classes:
        if not (isinstance(c, type) and issubclass(c, BaseException)):
            raise TypeError(f"catch takes exception classes (ValueError, or a tuple of them), "
                            f"not {c!r}")
    return classes


def list_studies(storage=None, busy_timeout=None):
    """The studies of a storage (None: the default SQLite store), oldest first: dicts with
    name, direction, directions, created (seconds since the epoch), n_trials, n_complete,
    n_pruned, n_failed, n_running and best_value (None for no complete trial or several objectives). Reads only:
    trials of dead processes are not recovered. busy_timeout: as for create_study."""
    return list(_core.list_studies("sqlite" if storage is None else str(storage),
                                   busy_timeout=_busy_timeout(busy_timeout)))


def _sampler(sampler, seed):
    seed = check_int("seed", seed, 0, UINT64_MAX, allow_none=True)
    sampler = core_sampler(sampler)
    if isinstance(sampler, _core.Sampler):
        return sampler
    if isinstance(sampler, str):
        return _core.create_sampler(sampler, seed=seed)
    if hasattr(sampler, "sample"):
        return _custom.python_sampler(sampler)
    raise TypeError(f"sampler must be a name, a Sampler or an object with a "
                    f"sample(study, trial, name, distribution) method, not "
                    f"{type(sampler).__name__}")


def _pruner(pruner):
    pruner = core_pruner(pruner)
    if pruner is None or isinstance(pruner, _core.Pruner):
        return pruner
    if isinstance(pruner, str):
        return _core.create_pruner(pruner)
    if hasattr(pruner, "prune"):
        return _custom.python_pruner(pruner)
    raise TypeError(f"pruner must be a name, a Pruner, an object with a prune(study, trial) "
                    f"method or None, not {type(pruner).__name__}")


def _trial_log_dir(study, log_dir):
    """Where a command study's trial logs go (see CommandObjective)."""
    if log_dir is not None:
        return os.fspath(log_dir)
    storage = study.storage
    if storage == "memory":
        return ""
    if "://" in storage:  # a PostgreSQL server: logs stay on this machine's default home
        from .._mlcore import store

        home = store.default_home()
    else:
        home = os.path.dirname(os.path.abspath(storage))
    # One directory per study; characters that could leave it or confuse a shell are escaped.
    safe = "".join(c if c.isalnum() or c in "-_" else f"%{ord(c):02X}" for c in study.name)
    return os.path.join(home, "hpo", "logs", safe)


def _storage(name, storage):
    if storage is None:
        return "" if name else "memory"
    if not isinstance(storage, (str, os.PathLike)):
        raise TypeError(f"storage must be None, 'memory', 'sqlite', 'sqlite:///path.db' or a "
                        f"path, not {type(storage).__name__}")
    storage = os.fspath(storage)
    if storage in ("memory", "sqlite", "") or storage.startswith(("postgresql://", "postgres://")):
        return storage
    # A file in a directory that does not exist is a typo far more often than a wish to create
    # directories: say so rather than make them.
    path = storage[len("sqlite:///"):] if storage.startswith("sqlite:///") else storage
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"storage {storage!r}: directory {parent} does not exist")
    return storage


class Study:
    """A search for the best parameters of one objective (see mlcore.hpo.create_study)."""

    def __init__(self, core):
        self._core = core

    name = property(lambda self: self._core.name)
    direction = property(lambda self: self._core.direction)
    directions = property(lambda self: list(self._core.directions))
    storage = property(lambda self: self._core.storage)

    def set_user_attr(self, key, value):
        """Keeps a note with the study (any JSON-serialisable value), as Optuna's
        study.set_user_attr; stored, so load_study in another process sees it."""
        self._core.set_user_attr(key, value)

    @property
    def user_attrs(self):
        """The study's user attributes: key -> value."""
        return dict(self._core.user_attrs)

    def ask(self):
        return self._core.ask()

    def tell(self, trial, value=None, state=None, error=""):
        """Finishes a trial (a Trial or its number) with its value, or a list of values (one per
        objective) in a multi-objective study. NaN/inf values, or a count of values that is not
        the number of objectives, fail it with the reason."""
        if state is None:
            state = "complete"
        self._core.tell(trial, value, state, error)

    def optimize(
        self,
        objective,
        n_trials=None,
        timeout=None,
        n_parallel=1,
        *,
        max_trials=None,
        max_failed_trials=None,
        goal=None,
        catch=(),
        callbacks=None,
        show_progress_bar=False,
        gpus_per_trial=0,
        gpus=None,
        cpus_per_trial=0,
        cpus=0,
    ):
        """Runs ``objective(trial)`` until a stop condition.

        n_parallel threads run trials at once (the GIL is released between Python calls, so
        objectives that wait on subprocesses, GPUs or I/O overlap). An exception the objective
        raises fails its trial, recorded (and logged) with its traceback; then, as in Optuna,
        the study starts no new trial, waits for the running ones and raises it again, unless
        its class is in ``catch`` (an exception class or a tuple of them), which goes on to the
        next trial. An objective that returns NaN/inf or no number fails its trial and the
        study goes on; raise ``TrialPruned`` after ``trial.should_prune()``. KeyboardInterrupt
        stops the study after the running trials and is re-raised. A CommandObjective or
        ``pipeline_objective`` trial that fails (exit code, timeout, failed run) fails only its
        trial: ``max_failed_trials`` bounds how many. show_progress_bar: a text bar on stderr, or an
        HTML block updated in place in Jupyter (finished/n_trials, failed, best value).

        Resource slots: with ``gpus_per_trial`` each running trial holds that many GPUs for
        itself (from ``gpus``, a list of device ordinals, else every CUDA device); with
        ``cpus_per_trial`` that many of ``cpus`` cores (default: all). A worker waits for free
        slots before it starts a trial, and slots come back when the trial ends in any state.
        The trial sees its devices as ``trial.devices`` (and ``trial.cuda_visible_devices``);
        command trials get CUDA_VISIBLE_DEVICES. ``objective`` may also be a CommandObjective
        or a ``pipeline_objective(...)``.
        """
        n_trials, max_trials, max_failed_trials = (
            check_int(k, v, allow_none=True) for k, v in (
                ("n_trials", n_trials), ("max_trials", max_trials),
                ("max_failed_trials", max_failed_trials)))
        n_parallel = check_int("n_parallel", n_parallel, 1, INT32_MAX)
        resources = _resources(gpus_per_trial, gpus, cpus_per_trial, cpus)
        catch = _catch(catch)
        if isinstance(objective, (CommandObjective, PipelineObjective)):
            if callbacks or show_progress_bar:
                raise ValueError(f"callbacks and show_progress_bar are not supported with a "
                                 f"{type(objective).__name__}")
        limits = dict(n_trials=n_trials or 0, timeout=timeout, n_parallel=n_parallel,
                      max_trials=max_trials or 0, max_failed_trials=max_failed_trials or 0,
                      goal=goal, **resources)
        if isinstance(objective, PipelineObjective):
            _optimize_pipeline(self._core, objective, limits)
        elif isinstance(objective, CommandObjective):
            _optimize_command(self, objective, limits)
        else:
            self._optimize_callable(objective, limits, catch, callbacks, show_progress_bar)

    def _optimize_callable(self, objective, limits, catch, callbacks, show_progress_bar):
        callback = None
        cbs = list(callbacks or [])
        bar = None
        if show_progress_bar:
            from ._progress import ProgressBar

            bar = ProgressBar(n_trials=limits["n_trials"] or None, timeout=limits["timeout"],
                              direction=self.direction)
            cbs.append(bar.update)
        if cbs:

            def callback(record):
                frozen = FrozenTrial(**record)
                for cb in cbs:
                    cb(self, frozen)

        try:
            self._core.optimize(objective, callback=callback, catch=catch, **limits)
        finally:
            if bar is not None:
                bar.close()

    def stop(self):
        self._core.stop()

    def enqueue_trial(self, params):
        """Queues fixed parameters; the next trial uses them."""
        self._core.enqueue(dict(params))

    def add_trial(self, params, distributions, value=None, state="complete",
                  intermediate_values=None, error=""):
        """Adds an evaluated trial (also to a finished study); samplers learn from it."""
        record = self._core.add_trial(
            dict(params), dict(distributions), value, state, dict(intermediate_values or {}), error
        )
        return FrozenTrial(**record)

    @property
    def trials(self):
        return [FrozenTrial(**t) for t in self._core._trials()]

    @property
    def best_trial(self):
        if len(self._core.directions) > 1:
            raise ValueError(f"study {self.name!r} has {len(self._core.directions)} objectives "
                             f"and no single best trial; use study.best_trials (the Pareto front)")
        return FrozenTrial(**self._core._best_trial())

    @property
    def best_trials(self):
        """The Pareto front: complete trials no other complete trial dominates (for one
        objective, the trials tied at the best value)."""
        return [FrozenTrial(**t) for t in self._core._best_trials()]

    @property
    def best_value(self):
        return self.best_trial.value

    @property
    def best_params(self):
        return self.best_trial.params

    def trials_table(self):
        """One row per trial (number, state, value, params_*, user_attrs_*, duration, error;
        built by the C++ TrialsTableOf): a pandas DataFrame when pandas is installed, else a
        list of dicts."""
        columns, cells = _core.trials_table(self._core)
        rows = [dict(zip(columns, row)) for row in cells]
        try:
            import pandas
        except ImportError:
            return rows
        return pandas.DataFrame(rows, columns=columns)

    def __repr__(self):
        return f"Study(name={self.name!r}, direction={self.direction!r}, storage={self.storage!r})"

    def _repr_html_(self):
        """The best trials as a table: the 10 best for one objective, the Pareto front (up to
        10 trials) with one column per objective for several."""
        import html

        directions = self.directions
        if len(directions) > 1:
            trials = self.best_trials[:10]
            value_heads = [f"values[{i}] ({d})" for i, d in enumerate(directions)]
            title = "Pareto front"
        else:
            trials = [t for t in self.trials if t.state == "complete"]
            trials.sort(key=lambda t: t.value, reverse=self.direction == "maximize")
            trials = trials[:10]
            value_heads = ["value"]
            title = "best trials"
        names = sorted({k for t in trials for k in t.params})
        esc = lambda v: html.escape(str(v))  # noqa: E731
        head = "".join(f"<th>{esc(n)}</th>" for n in ["number", *value_heads, *names])
        body = "".join(
            "<tr>"
            + f"<td>{t.number}</td>"
            + "".join(f"<td>{v:.6g}</td>" for v in (t.values or [t.value]))
            + "".join(f"<td>{esc(t.params.get(n, ''))}</td>" for n in names)
            + "</tr>"
            for t in trials
        )
        return (f"<p>Study <b>{esc(self.name)}</b> ({esc(', '.join(directions))}), "
                f"{len(self.trials)} trials, {title}</p><table><tr>{head}</tr>{body}</table>")


def create_study(
    name=None,
    direction=None,
    sampler=None,
    pruner=None,
    storage=None,
    seed=None,
    *,
    load_if_exists=False,
    search_space=None,
    requeue_stale_trials=False,
    directions=None,
    busy_timeout=None,
):
    """Creates a study. storage: None (memory when unnamed, the SQLite store when named),
    "memory", "sqlite", "sqlite:///path.db", a path or "postgresql://user:pass@host:port/db"
    (a PostgreSQL server, docs/postgres.md). busy_timeout: seconds a SQLite storage
    waits for another connection's write lock before a call fails with TimeoutError (None: 30;
    raise it on a network file system or with many writer processes). sampler/pruner: a name
    (sampler None: "auto", which picks GP, TPE or NSGA-II for the space and budget, see
    docs/hpo_samplers.md; "nsga2" with several directions)
    or an object (a Python object with ``sample``/``prune`` methods works too, see
    docs/hpo.md); seed seeds a sampler given by name. search_space: a dict of distributions
    declared up front. directions: one direction per objective for a multi-objective study (its
    objective returns a tuple; see ``best_trials``); give either direction or directions."""
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"name must be a non-empty string, or None for an unnamed in-memory "
                         f"study; got {name!r}")
    if directions is not None:
        if direction is not None:
            raise ValueError("give direction or directions, not both")
        directions = list(directions)
        if not directions:
            raise ValueError("directions must name at least one direction")
        for d in directions:
            if d not in ("minimize", "maximize"):
                raise ValueError(f"directions must be 'minimize' or 'maximize', not {d!r}")
        direction = directions[0]
        if len(directions) > 1:
            if sampler == "tpe":
                raise ValueError("sampler 'tpe' optimizes one objective; a study with several "
                                 "directions takes 'nsga2' (its default when sampler is None)")
            if sampler is None:
                sampler = "nsga2"
    if sampler is None:
        sampler = "auto"
    if direction is None:
        direction = "minimize"
    if direction not in ("minimize", "maximize"):
        raise ValueError(f"direction must be 'minimize' or 'maximize', not {direction!r}")
    core = _core.Study.create(
        name or "",
        direction,
        _sampler(sampler, seed),
        _pruner(pruner),
        _storage(name, storage),
        load_if_exists,
        requeue_stale_trials,
        space_entries(search_space),
        directions if directions and len(directions) > 1 else [],
        _busy_timeout(busy_timeout),
    )
    return Study(core)


def load_study(name, storage=None, sampler=None, pruner=None, seed=None, *,
               requeue_stale_trials=False, busy_timeout=None, recover_stale_trials=True):
    """Opens a stored study. Trials left running by processes that died are marked failed, or
    re-queued with requeue_stale_trials=True; recover_stale_trials=False leaves them as stored
    (for reading a study without changing it). sampler None: "auto" (NSGA-II for a
    multi-objective study), seeded with ``seed`` when given. busy_timeout: as for
    create_study."""
    if sampler is None and seed is not None:
        sampler = "auto"
    core = _core.Study.load(
        name, None if sampler is None else _sampler(sampler, seed), _pruner(pruner),
        _storage(name, storage), requeue_stale_trials, _busy_timeout(busy_timeout),
        recover_stale_trials
    )
    return Study(core)
