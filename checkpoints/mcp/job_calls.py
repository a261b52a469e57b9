"""MCP calls for jobs: find one, follow its steps, and answer it as /api/v1 does."""

from __future__ import annotations

from typing import Any

from checkpoints import permissions, services
from checkpoints.mcp.auth import current_token
from checkpoints.mcp.failures import ToolFailure
from checkpoints.mcp.lookups import project_for
from checkpoints.models import Job
from checkpoints.refusals import MAX_ID
from checkpoints.serialize import job_json, preview_json, project_json
from checkpoints.tokens import uri_shown

JOB_NOT_FOUND = "Project {project} has no job {id}."


def job_find(*, project_id: int, job_id: int) -> int:
    project = project_for(current_token().user, project_id)
    if not (0 <= job_id <= MAX_ID and project.jobs.filter(pk=job_id).exists()):
        raise ToolFailure("not_found", JOB_NOT_FOUND.format(project=project.pk, id=job_id))
    return job_id  # a read: stale jobs are the worker's to reap


def job_progress(*, job_id: int) -> tuple[bool, list[dict[str, Any]]]:
    """Whether the job has finished, and its steps so far (for progress notifications)."""
    job = Job.objects.filter(pk=job_id).only("state", "steps").first()
    if job is None:  # its project was deleted meanwhile
        return True, []
    return job.is_finished, list(job.steps)


def job_answer(*, job_id: int, reveal: bool = False) -> dict[str, Any]:
    """The job as /api/v1 shows it; a finished preview also carries its connection string
    (operators and owners, like GET …/previews/{id}; masked unless `reveal`)."""
    token = current_token()
    user = token.user
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
        uri = uri_shown(token, services.preview_connection_uri(preview=preview), reveal=reveal)
        body["preview"] = preview_json(preview, connection_uri=uri)
    if job.kind in (Job.Kind.CREATE_PROJECT, Job.Kind.START_DEMO):
        role = permissions.role_for(user, job.project)
        body["project_detail"] = project_json(job.project, role=role)
    return body
