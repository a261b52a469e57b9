"""MCP tools for versions: save, list, compare, plan and roll back, restore tables, undo
(rename, pin and delete: version_life_tools.py)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import Field

from checkpoints.mcp import version_calls
from checkpoints.mcp.app import (
    CREATE,
    DESTRUCTIVE,
    READ,
    PageNumber,
    PerPage,
    ProjectId,
    VersionNumber,
    answer,
    call,
    job_outcome,
    page_text,
    tool,
    version_line,
)
from checkpoints.mcp.outputs import JobOutcome
from checkpoints.paging import DEFAULT_PER_PAGE, PageRequest
from checkpoints.shapes import Diff, Plan, VersionList
from checkpoints.shapes.fields import Labels, Moment, Name, Prompt, Script, Tables

AsOfTimestamp = Annotated[
    Moment | None,
    Field(
        description="Instead of applying SQL: save the database as it was at this moment "
        "of the project's history window (ISO 8601, e.g. 2026-05-01T10:32:05Z; UTC "
        "if no zone), e.g. just before a mistake. Takes no sql or labels.",
    ),
]
AsOfLsn = Annotated[
    Moment | None,
    Field(description="Like timestamp, at a WAL position (e.g. 0/16B3748)."),
]


@tool(name="save_version", title="Save a version", annotations=CREATE)
async def save_version(
    ctx: Context,
    project_id: ProjectId,
    prompt: Annotated[Prompt, Field(description="What this step does, in words.")],
    sql: Annotated[
        Script | None,
        Field(
            description="SQL to apply first, in one transaction (no BEGIN/COMMIT). If a "
            "statement fails nothing is applied, no version is saved, and the error names "
            "the statement. Omit to save the database as it is.",
        ),
    ] = None,
    name: Annotated[Name | None, Field(description="Default: the prompt's first line.")] = None,
    labels: Annotated[
        Labels | None,
        Field(
            description="Your own key/value labels kept with the version, e.g. "
            '{"git_sha": "3f2a9c1", "agent_run": "42"} (at most 20; keys of letters, '
            "digits, _ . -; values up to 200 characters). list_versions filters by them."
        ),
    ] = None,
    timestamp: AsOfTimestamp = None,
    lsn: AsOfLsn = None,
) -> Annotated[CallToolResult, JobOutcome]:
    """Apply SQL to the project's live database and save the result as the next version (a
    snapshot you can roll back to or preview later). Call it before and after risky changes.
    With `timestamp` or `lsn`, save instead the database as it was at that past moment."""
    job_id = await call(
        version_calls.version_save,
        project_id=project_id,
        prompt=prompt,
        sql=sql,
        name=name,
        labels=labels,
        timestamp=timestamp,
        lsn=lsn,
    )

    def done(job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        version = job["version"]
        return f"Saved {version_line(version)} of project {project_id}.", {"version": version}

    return await job_outcome(ctx, job_id, done)


@tool(name="list_versions", title="List versions", annotations=READ)
async def list_versions(
    project_id: ProjectId,
    include_deleted: Annotated[bool, Field(description="Also list deleted versions.")] = False,
    labels: Annotated[
        list[Annotated[str, Field(max_length=300)]] | None,
        Field(
            max_length=20,
            description='Only versions with these labels: "key:value" (or "key" for any '
            'value), e.g. ["git_sha:3f2a9c1"].',
        ),
    ] = None,
    page: PageNumber = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> Annotated[CallToolResult, VersionList]:
    """List a project's versions, oldest first: number, name, prompt, who saved it, and
    which one the live database serves now (current). Paged: `count` is the total,
    `next_page` the page to ask for next."""
    data, current = await call(
        version_calls.versions_list,
        project_id=project_id,
        include_deleted=include_deleted,
        labels=labels or [],
        page=PageRequest(number=page, per_page=per_page),
    )
    at = f", live database at v{current}" if current is not None else ""
    text = f"{data['count']} versions of project {project_id}{at}{page_text(data)}."
    return answer(text, data)


@tool(name="compare_versions", title="Compare two versions", annotations=READ)
async def compare_versions(
    project_id: ProjectId,
    from_version: Annotated[int, Field(ge=0, description="The older version number.")],
    to_version: Annotated[int, Field(ge=0, description="The newer version number.")],
) -> Annotated[CallToolResult, Diff]:
    """What changed between two saved versions: tables and columns added or removed,
    column types changed, rows added or removed per table."""
    data = await call(
        version_calls.versions_compare,
        project_id=project_id,
        from_version=from_version,
        to_version=to_version,
    )
    return answer(f"v{from_version} → v{to_version} {data['summary']}.", data)


@tool(name="plan_rollback", title="What a rollback would drop", annotations=READ)
async def plan_rollback(
    project_id: ProjectId, version: VersionNumber
) -> Annotated[CallToolResult, Plan]:
    """What rolling the live database back to `version` would change right now: the
    tables, columns and rows it would drop or bring back. Nothing is changed."""
    data = await call(version_calls.rollback_plan, project_id=project_id, version=version)
    return answer(f"Rolling back to v{version} {data['summary']}.", data)


@tool(name="rollback_to_version", title="Roll back", annotations=DESTRUCTIVE)
async def rollback_to_version(
    ctx: Context, project_id: ProjectId, version: VersionNumber
) -> Annotated[CallToolResult, JobOutcome]:
    """Roll the project's live database back to a saved version. Everything written since
    that version is dropped from the live database (it stays in later versions, which you
    can still roll forward to). The connection string stays the same, but the database
    behind it is replaced: open sessions on it are ended and the app reconnects (saving a
    version never ends one). Check plan_rollback first; the result says what was dropped."""
    job_id, plan = await call(version_calls.rollback_start, project_id=project_id, version=version)

    def done(job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        text = f"Rolled back project {project_id} to {version_line(job['version'])}"
        text += f": {plan['summary']}." if plan["summary"] else "."
        return text, {"version": job["version"], "dropped": plan}

    return await job_outcome(ctx, job_id, done)


@tool(name="restore_tables", title="Restore tables", annotations=DESTRUCTIVE)
async def restore_tables(
    ctx: Context,
    project_id: ProjectId,
    version: VersionNumber,
    tables: Annotated[
        Tables, Field(description="Tables to restore, as the version lists them (e.g. contacts).")
    ],
    include_dependencies: Annotated[
        bool,
        Field(description="Also restore the tables a foreign key ties to these."),
    ] = False,
) -> Annotated[CallToolResult, JobOutcome]:
    """Give the live database these tables exactly as they were in a saved version
    (schema and rows, in one transaction); every other table keeps its rows. The live
    state is saved first as an automatic version. A foreign key leaving the tables
    refuses it unless include_dependencies. The result says what changed per table."""
    job_id, changes = await call(
        version_calls.tables_restore_start,
        project_id=project_id,
        version=version,
        tables=tables,
        include_dependencies=include_dependencies,
    )

    def done(job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        lines = "; ".join(f"{c['table']} {c['changes']}" for c in changes)
        return f"Restored from v{version} into project {project_id}: {lines}.", {"tables": changes}

    return await job_outcome(ctx, job_id, done)


@tool(name="undo_rollback", title="Undo the last rollback", annotations=DESTRUCTIVE)
async def undo_rollback(
    ctx: Context, project_id: ProjectId
) -> Annotated[CallToolResult, JobOutcome]:
    """Undo the last rollback: the live database goes back to what the rollback replaced
    (saved automatically before it, rows and schema), in the same connection string. Its
    state now is saved first too, so an undo can be undone by calling this again. Fails
    with nothing_to_undo when the last change to the live database was not a rollback."""
    job_id, plan = await call(version_calls.undo_start, project_id=project_id)

    def done(job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        text = f"Undid the rollback of project {project_id}: back to {version_line(job['version'])}"
        text += f": {plan['summary']}." if plan["summary"] else "."
        return text, {"version": job["version"], "changed": plan}

    return await job_outcome(ctx, job_id, done)
