"""Use cases on a job itself: cancel it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils import timezone

from checkpoints.errors import JOB_CANCELLED, JOB_NOT_RUNNING, JobNotRunning
from checkpoints.models import Job
from checkpoints.queue.job_state import job_transition
from checkpoints.rules import permissions

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def job_cancel(*, job: Job, user: User) -> Job:
    """Cancel `job`: at once if it is still queued; if it runs, ask its worker to stop.

    The worker honours the request at the next point where stopping leaves nothing
    half-applied (the version SQL's statement is cancelled and its transaction rolled
    back); past the last such point (e.g. a swap under way) the job finishes normally."""
    permissions.require(user, job.project, "job_cancel")
    now = timezone.now()
    who = user.get_username()
    if job.state == Job.State.QUEUED and job_transition(
        job.pk,
        Job.State.CANCELLED,
        only_from=(Job.State.QUEUED,),
        error=JOB_CANCELLED.format(who=who),
        finished_at=now,
        cancel_requested_at=now,
    ):
        return Job.objects.get(pk=job.pk)
    asked = Job.objects.filter(
        pk=job.pk, state=Job.State.RUNNING, cancel_requested_at__isnull=True
    ).update(cancel_requested_at=now)
    job.refresh_from_db()
    if job.state not in Job.UNFINISHED and not asked:
        raise JobNotRunning(JOB_NOT_RUNNING.format(state=job.get_state_display().lower()))
    return job
