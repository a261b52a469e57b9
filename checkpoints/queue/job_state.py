"""A job's state only moves forward: the one place that changes `Job.state`.

    queued → running → succeeded | failed | cancelled
    queued → failed | cancelled          (never picked up, or cancelled while waiting)

Every change is one conditional UPDATE (`… WHERE state IN (the states it may come
from)`), so two writers racing (the worker finishing a job, the reaper failing it, an
operator cancelling it) cannot move a job backwards: the loser updates nothing. (Each
update of a job row is announced on `jobs_live.JOB_CHANNEL` by a trigger.)
"""

from __future__ import annotations

from typing import Any

from checkpoints.models import Job

State = Job.State

#: target state -> the states a job may reach it from
FORWARD: dict[str, tuple[str, ...]] = {
    State.RUNNING: (State.QUEUED,),
    State.SUCCEEDED: (State.RUNNING,),
    State.FAILED: (State.QUEUED, State.RUNNING),
    State.CANCELLED: (State.QUEUED, State.RUNNING),
}


def job_transition(job_id: int, to: str, *, only_from: tuple[str, ...] = (), **fields: Any) -> bool:
    """Move job `job_id` to state `to` (and set `fields`) if that is a step forward.

    `only_from` narrows the allowed sources (e.g. the reaper fails a running job only if it
    is still running). Answers whether the job moved."""
    sources = FORWARD[to]
    if only_from:
        sources = tuple(state for state in sources if state in only_from)
    return bool(Job.objects.filter(pk=job_id, state__in=sources).update(state=to, **fields))
