"""FrozenTrial: a trial as stored, as Python sees it (samplers, callbacks, study.trials)."""

import dataclasses
import enum
from typing import Any, Dict, List, Optional


class TrialState(str, enum.Enum):
    """A trial's state, as Optuna's TrialState names it. Each member is also its stored string
    (``TrialState.COMPLETE == "complete"``, ``str(state)``, f-strings and json give
    "complete"), so code written against the strings keeps working."""

    RUNNING = "running"
    WAITING = "waiting"
    COMPLETE = "complete"
    PRUNED = "pruned"
    FAIL = "failed"
    FAILED = "failed"  # an alias of FAIL, the stored name

    def __str__(self):
        return self.value

    def __format__(self, spec):
        return format(self.value, spec)

    def __hash__(self):  # as its string's, so `state in {"complete", "pruned"}` still works
        return hash(self.value)

    def is_finished(self):
        """True for complete, pruned and failed trials."""
        return self in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclasses.dataclass(frozen=True)
class FrozenTrial:
    """A finished (or running) trial as stored: read-only."""

    number: int
    state: TrialState  # compares equal to its string ("complete", "pruned", ...)
    value: Optional[float]
    params: Dict[str, Any]
    distributions: Dict[str, Any]
    intermediate_values: Dict[int, float]
    error: str
    started: Optional[float]
    finished: Optional[float]
    # One value per objective (``[value]`` in a single-objective study); None without a value.
    values: Optional[List[float]] = None
    # What the objective attached (trial.set_user_attr), e.g. "pipeline_run_id".
    user_attrs: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "state", TrialState(self.state))

    @property
    def duration(self):
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    def log(self, stream: str = "stdout", max_bytes: int = 1 << 20) -> Optional[str]:
        """The last ``max_bytes`` of this trial's ``"stdout"`` or ``"stderr"`` log, as text, for
        a trial that kept one (a CommandObjective's trials do: their paths are the user
        attributes ``stdout_path``/``stderr_path``); None when it kept none or the file is
        gone. Read again while the trial runs to follow it."""
        if stream not in ("stdout", "stderr"):
            raise ValueError(f"stream must be 'stdout' or 'stderr', not {stream!r}")
        path = self.user_attrs.get(f"{stream}_path")
        if not isinstance(path, str):
            return None
        try:
            with open(path, "rb") as f:
                size = f.seek(0, 2)
                f.seek(max(0, size - int(max_bytes)))
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return None
