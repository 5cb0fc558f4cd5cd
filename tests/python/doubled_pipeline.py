"""A one-task pipeline for the busy_timeout tests: imported where they run it in-process, its
source written to a file where the command line or the scheduler imports it by path."""

from mlcore import pipelines as mp


@mp.component(caching=False)
def double(x: int) -> int:
    return x * 2


@mp.pipeline
def doubled(x: int = 4):
    return double(x=x).output
