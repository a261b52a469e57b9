"""MCP calls that show a version elsewhere: previews (jobs) and read-only share links."""

from __future__ import annotations

from typing import Any

from checkpoints import doorframe, services
from checkpoints.mcp.auth import current_user
from checkpoints.mcp.lookups import preview_for, project_for, share_for, started, version_for
from checkpoints.paging import PageRequest, page_of
from checkpoints.rules import selectors
from checkpoints.serialize import preview_json, share_json
from checkpoints.services import sharing


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
    preview = preview_for(project, preview_id)
    return started(lambda: services.preview_discard(preview=preview, user=user), project=project).pk


def previews_list(*, project_id: int, page: PageRequest) -> dict[str, Any]:
    """The project's live previews, newest first (a page, as every door pages)."""
    project = project_for(current_user(), project_id)
    live = selectors.previews_live(project=project).order_by("-created_at", "-pk")
    found = page_of(live, page, preview_json)
    return doorframe.page_answer(found)


def share_create(*, project_id: int, version: int, hours: int) -> dict[str, Any]:
    """A read-only link to the version's app: its path carries the token (shown once)."""
    user = current_user()
    target = version_for(project_for(user, project_id), version)
    created = sharing.share_create(version=target, user=user, hours=hours)
    return doorframe.share_created(created, link=created.path)


def share_revoke(*, project_id: int, share_id: int) -> dict[str, Any]:
    user = current_user()
    share = share_for(project_for(user, project_id), share_id)
    return share_json(sharing.share_revoke(share=share, user=user))


def shares_list(*, project_id: int, page: PageRequest) -> dict[str, Any]:
    """The project's live share links, newest first (a page)."""
    project = project_for(current_user(), project_id)
    live = sharing.shares_live(project=project).order_by("-created_at", "-pk")
    found = page_of(live, page, share_json)
    return doorframe.page_answer(found)
