"""Waiting for a job, woken by its notifications (`jobs_live`: NOTIFY), on every door: the
page's status request and the API's `?wait=true` (bounded in time and in how many waits
one token or user holds at once: past that they answer at once), each MCP tool's wait
(one progress notification per news) and the command line's wait for a worker."""

from __future__ import annotations

import hashlib

from django.conf import settings

from checkpoints.models import Job
from checkpoints.queue import jobs_live


def _slots() -> int:
    return int(settings.CHECKPOINTS_WAITS_PER_OWNER)


def job_marker(job: Job) -> str:
    """A short digest of what the progress panel shows of `job` (its state and steps)."""
    seen = repr((str(job.state), job.steps, job.error, job.cancel_requested_at is not None))
    return hashlib.sha1(seen.encode()).hexdigest()[:12]


def job_wait_finished(
    job: Job, seconds: float, *, token_id: int | None = None, user_id: int | None = None
) -> bool:
    """Wait up to `seconds` for `job` to finish, if token `token_id` (or user `user_id`)
    has a free slot. Answers whether it waited (False: all of its slots are taken)."""
    state = Job.objects.filter(pk=job.pk).values_list("state", flat=True)
    if token_id is not None:
        namespace, owner = jobs_live.WAIT_SLOT_TOKEN, token_id
    else:
        namespace, owner = jobs_live.WAIT_SLOT_USER, int(user_id or 0)
    with jobs_live.wait_slot(namespace, owner, slots=_slots()) as free:
        if free:
            jobs_live.job_wait(job.pk, seconds, done=lambda: state.first() in (None, *Job.FINISHED))
    return free


def job_wait_news(job_id: int, seen: str, seconds: float) -> Job | None:
    """Wait up to `seconds` until job `job_id` has finished or no longer looks like `seen`
    (a `job_marker`); the job as it is then (None: its project was deleted meanwhile)."""
    rows = Job.objects.filter(pk=job_id)

    def news() -> bool:
        now = rows.first()
        return now is None or now.is_finished or job_marker(now) != seen

    jobs_live.job_wait(job_id, seconds, done=news)
    return rows.first()


def job_wait_changed(job: Job, seen: str, *, user_id: int) -> bool:
    """Wait (`CHECKPOINTS_STATUS_WAIT_SECONDS` at most) until `job` no longer looks like
    `seen` (a `job_marker`), if the user has a free slot. Answers whether it waited."""
    if job.is_finished or seen != job_marker(job):
        return True  # already news: answer at once
    seconds = float(settings.CHECKPOINTS_STATUS_WAIT_SECONDS)
    with jobs_live.wait_slot(jobs_live.WAIT_SLOT_USER, user_id, slots=_slots()) as free:
        if free:
            job_wait_news(job.pk, seen, seconds)
    return free
