"""Issue 12, record 2: a negative max_parallelism or cpu_slots recorded a succeeded run with
no outputs while its task stayed pending for ever. Now nothing is recorded and the call fails."""
import pytest

import mlcore
from mlcore import pipelines


@mlcore.component
def double(x: int) -> int:
    return 2 * x


@mlcore.pipeline
def one_step(x: int = 3):
    return double(x=x).output


@pytest.mark.parametrize("kwargs", [dict(max_parallelism=-1), dict(cpu_slots=-1),
                                    dict(gpu_slots=-2), dict(cpu_slots=float("nan"))])
def test_negative_limits_are_refused_before_anything_is_recorded(kwargs):
    with pytest.raises(ValueError, match="must be >= 0|>= -1"):
        mlcore.run(one_step, **kwargs)
    assert pipelines.runs() == []
    assert mlcore.run(one_step).wait().state == "succeeded"
