"""The API's lookups: another team's project, or one the token is not scoped to, answers
exactly like a missing one (404)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest

from checkpoints import permissions
from checkpoints.models import AgentProject, Job, Preview, Version
from checkpoints.refusals import MAX_ID, MAX_NUMBER, not_found, project_not_found
from checkpoints.tokens import token_projects


def project_of(request: HttpRequest, pk: int) -> AgentProject:
    if not 0 <= pk <= MAX_ID:
        raise project_not_found(pk)
    project = token_projects(request.api_token).filter(pk=pk).first()
    if project is None:
        raise project_not_found(pk)
    return project


def role_of(request: HttpRequest, project: AgentProject) -> str | None:
    return permissions.role_for(request.user, project)


def versions_of(project: AgentProject) -> QuerySet[Version]:
    return project.versions.select_related("parent", "created_by", "deleted_by")


def version_of(project: AgentProject, number: int) -> Version:
    """The live version `number`, else the latest deleted one (so it can answer 422)."""
    if number > MAX_NUMBER:
        raise not_found()
    versions = versions_of(project).filter(number=number)
    version = versions.filter(deleted_at__isnull=True).first() or versions.order_by("-pk").first()
    if version is None:
        raise not_found()
    return version


def preview_of(project: AgentProject, pk: int) -> Preview:
    if pk > MAX_ID:
        raise not_found()
    preview = project.previews.select_related("version", "project").filter(pk=pk).first()
    if preview is None:
        raise not_found()
    return preview


def job_of(project: AgentProject, pk: int) -> Job:
    job = project.jobs.filter(pk=pk).first() if pk <= MAX_ID else None
    if job is None:
        raise not_found()
    return job
