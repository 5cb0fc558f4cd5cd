"""FrozenTrial: a trial as stored, as Python sees it (samplers, callbacks, study.trials)."""

import dataclasses
from typing import Any, Dict, List, Optional


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
    # One value per objective (``[value]`` in a single-objective study); None without a value.
    values: Optional[List[float]] = None
    # What the objective attached (trial.set_user_attr), e.g. "pipeline_run_id".
    user_attrs: Dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def duration(self):
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started
