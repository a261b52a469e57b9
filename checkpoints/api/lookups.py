"""The API's lookups (through `selectors`, like every door): another team's project, or
one the token is not scoped to, answers exactly like a missing one (404), and whatever is
missing answers the sentence every door answers."""

from __future__ import annotations

from django.http import HttpRequest

from checkpoints.models import AgentProject, Job, Preview, ShareLink, Version
from checkpoints.refusals import (
    MAX_ID,
    job_not_found,
    preview_not_found,
    project_not_found,
    share_not_found,
    version_not_found,
)
from checkpoints.rules import permissions, selectors
from checkpoints.tokens import token_projects


def project_of(request: HttpRequest, pk: int) -> AgentProject:
    project = None
    if 0 <= pk <= MAX_ID:
        project = token_projects(request.api_token).filter(pk=pk).first()
    if project is None:
        raise project_not_found(pk)
    return project


def role_of(request: HttpRequest, project: AgentProject) -> str | None:
    return permissions.role_for(request.user, project)


def version_of(project: AgentProject, number: int) -> Version:
    """The live version `number`, else the latest deleted one (so it can answer 422)."""
    version = selectors.version_find(project=project, number=number)
    if version is None:
        raise version_not_found(project.pk, number)
    return version


def preview_of(project: AgentProject, pk: int) -> Preview:
    preview = selectors.preview_find(project=project, pk=pk)
    if preview is None:
        raise preview_not_found(project.pk, pk)
    return preview


def share_of(project: AgentProject, pk: int) -> ShareLink:
    share = selectors.share_find(project=project, pk=pk)
    if share is None:
        raise share_not_found(project.pk, pk)
    return share


def job_of(project: AgentProject, pk: int) -> Job:
    job = selectors.job_find(project=project, pk=pk)
    if job is None:
        raise job_not_found(project.pk, pk)
    return job
