"""What each MCP tool and resource does, synchronously, through the app's own use cases.

Nothing here is a second code path: actions go through `checkpoints.services` (roles,
validation, the one-job-per-project guard, jobs run by the worker), reads through
`checkpoints.selectors` and `checkpoints.lifecycle`, and answers are the API's JSON shapes
(`checkpoints.api.serialize`). Refusals become `ToolFailure` with the API's stable codes.
Jobs an agent starts are marked `via: mcp`, which the worker writes into their Activity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction
from django.http import Http404

from checkpoints import permissions, selectors, services
from checkpoints.api.http import MAX_ID, MAX_NUMBER, ApiError, engine_error, service_error
from checkpoints.api.serialize import job_json, preview_json, project_json, version_json
from checkpoints.api.shares import share_json
from checkpoints.engines.errors import EngineError
from checkpoints.mcp.auth import Unauthorized, current_user
from checkpoints.models import AgentProject, Job, Membership, Team, Version
from checkpoints.services import lifecycle, sharing

VIA = "mcp"
PROJECT_NOT_FOUND = "Project {id} was not found in your teams (see list_projects)."
VERSION_NOT_FOUND = "Project {project} has no version {number} (see list_versions)."
PREVIEW_NOT_FOUND = "Project {project} has no preview {id}."
SHARE_NOT_FOUND = "Project {project} has no share link {id}."
JOB_NOT_FOUND = "Project {project} has no job {id}."
TEAM_NOT_FOUND = "Team {id} is not one of your teams (list_projects shows your teams)."


class ToolFailure(Exception):
    """A refusal the agent can act on: a stable code (as in /api/v1) and a message."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.extra = code, message, extra

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


def guarded[T](call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `call` with fresh database connections; refusals become `ToolFailure`."""
    close_old_connections()
    try:
        return call(*args, **kwargs)
    except ToolFailure:
        raise
    except Unauthorized as error:
        raise ToolFailure(error.code, error.message) from None
    except Http404:
        raise ToolFailure("not_found", "Not found.") from None
    except services.ServiceError as error:
        raise _from_api(service_error(error)) from None
    except EngineError as error:
        raise _from_api(engine_error(error)) from None
    finally:
        close_old_connections()


def _from_api(error: ApiError) -> ToolFailure:
    return ToolFailure(error.code, error.message, **error.extra)


def wait_limit() -> float:
    """How long a tool waits for its job before answering with the job id to poll."""
    return float(getattr(settings, "CHECKPOINTS_MCP_WAIT_SECONDS", 25))


# Lookups: another team's project answers exactly like a missing one ------------------------


def _project(user: Any, project_id: int) -> AgentProject:
    project = None
    if 0 <= project_id <= MAX_ID:
        project = selectors.projects_for(user).filter(pk=project_id).first()
    if project is None:
        raise ToolFailure("not_found", PROJECT_NOT_FOUND.format(id=project_id))
    return project


def _version(project: AgentProject, number: int) -> Version:
    try:
        if not 0 <= number <= MAX_NUMBER:
            raise Http404
        return selectors.version_get(project=project, number=number)
    except Http404:
        message = VERSION_NOT_FOUND.format(project=project.pk, number=number)
        raise ToolFailure("not_found", message) from None


def _started(start: Callable[[], Job]) -> Job:
    """Start a job through its service and mark it as asked for over MCP.

    The service enqueues on commit: inside this transaction the worker cannot see the job
    before it is marked."""
    with transaction.atomic():
        job = start()
        job.result = {**job.result, "via": VIA}
        Job.objects.filter(pk=job.pk).update(result=job.result)
    return job


# Projects ---------------------------------------------------------------------------------


def projects_list() -> dict[str, Any]:
    user = current_user()
    memberships = Membership.objects.filter(user=user).select_related("team")
    roles = {m.team_id: m.role for m in memberships}
    projects = [project_json(p, role=roles.get(p.team_id)) for p in selectors.projects_for(user)]
    teams = [{"id": m.team_id, "name": m.team.name, "role": m.role} for m in memberships]
    return {"projects": projects, "teams": teams}


def project_create(*, name: str, team_id: int | None) -> int:
    user = current_user()
    team = None
    if team_id is not None:
        team = Team.objects.filter(pk=team_id, memberships__user=user).first()
        if team is None:
            raise ToolFailure("invalid", TEAM_NOT_FOUND.format(id=team_id))
    return _started(lambda: services.project_create(user=user, name=name, team=team)).pk


def project_connection(*, project_id: int) -> dict[str, Any]:
    user = current_user()
    project = _project(user, project_id)
    permissions.require(user, project, "connection_uri")
    uri = services.project_connection_uri(project=project)
    return {"project": project.pk, "connection_uri": uri}


# Versions ---------------------------------------------------------------------------------


def versions_list(*, project_id: int, include_deleted: bool = False) -> dict[str, Any]:
    project = _project(current_user(), project_id)
    listed = project.versions.select_related("parent", "created_by", "deleted_by")
    listed = listed.order_by("number", "pk")
    if not include_deleted:
        listed = listed.filter(deleted_at__isnull=True)
    current = project.current_version_id
    items = [version_json(v, current_id=current) for v in listed]
    return {"project": project.pk, "versions": items}


def version_save(*, project_id: int, prompt: str, sql: str | None, name: str | None) -> int:
    user = current_user()
    project = _project(user, project_id)
    return _started(
        lambda: services.version_create(
            project=project, user=user, prompt=prompt, sql=sql, name=name
        )
    ).pk


def version_delete(*, project_id: int, version: int) -> int:
    user = current_user()
    project = _project(user, project_id)
    target = _version(project, version)
    return _started(lambda: services.version_delete(version=target, user=user)).pk


def _diff_answer(diff: lifecycle.Diff, **extra: Any) -> dict[str, Any]:
    if diff.unavailable:
        raise ToolFailure("diff_unavailable", diff.unavailable)
    return {**extra, "summary": diff.summary, "changes": diff.changes}


def versions_compare(*, project_id: int, from_version: int, to_version: int) -> dict[str, Any]:
    project = _project(current_user(), project_id)
    old, new = _version(project, from_version), _version(project, to_version)
    diff = lifecycle.version_diff(old=old, new=new)
    return _diff_answer(diff, project=project.pk, **{"from": old.number, "to": new.number})


def rollback_plan(*, project_id: int, version: int) -> dict[str, Any]:
    """What rolling back to `version` would change in the live database now."""
    project = _project(current_user(), project_id)
    target = _version(project, version)
    diff = lifecycle.rollback_diff(project=project, version=target)
    current = project.current_version
    return _diff_answer(
        diff,
        project=project.pk,
        version=target.number,
        current_version=current.number if current is not None else None,
    )


def rollback_start(*, project_id: int, version: int) -> tuple[int, dict[str, Any]]:
    """Start the rollback; also return what it drops (read from the live database first)."""
    user = current_user()
    project = _project(user, project_id)
    target = _version(project, version)
    permissions.require(user, project, "rollback")
    diff = lifecycle.rollback_diff(project=project, version=target)
    plan = {"summary": diff.summary or diff.unavailable, "changes": diff.changes}
    job = _started(lambda: services.version_rollback(project=project, version=target, user=user))
    return job.pk, plan


# Previews ---------------------------------------------------------------------------------


def preview_open(*, project_id: int, version: int) -> int:
    user = current_user()
    project = _project(user, project_id)
    target = _version(project, version)
    return _started(lambda: services.preview_open(project=project, version=target, user=user)).pk


def preview_discard(*, project_id: int, preview_id: int) -> int:
    user = current_user()
    project = _project(user, project_id)
    preview = None
    if 0 <= preview_id <= MAX_ID:
        preview = project.previews.select_related("version", "project").filter(pk=preview_id)
        preview = preview.first()
    if preview is None:
        message = PREVIEW_NOT_FOUND.format(project=project.pk, id=preview_id)
        raise ToolFailure("not_found", message)
    return _started(lambda: services.preview_discard(preview=preview, user=user)).pk


# Share links ------------------------------------------------------------------------------


def share_create(*, project_id: int, version: int, hours: int) -> dict[str, Any]:
    """A read-only link to the version's app: its path carries the token (shown once)."""
    user = current_user()
    target = _version(_project(user, project_id), version)
    created = sharing.share_create(version=target, user=user, hours=hours)
    return share_json(created.share) | {"path": created.path, "token": created.token}


def share_revoke(*, project_id: int, share_id: int) -> dict[str, Any]:
    user = current_user()
    project = _project(user, project_id)
    share = project.shares.select_related("version", "created_by", "preview", "project")
    share = share.filter(pk=share_id).first() if 0 <= share_id <= MAX_ID else None
    if share is None:
        raise ToolFailure("not_found", SHARE_NOT_FOUND.format(project=project.pk, id=share_id))
    return share_json(sharing.share_revoke(share=share, user=user))


# Jobs -------------------------------------------------------------------------------------


def job_find(*, project_id: int, job_id: int) -> int:
    project = _project(current_user(), project_id)
    if not (0 <= job_id <= MAX_ID and project.jobs.filter(pk=job_id).exists()):
        raise ToolFailure("not_found", JOB_NOT_FOUND.format(project=project.pk, id=job_id))
    services.jobs_fail_stale(project=project)
    return job_id


def job_progress(*, job_id: int) -> tuple[bool, list[dict[str, Any]]]:
    """Whether the job has finished, and its steps so far (for progress notifications)."""
    job = Job.objects.filter(pk=job_id).only("state", "steps").first()
    if job is None:  # its project was deleted meanwhile
        return True, []
    return job.is_finished, list(job.steps)


def job_answer(*, job_id: int) -> dict[str, Any]:
    """The job as /api/v1 shows it; a finished preview also carries its connection string
    (operators and owners, like GET …/previews/{id})."""
    user = current_user()
    job = Job.objects.select_related("project", "project__team").filter(pk=job_id).first()
    if job is None:
        raise ToolFailure("not_found", "The job's project was deleted.")
    body = job_json(job)
    preview = job.preview if job.preview_id else None
    if (
        preview is not None
        and preview.is_live
        and permissions.allows(permissions.role_for(user, job.project), "connection_uri")
    ):
        uri = services.preview_connection_uri(preview=preview)
        body["preview"] = preview_json(preview, connection_uri=uri)
    if job.kind in (Job.Kind.CREATE_PROJECT, Job.Kind.START_DEMO):
        role = permissions.role_for(user, job.project)
        body["project_detail"] = project_json(job.project, role=role)
    return body


# Resources --------------------------------------------------------------------------------


def versions_timeline(*, project_id: int) -> dict[str, Any]:
    """Every version since the project (re)started, deleted ones included, and its previews."""
    user = current_user()
    project = _project(user, project_id)
    listed = versions_list(project_id=project_id, include_deleted=True)
    previews = [preview_json(p) for p in selectors.previews_live(project=project)]
    role = permissions.role_for(user, project)
    return {**listed, "project": project_json(project, role=role), "live_previews": previews}


def version_manifest(*, project_id: int, version: int) -> dict[str, Any]:
    """Tables, columns and row counts stored with a version (no checksums)."""
    project = _project(current_user(), project_id)
    target = _version(project, version)
    manifest = target.manifest
    if not manifest:
        message = lifecycle.DIFF_NO_MANIFEST.format(labels=target.label, verb="was")
        raise ToolFailure("diff_unavailable", message)
    tables = [
        {
            "table": name.removeprefix("public."),
            "columns": [{"name": c, "type": t} for c, t in entry.get("columns", [])],
            "rows": entry.get("rows"),
            "bytes": entry.get("bytes"),
        }
        for name, entry in sorted(manifest.get("tables", {}).items())
    ]
    return {"project": project.pk, "version": target.number, "name": target.name, "tables": tables}
