"""MCP tools for projects: list, read, create and delete; connection string and password."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import Field

from checkpoints.mcp import project_calls
from checkpoints.mcp.app import (
    CREATE,
    DESTRUCTIVE,
    READ,
    PageNumber,
    PerPage,
    ProjectId,
    Reveal,
    answer,
    call,
    job_outcome,
    page_text,
    tool,
)
from checkpoints.mcp.outputs import JobOutcome, ProjectAnswer, ProjectsPage
from checkpoints.paging import DEFAULT_PER_PAGE, PageRequest
from checkpoints.shapes import Connection, Project
from checkpoints.shapes.fields import Id, Name


@tool(name="list_projects", title="List projects", annotations=READ)
async def list_projects(
    page: PageNumber = 1, per_page: PerPage = DEFAULT_PER_PAGE
) -> Annotated[CallToolResult, ProjectsPage]:
    """List the projects you can reach (every team you belong to), newest first, with your
    role in each, the current version and whether the project is ready. Start here to find
    a project_id. Paged: `count` is the total, `next_page` the page to ask for next."""
    asked = PageRequest(number=page, per_page=per_page)
    data = await call(project_calls.projects_list, page=asked)
    names = ", ".join(f"{p['id']}: {p['name']}" for p in data["items"]) or "none"
    return answer(f"{data['count']} projects ({names}){page_text(data)}.", data)


@tool(name="create_project", title="Create a project", annotations=CREATE)
async def create_project(
    ctx: Context,
    name: Annotated[Name, Field(description="The project's name.")],
    team_id: Annotated[
        Id | None, Field(description="A team of yours; default: your personal team.")
    ] = None,
    connection_id: Annotated[
        Id | None,
        Field(
            description="One of the team's engine connections (list_projects shows each "
            "project's); default: the team's default.",
        ),
    ] = None,
) -> Annotated[CallToolResult, JobOutcome]:
    """Create a project: its own PostgreSQL database and an empty first version v0. Returns
    the project id; get its connection string with get_connection_string."""
    job_id = await call(
        project_calls.project_create, name=name, team_id=team_id, connection_id=connection_id
    )

    def done(job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return f"Project {job['project']} “{name}” is ready at v0.", {}

    result = await job_outcome(ctx, job_id, done)
    data = result.structured_content or {}
    if not result.is_error and data.get("finished"):
        data["project"] = await call(project_calls.project_get, project_id=data["job"]["project"])
    return result


@tool(name="get_project", title="A project", annotations=READ)
async def get_project(project_id: ProjectId) -> Annotated[CallToolResult, Project]:
    """One project: its name, team, your role, engine, current version and readiness."""
    data = await call(project_calls.project_get, project_id=project_id)
    at = data["current_version"]
    where = f" at v{at}" if at is not None else ""
    return answer(f"Project {project_id} “{data['name']}”{where}.", data)


@tool(name="delete_project", title="Delete a project", annotations=DESTRUCTIVE)
async def delete_project(project_id: ProjectId) -> Annotated[CallToolResult, ProjectAnswer]:
    """Delete a project for good: its live database, every version and preview. Owners
    only; refused (busy) while one of its jobs runs. Answers the project as it was."""
    data = await call(project_calls.project_delete, project_id=project_id)
    return answer(f"Deleted project {project_id} “{data['name']}”.", {"project": data})


@tool(name="rotate_password", title="New database password", annotations=DESTRUCTIVE)
async def rotate_password(
    project_id: ProjectId, reveal: Reveal = False
) -> Annotated[CallToolResult, Connection]:
    """Give the project's database role a new password (owners): the old one stops working
    and its sessions end; the app needs the new connection string (password masked unless
    reveal=true)."""
    data = await call(project_calls.password_rotate, project_id=project_id, reveal=reveal)
    return answer(f"New password for project {project_id}.", data)


@tool(name="get_connection_string", title="Connection string", annotations=READ)
async def get_connection_string(
    project_id: ProjectId, reveal: Reveal = False
) -> Annotated[CallToolResult, Connection]:
    """The project's PostgreSQL connection string for the app and for your SQL, its
    password masked unless reveal=true. It never changes, not even across a rollback.
    Operators and owners only."""
    data = await call(project_calls.project_connection, project_id=project_id, reveal=reveal)
    masked = " (password masked: reveal=true shows it)" if data["masked"] else ""
    return answer(f"Connection string of project {project_id}{masked}.", data)
