"""Job kind -> its runner: `@runner(Job.Kind.…)` registers one as `checkpoints.jobs` loads
its modules, and `run.job_execute` looks the job's kind up here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: A runner takes the `run.JobRun` (typed Any: run.py imports this module, not the reverse).
Runner = Callable[[Any], object]

#: Job kind -> its runner (filled by `@runner` as `checkpoints.jobs` loads its modules).
RUNNERS: dict[str, Runner] = {}


def runner[R: Runner](*kinds: str) -> Callable[[R], R]:
    """Register the decorated function as the runner of `kinds`."""

    def register(function: R) -> R:
        for kind in kinds:
            RUNNERS[kind] = function
        return function

    return register
