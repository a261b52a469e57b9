"""MCP tools for SQL: read the database (live or as of a version), describe its schema,
and try a migration on a copy before applying it to live."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import Field

from checkpoints.mcp import sql_calls
from checkpoints.mcp.app import (
    CREATE,
    DESTRUCTIVE,
    READ,
    ProjectId,
    answer,
    call,
    job_outcome,
    tool,
    version_line,
)
from checkpoints.shapes.fields import Script, Statement

AsOf = Annotated[
    int | None,
    Field(
        ge=0,
        description="Read this saved version instead of the live database (on a read-only "
        "copy of it, opened on the first read and reused). Omit for live.",
    ),
]
MigrationId = Annotated[int, Field(ge=0, description="The id prepare_migration answered.")]
MigrationSql = Annotated[
    Script,
    Field(
        description="The migration's SQL, one or more statements run in one transaction "
        "(no BEGIN/COMMIT).",
    ),
]


@tool(name="run_sql", title="Run a read-only SQL query", annotations=READ)
async def run_sql(
    project_id: ProjectId,
    sql: Annotated[Statement, Field(description="One SQL statement.")],
    version: AsOf = None,
) -> CallToolResult:
    """Run ONE read-only SQL statement (SELECT, WITH, EXPLAIN, SHOW…) on the project's
    live database, or on a saved version with `version`, and answer its rows with column
    names and types. It runs as a role that can only read, in a read-only transaction:
    any write is refused (change data with save_version or prepare_migration). Rows,
    answer size and time are capped; `truncated` says when the answer stopped at a cap."""
    data = await call(sql_calls.sql_run, project_id=project_id, sql=sql, version=version)
    cut = f", truncated at the {data['truncated']} cap" if data["truncated"] else ""
    where = f"v{version}" if version is not None else "live"
    text = f"{data['row_count']} rows from {where} ({data['elapsed_ms']} ms{cut})."
    return answer(text, data)


@tool(name="describe_schema", title="Describe the schema", annotations=READ)
async def describe_schema(project_id: ProjectId, version: AsOf = None) -> CallToolResult:
    """The schema of the project's live database, or of a saved version with `version`:
    every table and view with its columns (type, nullable, default), keys (primary,
    foreign, unique, check), indexes and an estimated row count."""
    data = await call(sql_calls.schema_describe, project_id=project_id, version=version)
    names = ", ".join(t["name"] for t in data["tables"]) or "no tables"
    where = f"v{version}" if version is not None else "the live database"
    return answer(f"{len(data['tables'])} tables in {where}: {names}.", data)


@tool(name="prepare_migration", title="Try a migration on a copy", annotations=CREATE)
async def prepare_migration(
    ctx: Context,
    project_id: ProjectId,
    sql: MigrationSql,
    prompt: Annotated[
        str, Field(max_length=10000, description="What the migration does, in words.")
    ] = "",
) -> CallToolResult:
    """Try SQL on a fresh copy of the live database, leaving live untouched: answers what
    it changed (tables, columns, rows) or which statement failed and why. Then call
    apply_migration with the answered id to apply the same SQL to live as a new version,
    or discard_migration to drop the copy."""
    job_id, migration_id = await call(
        sql_calls.migration_prepare, project_id=project_id, sql=sql, prompt=prompt
    )
    result = await job_outcome(ctx, job_id, lambda job: ("", {}))
    if result.is_error or not (result.structured_content or {}).get("finished"):
        return result
    migration = await call(
        sql_calls.migration_answer, project_id=project_id, migration_id=migration_id
    )
    text = (
        f"Migration {migration_id} tried on a copy of project {project_id}'s live database: "
        f"it {migration['summary']}. Apply it with apply_migration(migration_id="
        f"{migration_id}) or drop it with discard_migration."
    )
    return answer(text, {"finished": True, "migration": migration})


@tool(name="get_migration", title="Get a migration", annotations=READ)
async def get_migration(project_id: ProjectId, migration_id: MigrationId) -> CallToolResult:
    """A migration's state (preparing, prepared, failed, applied, discarded), its SQL,
    what it changed on the copy, or its error."""
    data = await call(sql_calls.migration_answer, project_id=project_id, migration_id=migration_id)
    return answer(f"Migration {migration_id} is {data['state']}.", {"migration": data})


@tool(name="apply_migration", title="Apply a migration to live", annotations=DESTRUCTIVE)
async def apply_migration(
    ctx: Context, project_id: ProjectId, migration_id: MigrationId
) -> CallToolResult:
    """Apply a prepared migration's SQL to the live database as one new version. The live
    state is saved first as an automatic version, so undo_rollback puts it back. Refused
    (live_changed) when the live database changed since the copy was taken: prepare again."""
    job_id = await call(sql_calls.migration_apply, project_id=project_id, migration_id=migration_id)

    def done(job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        text = f"Applied migration {migration_id} to project {project_id}: "
        text += f"saved {version_line(job['version'])}; undo_rollback undoes it."
        return text, {"version": job["version"]}

    return await job_outcome(ctx, job_id, done)


@tool(name="discard_migration", title="Discard a migration", annotations=DESTRUCTIVE)
async def discard_migration(project_id: ProjectId, migration_id: MigrationId) -> CallToolResult:
    """Drop a migration's copy without applying it. The live database is not touched."""
    data = await call(sql_calls.migration_discard, project_id=project_id, migration_id=migration_id)
    return answer(f"Discarded migration {migration_id}.", {"migration": data})
