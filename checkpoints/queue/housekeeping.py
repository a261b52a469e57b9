"""Housekeeping gives way: a tier move (queued after saves, by cleanup, by Pin/Unpin) never
makes a project busy for the person or agent who asks for something. Their action
supersedes it: a queued tier move is cancelled at once; a running one is asked to stop (it
does between two versions, so nothing is left half-moved) and waited for, bounded, on its
notifications. The next save or cleanup queues the move again.

(Warm-ups already run beside: they hold the engine's lock only for a catalog step, which a
mutation waits for; see engines/local/core.py.)"""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from checkpoints.models import AgentProject, Job
from checkpoints.queue import jobs_live
from checkpoints.queue.job_state import job_transition

#: Job kinds that are housekeeping: no one asked for them, and they stop when asked.
HOUSEKEEPING_KINDS = (Job.Kind.TIER_MOVE,)
#: How long an action waits for a running tier move to finish the version it is moving.
YIELD_WAIT_SECONDS = 30.0
SUPERSEDED = "Superseded by an action a person or agent asked for: it runs again later."


def housekeeping_yield(project: AgentProject, *, seconds: float = YIELD_WAIT_SECONDS) -> bool:
    """Make the project's unfinished housekeeping job give way. True when there was one and
    it has now ended (the caller may then claim the project); False when the project is
    held by something else (or the housekeeping did not stop within `seconds`)."""
    job = (
        Job.objects.filter(project=project, state__in=Job.UNFINISHED)
        .only("pk", "kind", "state")
        .first()
    )
    if job is None or job.kind not in HOUSEKEEPING_KINDS:
        return False
    now = timezone.now()
    if job_transition(
        job.pk,
        Job.State.CANCELLED,
        only_from=(Job.State.QUEUED,),
        cancel_requested_at=now,
        finished_at=now,
        error=SUPERSEDED,
    ):
        return True
    if connection.in_atomic_block:
        return False  # the request to stop would not be seen by the worker before our commit
    Job.objects.filter(pk=job.pk, cancel_requested_at__isnull=True).update(cancel_requested_at=now)
    rows = Job.objects.filter(pk=job.pk, state__in=Job.UNFINISHED)
    jobs_live.job_wait(job.pk, seconds, done=lambda: not rows.exists())
    return not rows.exists()
