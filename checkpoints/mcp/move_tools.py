"""MCP tool: move a project to another of its team's connections (owners)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import Field

from checkpoints.mcp.app import DESTRUCTIVE, ProjectId, call, job_outcome, tool
from checkpoints.mcp.auth import current_user
from checkpoints.mcp.lookups import project_for, started
from checkpoints.services.project_move import project_move
from checkpoints.shapes.fields import Id


def move_start(*, project_id: int, connection_id: int) -> int:
    project = project_for(current_user(), project_id)
    user = current_user()
    return started(
        lambda: project_move(project=project, user=user, connection_id=connection_id), project
    ).pk


@tool(name="move_project", title="Move a project to another connection", annotations=DESTRUCTIVE)
async def move_project(
    ctx: Context,
    project_id: ProjectId,
    connection_id: Annotated[
        Id,
        Field(
            description="One of the team's connections (list_projects shows each "
            "project's), not the one it lives on.",
        ),
    ],
) -> CallToolResult:
    """Move the project to another of its team's connections (owners): every version goes
    across as far as the destination allows (`move.not_moved` names those that could not),
    the live database last. The connection string changes once, at the end: call
    get_connection_string again afterwards. Until then the project stays where it was."""
    job_id = await call(move_start, project_id=project_id, connection_id=connection_id)

    def done(job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        move = job["move"]
        text = f"Moved project {project_id} to {move['to']}: {move['moved']} versions went across"
        if move["not_moved"]:
            text += "; not moved: " + ", ".join(f"{k} ({v})" for k, v in move["not_moved"].items())
        text += ". The connection string changed: call get_connection_string."
        return text, {"move": move}

    return await job_outcome(ctx, job_id, done)
