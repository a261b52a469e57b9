"""How the command line runs a job it started: to completion in this process
(`job_execute`); if a worker claimed it first, it waits for that worker, woken by the
job's notifications (`job_waits`, as pages, the API and MCP wait). A failure is refused
with the job's error code, as every door refuses it."""

from __future__ import annotations

import time

from checkpoints.jobs.run import job_execute
from checkpoints.management.project_command import Refused
from checkpoints.models import Job
from checkpoints.queue import job_waits

JOB_FAILED = "{kind} failed: {error}"
JOB_UNFINISHED = "The job {job} did not finish within {seconds:g} s; it is {state}."
WAIT_SECONDS = 600.0


def job_run(job: Job, *, seconds: float = WAIT_SECONDS) -> Job:
    """Run `job` here (or wait for the worker that runs it); its finished state."""
    job_execute(job.pk)
    deadline = time.monotonic() + seconds
    job.refresh_from_db()
    while not job.is_finished and time.monotonic() < deadline:
        found = job_waits.job_wait_news(
            job.pk, job_waits.job_marker(job), deadline - time.monotonic()
        )
        if found is None:
            break
        job = found
    if not job.is_finished:
        message = JOB_UNFINISHED.format(job=job.pk, seconds=seconds, state=job.state)
        raise Refused(code="timeout", message=message)
    if job.state in (Job.State.FAILED, Job.State.CANCELLED):
        message = JOB_FAILED.format(kind=job.get_kind_display(), error=job.error)
        raise Refused(code=job.result.get("error_code") or "job_failed", message=message)
    return Job.objects.select_related("project", "preview").get(pk=job.pk)
