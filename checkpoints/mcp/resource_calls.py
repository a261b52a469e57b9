"""MCP resource reads: a project's versions timeline and a version's manifest."""

from __future__ import annotations

from typing import Any

from checkpoints.mcp.auth import current_user
from checkpoints.mcp.failures import ToolFailure
from checkpoints.mcp.lookups import project_for, version_for
from checkpoints.paging import MAX_PER_PAGE
from checkpoints.rules import permissions, selectors
from checkpoints.serialize import preview_json, project_json, version_json
from checkpoints.services import lifecycle

#: The timeline is one document: the newest versions, the count says how many there are.
TIMELINE_VERSIONS = MAX_PER_PAGE


def versions_timeline(*, project_id: int) -> dict[str, Any]:
    """The newest versions since the project (re)started, deleted ones included (oldest
    first), the total count, and the live previews."""
    user = current_user()
    project = project_for(user, project_id)
    listed = project.versions.select_related("parent", "created_by", "deleted_by")
    newest = list(listed.order_by("-number", "-pk")[:TIMELINE_VERSIONS])[::-1]
    current = project.current_version_id
    previews = [preview_json(p) for p in selectors.previews_live(project=project)[:MAX_PER_PAGE]]
    return {
        "project": project_json(project, role=permissions.role_for(user, project)),
        "count": listed.count(),
        "versions": [version_json(v, current_id=current) for v in newest],
        "live_previews": previews,
    }


def version_manifest(*, project_id: int, version: int) -> dict[str, Any]:
    """Tables, columns and row counts stored with a version (no checksums)."""
    project = project_for(current_user(), project_id)
    target = version_for(project, version)
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
