"""MCP tools for a saved version's life: rename, pin or unpin, delete."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import Field

from checkpoints.mcp import version_calls
from checkpoints.mcp.app import (
    CREATE,
    DESTRUCTIVE,
    ProjectId,
    VersionNumber,
    answer,
    call,
    job_outcome,
    tool,
    version_line,
)
from checkpoints.mcp.outputs import JobOutcome, VersionAnswer
from checkpoints.shapes.fields import Name


@tool(name="rename_version", title="Rename a version", annotations=CREATE)
async def rename_version(
    project_id: ProjectId,
    version: VersionNumber,
    name: Annotated[Name, Field(description="The new name.")],
) -> Annotated[CallToolResult, VersionAnswer]:
    """Rename a saved version (its snapshot too); names are unique within a project."""
    data = await call(
        version_calls.version_rename, project_id=project_id, version=version, name=name
    )
    return answer(f"Renamed {version_line(data)} of project {project_id}.", {"version": data})


@tool(name="pin_version", title="Pin or unpin a version", annotations=CREATE)
async def pin_version(
    project_id: ProjectId,
    version: VersionNumber,
    pinned: Annotated[
        bool, Field(description="true: keep it hot whatever the tier policy; false: unpin.")
    ] = True,
) -> Annotated[CallToolResult, VersionAnswer]:
    """Keep a version hot (fast to roll back to or preview) whatever the tier policy says,
    or let the policy move it again (pinned=false)."""
    data = await call(
        version_calls.version_pin_set, project_id=project_id, version=version, pinned=pinned
    )
    state = "pinned" if data["pinned"] else "unpinned"
    return answer(f"{version_line(data)} of project {project_id} is {state}.", {"version": data})


@tool(name="delete_version", title="Delete a version", annotations=DESTRUCTIVE)
async def delete_version(
    ctx: Context, project_id: ProjectId, version: VersionNumber
) -> Annotated[CallToolResult, JobOutcome]:
    """Delete a version's snapshot for good: it can no longer be rolled back to or
    previewed (it stays in the history, marked deleted). Owners only."""
    job_id = await call(version_calls.version_delete, project_id=project_id, version=version)

    def done(job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return f"Deleted v{version} of project {project_id}.", {"version": job["version"]}

    return await job_outcome(ctx, job_id, done)
