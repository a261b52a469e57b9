"""What an MCP call looks up (through `selectors`, like every door) or starts: another
team's project answers like a missing one, whatever is missing answers the sentence every
door answers, and a job an agent starts is marked `via: mcp` (the worker writes it into
its Activity)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

from checkpoints.mcp.auth import current_token
from checkpoints.mcp.failures import ToolFailure
from checkpoints.models import AgentProject, Job, Preview, ShareLink, Version
from checkpoints.queue.housekeeping import housekeeping_yield
from checkpoints.refusals import (
    MAX_ID,
    Refusal,
    job_not_found,
    preview_not_found,
    project_not_found,
    share_not_found,
    version_not_found,
)
from checkpoints.rules import selectors
from checkpoints.tokens import token_projects

VIA = "mcp"


def _missing(refusal: Refusal) -> ToolFailure:
    return ToolFailure(refusal.code, refusal.message)


def project_for(user: Any, project_id: int) -> AgentProject:
    """The project among those the call's token reaches (its scope), else not found."""
    project = None
    if 0 <= project_id <= MAX_ID:
        project = token_projects(current_token()).filter(pk=project_id).first()
    if project is None:
        raise _missing(project_not_found(project_id))
    return project


def version_for(project: AgentProject, number: int) -> Version:
    version = selectors.version_find(project=project, number=number)
    if version is None:
        raise _missing(version_not_found(project.pk, number))
    return version


def preview_for(project: AgentProject, pk: int) -> Preview:
    preview = selectors.preview_find(project=project, pk=pk)
    if preview is None:
        raise _missing(preview_not_found(project.pk, pk))
    return preview


def share_for(project: AgentProject, pk: int) -> ShareLink:
    share = selectors.share_find(project=project, pk=pk)
    if share is None:
        raise _missing(share_not_found(project.pk, pk))
    return share


def job_for(project: AgentProject, pk: int) -> Job:
    job = selectors.job_find(project=project, pk=pk)
    if job is None:
        raise _missing(job_not_found(project.pk, pk))
    return job


def started(start: Callable[[], Job], project: AgentProject | None = None) -> Job:
    """Start a job through its service and mark it as asked for over MCP.

    The service enqueues on commit: inside this transaction the worker cannot see the job
    before it is marked. Housekeeping holding `project` gives way first, outside it (a
    running tier move must see the request to stop before this transaction commits)."""
    if project is not None:
        housekeeping_yield(project)
    with transaction.atomic():
        job = start()
        job.result = {**job.result, "via": VIA}
        Job.objects.filter(pk=job.pk).update(result=job.result)
    return job
