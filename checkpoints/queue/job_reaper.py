"""Fail the jobs a dead worker left unfinished: the worker calls this every few seconds
(and an enqueue, a POST, before it claims the project), never a page or a status read."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from checkpoints.models import AgentProject, Job
from checkpoints.queue import jobs_live
from checkpoints.queue.job_state import job_transition

JOB_STALE = (
    "The worker running this job stopped responding (it was probably restarted). "
    "Nothing more will run for this job; the project shows what the engine holds."
)
JOB_NEVER_STARTED = "This job was never picked up by a worker."
#: A running job whose heartbeat is older than this is considered dead.
STALE_AFTER = timedelta(seconds=60)
#: A queued job no worker took within this long is considered lost.
QUEUED_TIMEOUT = timedelta(minutes=10)


def jobs_fail_stale(*, project: AgentProject | None = None) -> int:
    """Mark jobs left unfinished by a dead worker as failed; return how many.

    A running job's task beats every few seconds (`Job.heartbeat_at`); one that stopped
    beating is failed only if no live worker holds its project's lock (a worker whose
    heartbeat thread is stuck still holds it). A queued job no worker took is failed too.
    The task never runs again (django_tasks_db does not retry), so no work is repeated;
    the next job reconciles the project's active branch with what the engine reports.
    """
    now = timezone.now()
    jobs = Job.objects.filter(state__in=Job.UNFINISHED)
    if project is not None:
        jobs = jobs.filter(project=project)
    count = 0
    for job in jobs:
        beat = job.heartbeat_at or job.started_at
        if job.state == Job.State.RUNNING and beat and now - beat > STALE_AFTER:
            with transaction.atomic():
                if jobs_live.project_lock_free(job.project_id):
                    count += job_transition(
                        job.pk,
                        Job.State.FAILED,
                        only_from=(Job.State.RUNNING,),
                        error=JOB_STALE,
                        finished_at=now,
                    )
        elif job.state == Job.State.QUEUED and now - job.created_at > QUEUED_TIMEOUT:
            count += job_transition(
                job.pk,
                Job.State.FAILED,
                only_from=(Job.State.QUEUED,),
                error=JOB_NEVER_STARTED,
                finished_at=now,
            )
    return count
