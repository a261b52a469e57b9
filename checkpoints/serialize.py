"""Models as JSON: the shapes /api/v1, the MCP tools and `manage.py … --json` answer.

Each answer is built through its shape (`checkpoints.shapes`: the OpenAPI components and
the MCP tools' output schemas are generated from the same models) and answered as a plain
dict. A module of its own (not in `api/`) so that the API, the MCP server and the
commands share it without importing one another.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.urls import reverse

from checkpoints import shapes
from checkpoints.engines.statement_events import ProtectedTable
from checkpoints.models import (
    AgentProject,
    EngineConnection,
    Job,
    Preview,
    ShareLink,
    StatementEvent,
    Version,
)

#: How a failed job's `result["error_code"]` is answered when the caller waited for it.
JOB_ERROR_STATUS = {
    "sql_failed": 422,
    "statement_timeout": 422,
    "cancelled": 409,
    "snapshot_limit": 409,
    "snapshot_quota": 409,
    "snapshot_refused": 422,
    "live_changed": 409,
    "tables_refused": 409,
    "engine_error": 502,
    "engine_timeout": 504,
    "job_failed": 502,
}


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def project_json(project: AgentProject, *, role: str | None) -> dict[str, Any]:
    current = project.current_version
    return shapes.Project(
        **{
            "id": project.pk,
            "name": project.name,
            "team": {"id": project.team_id, "name": project.team.name},
            "role": role,
            "engine": project.engine_name,
            "connection": connection_json(project.connection),
            "ready": bool(project.engine_project_id),
            "current_version": current.number if current is not None else None,
            "snapshots": snapshot_capacity(project),
            "created_at": _time(project.created_at),
            "url": reverse("api-project", args=[project.pk]),
        }
    ).answer()


def connection_json(connection: EngineConnection | None) -> dict[str, Any] | None:
    """Where a project lives, never its secret; None: the installation's own engine."""
    if connection is None:
        return None
    return {
        "id": connection.pk,
        "kind": connection.kind,
        "name": connection.name,
        "server": connection.server,
    }


def snapshot_capacity(project: AgentProject) -> dict[str, Any] | None:
    """{limit, used, as_of} from the listing the last job stored (no engine call)."""
    capacity = (project.engine_listing or {}).get("capacity")
    if capacity is None:
        return None
    return {
        "limit": capacity.get("limit"),
        "used": capacity.get("used", 0),
        "as_of": (project.engine_listing or {}).get("at"),
    }


def version_json(version: Version, *, current_id: int | None = None) -> dict[str, Any]:
    return shapes.Version(
        **{
            "number": version.number,
            "name": version.name,
            "prompt": version.prompt,
            "parent": version.parent.number if version.parent_id and version.parent else None,
            "current": current_id is not None and version.pk == current_id,
            "created_at": _time(version.created_at),
            "created_by": _username(version.created_by),
            "expires_at": _time(version.expires_at),
            "deleted_at": _time(version.deleted_at),
            "deleted_by": _username(version.deleted_by),
            "snapshot_id": version.snapshot_id,
            "tier": version.tier,
            "pinned": version.pinned,
            "size_bytes": version.size_bytes,
            "automatic": version.automatic,
            "labels": version.labels or {},
        }
    ).answer()


def preview_json(preview: Preview, *, connection_uri: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": preview.pk,
        "version": preview.version.number,
        "live": preview.is_live,
        "created_at": _time(preview.created_at),
        "expires_at": _time(preview.expires_at),
        "discarded_at": _time(preview.discarded_at),
        "url": reverse("api-preview", args=[preview.project_id, preview.pk]),
    }
    if connection_uri is not None:
        body["connection_uri"] = connection_uri
    return shapes.Preview(**body).answer()


def job_url(job: Job) -> str:
    return reverse("api-job", args=[job.project_id, job.pk])


def job_json(job: Job) -> dict[str, Any]:
    """The job's state and steps, plus the version or preview it made or targeted."""
    version = None
    version_id = job.result.get("version_id") or job.target_version_id
    if version_id:
        made = Version.objects.select_related("parent", "created_by", "deleted_by").filter(
            pk=version_id
        )
        found = made.first()
        if found is not None:
            version = version_json(found, current_id=job.project.current_version_id)
    preview = None
    if job.preview_id:
        preview = preview_json(Preview.objects.select_related("version").get(pk=job.preview_id))
    error = None
    if job.state == Job.State.FAILED:
        error = {"code": job.result.get("error_code", "job_failed"), "message": job.error}
    elif job.state == Job.State.CANCELLED:
        error = {"code": "cancelled", "message": job.error}
    return shapes.Job(
        **{
            **_move_json(job),
            "id": job.pk,
            "project": job.project_id,
            "kind": job.kind,
            "state": job.state,
            "finished": job.is_finished,
            "cancel_requested": job.cancel_requested_at is not None,
            "steps": [
                {
                    "name": step.get("name", ""),
                    "state": step.get("state", ""),
                    "detail": step.get("detail", ""),
                    "started_at": step.get("started_at"),
                    "finished_at": step.get("finished_at"),
                    "duration_ms": step.get("duration_ms"),
                }
                for step in job.step_rows
            ],
            "error": error,
            "version": version,
            "preview": preview,
            "created_at": _time(job.created_at),
            "started_at": _time(job.started_at),
            "finished_at": _time(job.finished_at),
            "duration_ms": job.duration_ms,
            "url": job_url(job),
        }
    ).answer()


def _move_json(job: Job) -> dict[str, Any]:
    """A move's outcome: where to, versions across, those that could not go (label: why)."""
    if job.kind != Job.Kind.PROJECT_MOVE:
        return {}
    result = job.result
    return {
        "move": {
            "to": (result.get("request") or {}).get("to_name", ""),
            "moved": len(result.get("moved") or {}),
            "not_moved": dict(result.get("not_moved") or {}),
        }
    }


def share_json(share: ShareLink) -> dict[str, Any]:
    return shapes.Share(
        **{
            "id": share.pk,
            "version": share.version.number,
            "live": share.is_live,
            "created_by": _username(share.created_by),
            "created_at": _time(share.created_at),
            "expires_at": _time(share.expires_at),
            "revoked_at": _time(share.revoked_at),
            "open_count": share.open_count,
            "first_opened_at": _time(share.first_opened_at),
            "url": reverse("api-share", args=[share.project_id, share.pk]),
        }
    ).answer()


def event_json(event: StatementEvent) -> dict[str, Any]:
    """A destructive statement on the timeline, and where to go back to just before it."""
    return {
        "id": event.pk,
        "label": event.label,
        "command": event.command,
        "object_type": event.object_type,
        "object": event.object,
        "role": event.role,
        "at": _time(event.at),
        "xid": event.xid,
        "lsn": event.lsn or None,
        "restore_before_url": reverse(
            "api-event-restore-before", args=[event.project_id, event.pk]
        ),
    }


def protected_json(table: ProtectedTable) -> dict[str, Any]:
    return {"table": table.key, "schema": table.schema, "name": table.table, "exists": table.exists}
