"""MCP calls for jobs: find one, follow its steps, answer it as every door does, cancel it."""

from __future__ import annotations

from typing import Any

from checkpoints import doorframe, services
from checkpoints.mcp.auth import current_token
from checkpoints.mcp.failures import ToolFailure
from checkpoints.mcp.lookups import job_for, project_for
from checkpoints.models import Job
from checkpoints.queue import job_waits


def job_find(*, project_id: int, job_id: int) -> int:
    project = project_for(current_token().user, project_id)
    return job_for(project, job_id).pk  # a read: stale jobs are the worker's to reap


def job_news(*, job_id: int, seen: str, seconds: float) -> tuple[bool, list[dict[str, Any]], str]:
    """Once the job no longer looks like `seen` (or `seconds` pass): whether it finished,
    its steps so far (for progress notifications) and how it looks now."""
    job = job_waits.job_wait_news(job_id, seen, seconds)
    if job is None:  # its project was deleted meanwhile
        return True, [], seen
    return job.is_finished, list(job.steps), job_waits.job_marker(job)


def job_answer(*, job_id: int, reveal: bool = False) -> dict[str, Any]:
    """The job as every door answers it (`doorframe.job_answer`); a preview it opened
    carries its connection string, masked unless `reveal`."""
    token = current_token()
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        raise ToolFailure("not_found", "The job's project was deleted.")
    return doorframe.job_answer(job, user=token.user, token=token, reveal=reveal)


def job_cancel(*, project_id: int, job_id: int) -> dict[str, Any]:
    """Cancel a job: at once if it is queued, at its next safe point if it runs."""
    token = current_token()
    job = job_for(project_for(token.user, project_id), job_id)
    job = services.job_cancel(job=job, user=token.user)
    return doorframe.job_answer(job, user=token.user, token=token)
