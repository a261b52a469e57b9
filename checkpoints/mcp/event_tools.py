"""MCP tools for destructive statements and protected tables: list_events,
restore_before_event, list_protected_tables, protect_table, unprotect_table."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import Field

from checkpoints.mcp.app import (
    CREATE,
    DESTRUCTIVE,
    READ,
    PageNumber,
    PerPage,
    ProjectId,
    answer,
    call,
    job_outcome,
    tool,
)
from checkpoints.mcp.auth import current_user
from checkpoints.mcp.failures import ToolFailure
from checkpoints.mcp.lookups import project_for, started
from checkpoints.models import StatementEvent
from checkpoints.paging import DEFAULT_PER_PAGE, PageRequest, page_of
from checkpoints.refusals import MAX_ID
from checkpoints.serialize import event_json, protected_json
from checkpoints.services import events
from checkpoints.shapes.fields import Table

EVENT_NOT_FOUND = "Project {project} has no event {event} (see list_events)."
EventId = Annotated[int, Field(ge=0, description="The event's id, from list_events.")]
TableName = Annotated[
    Table,
    Field(description="`contacts` (schema public) or `app.items`."),
]


def _events(*, project_id: int, page: PageRequest) -> dict[str, Any]:
    user = current_user()
    got = events.events_list(project=project_for(user, project_id), user=user)
    found = page_of(got.events, page, event_json)
    return {"supported": got.supported, "note": got.note, "events": found.items, **found.counts()}


def _restore_before(*, project_id: int, event_id: int) -> int:
    user = current_user()
    project = project_for(user, project_id)
    event = None
    if event_id <= MAX_ID:
        event = StatementEvent.objects.filter(project=project, pk=event_id).first()
    if event is None:
        raise ToolFailure("not_found", EVENT_NOT_FOUND.format(project=project_id, event=event_id))
    start = lambda: events.event_restore_before(project=project, event=event, user=user)  # noqa: E731
    return started(start, project).pk


def _protected(*, project_id: int, table: str | None = None, protect: bool = True) -> list:
    user = current_user()
    project = project_for(user, project_id)
    if table is None:
        listed = events.tables_protected(project=project, user=user)
    else:
        listed = events.table_protect(project=project, user=user, table=table, protect=protect)
    return [protected_json(t) for t in listed]


@tool(name="list_events", title="Destructive statements", annotations=READ)
async def list_events(
    project_id: ProjectId, page: PageNumber = 1, per_page: PerPage = DEFAULT_PER_PAGE
) -> CallToolResult:
    """The destructive statements PostgreSQL recorded in the project's live database (DROP
    TABLE / SCHEMA, ALTER TABLE … DROP COLUMN, TRUNCATE…), newest first, each with its time,
    database role and transaction. Nobody can alter these records. To undo one, call
    restore_before_event with its id. `supported` false: this server does not record them."""
    data = await call(
        _events, project_id=project_id, page=PageRequest(number=page, per_page=per_page)
    )
    shown = "; ".join(f"{e['id']}: {e['label']} at {e['at']}" for e in data["events"][:10])
    return answer(f"{data['count']} destructive statements ({shown or 'none'}).", data)


@tool(name="restore_before_event", title="Go back to just before", annotations=DESTRUCTIVE)
async def restore_before_event(
    ctx: Context, project_id: ProjectId, event_id: EventId
) -> CallToolResult:
    """Go back to just before a destructive statement (an id from list_events): the live
    state is saved first as an automatic version, then the database becomes what it was
    just before that transaction. Like every rollback it replaces the database and ends
    its open sessions (reconnect after); the connection string stays. undo_rollback
    undoes it."""
    job_id = await call(_restore_before, project_id=project_id, event_id=event_id)

    def done(job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return f"Project {project_id} is back to just before event {event_id}.", {}

    return await job_outcome(ctx, job_id, done)


@tool(name="list_protected_tables", title="Protected tables", annotations=READ)
async def list_protected_tables(project_id: ProjectId) -> CallToolResult:
    """The project's protected tables: PostgreSQL refuses DROP TABLE, TRUNCATE and DROP
    COLUMN on them until a person lifts the protection."""
    tables = await call(_protected, project_id=project_id)
    names = ", ".join(t["table"] for t in tables) or "none"
    return answer(f"Protected tables: {names}.", {"tables": tables})


@tool(name="protect_table", title="Protect a table", annotations=CREATE)
async def protect_table(project_id: ProjectId, table: TableName) -> CallToolResult:
    """Protect a table of the live database: DROP TABLE, TRUNCATE and DROP COLUMN on it
    are then refused by PostgreSQL itself (lifting it needs an owner: unprotect_table)."""
    tables = await call(_protected, project_id=project_id, table=table, protect=True)
    return answer(f"Protected {table}.", {"tables": tables})


@tool(name="unprotect_table", title="Lift a protection", annotations=DESTRUCTIVE)
async def unprotect_table(project_id: ProjectId, table: TableName) -> CallToolResult:
    """Lift a table's protection. Owners only: an agent should ask a person instead, and
    save a version first (save_version) before any destructive change."""
    tables = await call(_protected, project_id=project_id, table=table, protect=False)
    return answer(f"Lifted the protection of {table}.", {"tables": tables})
