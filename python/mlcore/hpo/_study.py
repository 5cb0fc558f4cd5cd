"""Study and FrozenTrial: the Python face of mlcore::hpo::Study."""

import dataclasses
from typing import Any, Dict, Optional

from .._mlcore import hpo as _core
from ._distributions import space_entries


@dataclasses.dataclass(frozen=True)
class FrozenTrial:
    """A finished (or running) trial as stored: read-only."""

    number: int
    state: str
    value: Optional[float]
    params: Dict[str, Any]
    distributions: Dict[str, Any]
    intermediate_values: Dict[int, float]
    error: str
    started: Optional[float]
    finished: Optional[float]

    @property
    def duration(self):
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started


@dataclasses.dataclass
class CommandObjective:
    """A trial as a subprocess: ``command`` with ``{param}`` placeholders, run with /bin/sh; the
    last ``metric`` it prints (Katib's ``name=value`` text, or JSON lines with format="json",
    or a JSON-lines ``metrics_file``) is the trial's value, earlier ones are intermediate values.
    A crash, a run past ``timeout`` seconds or a missing metric fails the trial with the reason.
    The whole trial runs in C++ with the GIL released."""

    command: str
    metric: str
    search_space: Dict[str, Any]
    format: str = "text"
    metrics_file: Optional[str] = None
    timeout: Optional[float] = None
    working_dir: Optional[str] = None
    env: Optional[Dict[str, str]] = None


def _sampler(sampler, seed):
    if isinstance(sampler, _core.Sampler):
        return sampler
    if isinstance(sampler, str):
        return _core.create_sampler(sampler, seed=seed)
    raise TypeError(f"sampler must be a name or a Sampler, not {type(sampler).__name__}")


def _pruner(pruner):
    if pruner is None or isinstance(pruner, _core.Pruner):
        return pruner
    if isinstance(pruner, str):
        return _core.create_pruner(pruner)
    raise TypeError(f"pruner must be a name, a Pruner or None, not {type(pruner).__name__}")


def _storage(name, storage):
    if storage is None:
        return "" if name else "memory"
    return str(storage)


class Study:
    """A search for the best parameters of one objective (see mlcore.hpo.create_study)."""

    def __init__(self, core):
        self._core = core

    name = property(lambda self: self._core.name)
    direction = property(lambda self: self._core.direction)
    storage = property(lambda self: self._core.storage)

    def ask(self):
        return self._core.ask()

    def tell(self, trial, value=None, state=None, error=""):
        """Finishes a trial (a Trial or its number). NaN/inf values fail it with the reason."""
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
        callbacks=None,
    ):
        """Runs ``objective(trial)`` until a stop condition.

        n_parallel threads run trials at once (the GIL is released between Python calls, so
        objectives that wait on subprocesses, GPUs or I/O overlap). An objective that raises or
        returns NaN/inf fails its trial with the reason and the study goes on; raise
        ``TrialPruned`` after ``trial.should_prune()``. KeyboardInterrupt stops the study after
        the running trials and is re-raised.
        """
        if isinstance(objective, CommandObjective):
            if callbacks:
                raise ValueError("callbacks are not supported with a CommandObjective")
            self._core.optimize_command(
                objective.command, objective.metric, space_entries(objective.search_space),
                objective.format, objective.metrics_file or "", objective.timeout,
                objective.working_dir or "", dict(objective.env or {}), n_trials or 0, timeout,
                n_parallel, max_trials or 0, max_failed_trials or 0, goal)
            return
        callback = None
        if callbacks:
            cbs = list(callbacks)

            def callback(record):
                frozen = FrozenTrial(**record)
                for cb in cbs:
                    cb(self, frozen)

        self._core.optimize(
            objective,
            n_trials=n_trials or 0,
            timeout=timeout,
            n_parallel=n_parallel,
            max_trials=max_trials or 0,
            max_failed_trials=max_failed_trials or 0,
            goal=goal,
            callback=callback,
        )

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
        return FrozenTrial(**self._core._best_trial())

    @property
    def best_value(self):
        return self.best_trial.value

    @property
    def best_params(self):
        return self.best_trial.params

    def trials_table(self):
        """One row per trial (number, state, value, params_*, duration, error): a pandas
        DataFrame when pandas is installed, else a list of dicts."""
        rows = []
        for t in self.trials:
            row = {"number": t.number, "state": t.state, "value": t.value}
            for k, v in t.params.items():
                row[f"params_{k}"] = v
            row["duration"] = t.duration
            row["error"] = t.error
            rows.append(row)
        try:
            import pandas
        except ImportError:
            return rows
        return pandas.DataFrame(rows)

    def __repr__(self):
        return f"Study(name={self.name!r}, direction={self.direction!r}, storage={self.storage!r})"

    def _repr_html_(self):
        trials = [t for t in self.trials if t.state == "complete"]
        trials.sort(key=lambda t: t.value, reverse=self.direction == "maximize")
        names = sorted({k for t in trials for k in t.params})
        head = "".join(f"<th>{n}</th>" for n in ["number", "value", *names])
        body = "".join(
            "<tr>"
            + f"<td>{t.number}</td><td>{t.value:.6g}</td>"
            + "".join(f"<td>{t.params.get(n, '')}</td>" for n in names)
            + "</tr>"
            for t in trials[:10]
        )
        return (f"<p>Study <b>{self.name}</b> ({self.direction}), {len(self.trials)} trials"
                f"</p><table><tr>{head}</tr>{body}</table>")


def create_study(
    name=None,
    direction="minimize",
    sampler="tpe",
    pruner=None,
    storage=None,
    seed=None,
    *,
    load_if_exists=False,
    search_space=None,
    requeue_stale_trials=False,
):
    """Creates a study. storage: None (memory when unnamed, the SQLite store when named),
    "memory", "sqlite", "sqlite:///path.db" or a path. sampler/pruner: a name or an object;
    seed seeds a sampler given by name. search_space: a dict of distributions declared up front."""
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
    )
    return Study(core)


def load_study(name, storage=None, sampler="tpe", pruner=None, seed=None, *,
               requeue_stale_trials=False):
    """Opens a stored study. Trials left running by processes that died are marked failed, or
    re-queued with requeue_stale_trials=True."""
    core = _core.Study.load(
        name, _sampler(sampler, seed), _pruner(pruner), _storage(name, storage),
        requeue_stale_trials
    )
    return Study(core)


