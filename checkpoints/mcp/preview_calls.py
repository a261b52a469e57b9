"""MCP calls that show a version elsewhere: previews (jobs) and read-only share links."""

from __future__ import annotations

from typing import Any

from checkpoints import services
from checkpoints.mcp.auth import current_user
from checkpoints.mcp.failures import ToolFailure
from checkpoints.mcp.lookups import project_for, started, version_for
from checkpoints.refusals import MAX_ID
from checkpoints.serialize import share_json
from checkpoints.services import sharing

PREVIEW_NOT_FOUND = "Project {project} has no preview {id}."
SHARE_NOT_FOUND = "Project {project} has no share link {id}."


def preview_open(*, project_id: int, version: int) -> int:
    user = current_user()
    project = project_for(user, project_id)
    target = version_for(project, version)
    return started(
        lambda: services.preview_open(project=project, version=target, user=user), project=project
    ).pk


def preview_discard(*, project_id: int, preview_id: int) -> int:
    user = current_user()
    project = project_for(user, project_id)
    preview = None
    if 0 <= preview_id <= MAX_ID:
        preview = project.previews.select_related("version", "project").filter(pk=preview_id)
        preview = preview.first()
    if preview is None:
        message = PREVIEW_NOT_FOUND.format(project=project.pk, id=preview_id)
        raise ToolFailure("not_found", message)
    return started(lambda: services.preview_discard(preview=preview, user=user), project=project).pk


def share_create(*, project_id: int, version: int, hours: int) -> dict[str, Any]:
    """A read-only link to the version's app: its path carries the token (shown once)."""
    user = current_user()
    target = version_for(project_for(user, project_id), version)
    created = sharing.share_create(version=target, user=user, hours=hours)
    return share_json(created.share) | {"path": created.path, "token": created.token}


def share_revoke(*, project_id: int, share_id: int) -> dict[str, Any]:
    user = current_user()
    project = project_for(user, project_id)
    share = project.shares.select_related("version", "created_by", "preview", "project")
    share = share.filter(pk=share_id).first() if 0 <= share_id <= MAX_ID else None
    if share is None:
        raise ToolFailure("not_found", SHARE_NOT_FOUND.format(project=project.pk, id=share_id))
    return share_json(sharing.share_revoke(share=share, user=user))
