"""Reads scoped to the user: every view fetches through these, so others' ids answer 404."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from checkpoints.errors import (
    JOB_NOT_FOUND,
    PREVIEW_NOT_FOUND,
    PROJECT_NOT_FOUND,
    SHARE_NOT_FOUND,
    VERSION_NOT_FOUND,
)
from checkpoints.models import Activity, AgentProject, Job, Preview, ShareLink, Version
from checkpoints.security.input_guard import MAX_ID

#: Largest version number (an integer column).
MAX_NUMBER = 2**31 - 1

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def projects_for(user: AbstractBaseUser) -> QuerySet[AgentProject]:
    """Projects of the teams the user belongs to."""
    return AgentProject.objects.filter(team__memberships__user=user).select_related(
        "current_version", "team", "connection"
    )


def project_find(*, user: AbstractBaseUser, pk: int) -> AgentProject | None:
    """The user's project `pk`, else None (missing, another team's, or an id out of range):
    every door looks a project up here and answers its own "not found"."""
    if not 0 <= pk <= MAX_ID:
        return None
    return projects_for(user).filter(pk=pk).first()


def project_get(*, user: AbstractBaseUser, pk: int) -> AgentProject:
    project = project_find(user=user, pk=pk)
    if project is None:
        raise Http404(PROJECT_NOT_FOUND.format(id=pk))
    return project


def versions_live(*, project: AgentProject) -> QuerySet[Version]:
    return project.versions.filter(deleted_at__isnull=True).order_by("number")


def version_find(*, project: AgentProject, number: int) -> Version | None:
    """The live version `number`, else the latest deleted one (services then refuse it
    with a readable message instead of a 404), else None. Every door looks versions,
    previews, share links and jobs up here and answers its own "not found" with the
    sentence of `errors` (`*_NOT_FOUND`)."""
    if not 0 <= number <= MAX_NUMBER:
        return None
    versions = project.versions.select_related("parent", "created_by", "deleted_by")
    versions = versions.filter(number=number)
    return versions.filter(deleted_at__isnull=True).first() or versions.order_by("-pk").first()


def version_get(*, project: AgentProject, number: int) -> Version:
    version = version_find(project=project, number=number)
    if version is None:
        raise Http404(VERSION_NOT_FOUND.format(project=project.pk, number=number))
    return version


def preview_find(*, project: AgentProject, pk: int) -> Preview | None:
    if not 0 <= pk <= MAX_ID:
        return None
    return project.previews.select_related("version", "project").filter(pk=pk).first()


def share_find(*, project: AgentProject, pk: int) -> ShareLink | None:
    if not 0 <= pk <= MAX_ID:
        return None
    shares = project.shares.select_related("version", "created_by", "preview", "project")
    return shares.filter(pk=pk).first()


def job_find(*, project: AgentProject, pk: int) -> Job | None:
    if not 0 <= pk <= MAX_ID:
        return None
    return project.jobs.select_related("target_version", "project").filter(pk=pk).first()


def previews_live(*, project: AgentProject) -> QuerySet[Preview]:
    return project.previews.filter(
        discarded_at__isnull=True, expires_at__gt=timezone.now()
    ).select_related("version")


def preview_get(*, project: AgentProject, pk: int) -> Preview:
    preview = preview_find(project=project, pk=pk)
    if preview is None:
        raise Http404(PREVIEW_NOT_FOUND.format(project=project.pk, id=pk))
    return preview


def job_get(*, project: AgentProject, pk: int) -> Job:
    job = job_find(project=project, pk=pk)
    if job is None:
        raise Http404(JOB_NOT_FOUND.format(project=project.pk, id=pk))
    return job


def share_get(*, project: AgentProject, pk: int) -> ShareLink:
    share = share_find(project=project, pk=pk)
    if share is None:
        raise Http404(SHARE_NOT_FOUND.format(project=project.pk, id=pk))
    return share


def job_latest(*, project: AgentProject) -> Job | None:
    return project.jobs.select_related("target_version").first()


def activities_for(
    *,
    project: AgentProject,
    limit: int = 50,
    actor_id: int | None = None,
    kind: str | None = None,
) -> QuerySet[Activity]:
    activities = project.activities.select_related("actor", "from_version", "to_version")
    if actor_id is not None:
        activities = activities.filter(actor_id=actor_id)
    if kind:
        activities = activities.filter(kind=kind)
    return activities[:limit]


def previews_expired(*, project: AgentProject | None = None) -> QuerySet[Preview]:
    """Previews past their expiry whose branch still exists."""
    previews = Preview.objects.filter(discarded_at__isnull=True, expires_at__lte=timezone.now())
    if project is not None:
        previews = previews.filter(project=project)
    return previews


def job_active(*, project: AgentProject) -> Job | None:
    """The project's unfinished job (at most one: the partial unique index on `Job`)."""
    return project.jobs.filter(state__in=Job.UNFINISHED).first()
