"""MCP resources: a project's versions timeline and a version's manifest, as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver.exceptions import ResourceError

from checkpoints.mcp import resource_calls
from checkpoints.mcp.app import Refused, call, mcp


async def _resource(fn: Callable[..., dict[str, Any]], **kwargs: Any) -> str:
    try:
        return json.dumps(await call(fn, **kwargs), indent=2)
    except Refused as refused:
        raise ResourceError(f"{refused.failure.message} [{refused.failure.code}]") from None


@mcp.resource(
    "checkpoints://projects/{project_id}/versions",
    name="versions-timeline",
    title="A project's versions timeline",
    description="A project's newest 100 versions (deleted ones marked; `count` says how many "
    "there are, list_versions pages through them all), the current one, and live previews, "
    "as JSON.",
    mime_type="application/json",
)
async def versions_timeline(project_id: int) -> str:
    return await _resource(resource_calls.versions_timeline, project_id=project_id)


@mcp.resource(
    "checkpoints://projects/{project_id}/versions/{version}/manifest",
    name="version-manifest",
    title="A version's manifest",
    description="The tables, columns (with types) and row counts a version holds, as JSON.",
    mime_type="application/json",
)
async def version_manifest(project_id: int, version: int) -> str:
    return await _resource(resource_calls.version_manifest, project_id=project_id, version=version)
