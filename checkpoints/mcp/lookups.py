"""What an MCP call looks up or starts: another team's project answers like a missing one,
and a job an agent starts is marked `via: mcp` (the worker writes it into its Activity)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import Http404

from checkpoints import selectors
from checkpoints.housekeeping import housekeeping_yield
from checkpoints.mcp.auth import current_token
from checkpoints.mcp.failures import ToolFailure
from checkpoints.models import AgentProject, Job, Version
from checkpoints.refusals import MAX_ID, MAX_NUMBER, project_not_found
from checkpoints.tokens import token_projects

VIA = "mcp"
VERSION_NOT_FOUND = "Project {project} has no version {number} (see list_versions)."


def project_for(user: Any, project_id: int) -> AgentProject:
    """The project among those the call's token reaches (its scope), else not found."""
    project = None
    if 0 <= project_id <= MAX_ID:
        token = current_token()
        project = token_projects(token).filter(pk=project_id).first()
    if project is None:
        missing = project_not_found(project_id)
        raise ToolFailure(missing.code, missing.message)
    return project


def version_for(project: AgentProject, number: int) -> Version:
    try:
        if not 0 <= number <= MAX_NUMBER:
            raise Http404
        return selectors.version_get(project=project, number=number)
    except Http404:
        message = VERSION_NOT_FOUND.format(project=project.pk, number=number)
        raise ToolFailure("not_found", message) from None


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
