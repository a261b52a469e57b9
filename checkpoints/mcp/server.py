"""The tools and resources an agent sees, on the official SDK's `MCPServer`.

Each tool is one async function: it runs its `calls.*` function on Django's thread for
database work (`sync_to_async`), waits for the job it started while reporting each step
as an MCP progress notification, and answers structured content plus a one-line text.
A job still running after `CHECKPOINTS_MCP_WAIT_SECONDS` is answered with its id, to poll
with `get_job`. A refusal is a tool error (`isError`) carrying the API's stable code.

To add a tool (share links, undo …): one `calls.*` function for the work and one
`@mcp.tool(...)` function here that calls it through `_call` (and `_job_outcome` if it
starts a job).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any

import anyio
from asgiref.sync import sync_to_async
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from checkpoints.mcp import calls
from checkpoints.mcp.calls import ToolFailure

INSTRUCTIONS = """\
Checkpoints keeps versions of a project's PostgreSQL database. Save a version before and \
after each risky change (save_version applies your SQL in one transaction: if a statement \
fails nothing is applied and the error names it). Before rolling back, call plan_rollback \
to see what the live database would lose. A rollback keeps the project's connection \
string: apps keep working against it. Open a preview to inspect an old version on its own \
temporary database without touching the live one, and discard it when done. Long actions \
wait for their job; if one is still running you get a job id to poll with get_job."""

JOB_POLL_SECONDS = 0.1

mcp: MCPServer = MCPServer(
    "checkpoints",
    title="Checkpoints",
    description="Database versions for AI-agent projects: save, diff, roll back, preview.",
    instructions=INSTRUCTIONS,
)

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
CREATE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)

ProjectId = Annotated[int, Field(ge=0, description="The project's id (from list_projects).")]
VersionNumber = Annotated[int, Field(ge=0, description="A version number: v0 is the empty start.")]


# Plumbing ---------------------------------------------------------------------------------


class Refused(Exception):
    def __init__(self, failure: ToolFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


async def _call[T](call: Callable[..., T], /, **kwargs: Any) -> T:
    """`call(**kwargs)` on Django's side (thread-sensitive: one connection per thread)."""
    try:
        return await sync_to_async(calls.guarded, thread_sensitive=True)(call, **kwargs)
    except ToolFailure as failure:
        raise Refused(failure) from None


def _answer(text: str, data: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def _refusal(failure: ToolFailure) -> CallToolResult:
    text = f"{' '.join(failure.message.splitlines())} [{failure.code}]"
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content={"error": failure.as_dict()},
        is_error=True,
    )


def _step_text(step: dict[str, Any]) -> str:
    detail = step.get("detail") or ""
    return f"{step.get('name', '')}: {detail}" if detail else str(step.get("name", ""))


async def _job_wait(ctx: Context, job_id: int) -> bool:
    """Wait for the job, one progress notification per step change; False on time out."""
    deadline = time.monotonic() + calls.wait_limit()
    reported: tuple[int, str] | None = None
    while True:
        finished, steps = await _call(calls.job_progress, job_id=job_id)
        if steps:
            done = sum(1 for s in steps if s.get("state") == "succeeded")
            now = (done, _step_text(steps[-1]))
            if now != reported:
                reported = now
                await ctx.report_progress(done, None, now[1])
        if finished:
            return True
        if time.monotonic() >= deadline:
            return False
        await anyio.sleep(JOB_POLL_SECONDS)


async def _job_outcome(
    ctx: Context, job_id: int, done: Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]
) -> CallToolResult:
    """The job's outcome: `done(job)` for a success, a tool error for a failure, or the job
    id to poll when it is still running."""
    finished = await _job_wait(ctx, job_id)
    job = await _call(calls.job_answer, job_id=job_id)
    if not finished:
        text = (
            f"Job {job['id']} ({job['kind']}) is still running: "
            f"poll get_job(project_id={job['project']}, job_id={job['id']})."
        )
        return _answer(text, {"finished": False, "job": job})
    if job["state"] != "succeeded":
        error = job["error"] or {"code": "job_failed", "message": "The job failed."}
        return _refusal(ToolFailure(error["code"], error["message"], job=job))
    text, data = done(job)
    return _answer(text, {"finished": True, **data, "job": job})


def tool(**options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`mcp.tool(...)` whose refusals answer as tool errors (`isError`) with their code."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> CallToolResult:
            try:
                return await fn(*args, **kwargs)
            except Refused as refused:
                return _refusal(refused.failure)

        # The docstring as one paragraph: what a model reads to choose the tool.
        description = " ".join((fn.__doc__ or "").split())
        mcp.tool(description=description, **options)(wrapper)
        return wrapper

    return register


def _version_line(version: dict[str, Any]) -> str:
    return f"v{version['number']} “{version['name']}”"


# Projects ---------------------------------------------------------------------------------


@tool(name="list_projects", title="List projects", annotations=READ)
async def list_projects() -> CallToolResult:
    """List the projects you can reach (every team you belong to) with your role in each,
    the current version and whether the project is ready. Start here to find a project_id."""
    data = await _call(calls.projects_list)
    names = ", ".join(f"{p['id']}: {p['name']}" for p in data["projects"]) or "none"
    return _answer(f"{len(data['projects'])} projects ({names}).", data)


@tool(name="create_project", title="Create a project", annotations=CREATE)
async def create_project(
    ctx: Context,
    name: Annotated[str, Field(min_length=1, max_length=200, description="The project's name.")],
    team_id: Annotated[
        int | None, Field(ge=0, description="A team of yours; default: your personal team.")
    ] = None,
) -> CallToolResult:
    """Create a project: its own PostgreSQL database and an empty first version v0. Returns
    the project id; get its connection string with get_connection_string."""
    job_id = await _call(calls.project_create, name=name, team_id=team_id)

    def done(job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        project = job["project_detail"]
        return f"Project {project['id']} “{project['name']}” is ready at v0.", {"project": project}

    return await _job_outcome(ctx, job_id, done)


@tool(name="get_connection_string", title="Connection string", annotations=READ)
async def get_connection_string(project_id: ProjectId) -> CallToolResult:
    """The project's PostgreSQL connection string (with its password) for the app and for
    your SQL. It never changes, not even across a rollback. Operators and owners only."""
    data = await _call(calls.project_connection, project_id=project_id)
    return _answer(f"Connection string of project {project_id}.", data)


# Versions ---------------------------------------------------------------------------------


@tool(name="save_version", title="Save a version", annotations=CREATE)
async def save_version(
    ctx: Context,
    project_id: ProjectId,
    prompt: Annotated[
        str,
        Field(min_length=1, max_length=10000, description="What this step does, in words."),
    ],
    sql: Annotated[
        str | None,
        Field(
            max_length=1_000_000,
            description="SQL to apply first, in one transaction (no BEGIN/COMMIT). If a "
            "statement fails nothing is applied, no version is saved, and the error names "
            "the statement. Omit to save the database as it is.",
        ),
    ] = None,
    name: Annotated[
        str | None, Field(max_length=200, description="Default: the prompt's first line.")
    ] = None,
) -> CallToolResult:
    """Apply SQL to the project's live database and save the result as the next version (a
    snapshot you can roll back to or preview later). Call it before and after risky changes."""
    job_id = await _call(
        calls.version_save, project_id=project_id, prompt=prompt, sql=sql, name=name
    )

    def done(job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        version = job["version"]
        return f"Saved {_version_line(version)} of project {project_id}.", {"version": version}

    return await _job_outcome(ctx, job_id, done)


@tool(name="list_versions", title="List versions", annotations=READ)
async def list_versions(
    project_id: ProjectId,
    include_deleted: Annotated[bool, Field(description="Also list deleted versions.")] = False,
) -> CallToolResult:
    """List a project's versions, oldest first: number, name, prompt, who saved it, and
    which one the live database serves now (current)."""
    data = await _call(calls.versions_list, project_id=project_id, include_deleted=include_deleted)
    current = next((v for v in data["versions"] if v["current"]), None)
    at = f", live database at v{current['number']}" if current else ""
    return _answer(f"{len(data['versions'])} versions of project {project_id}{at}.", data)


@tool(name="compare_versions", title="Compare two versions", annotations=READ)
async def compare_versions(
    project_id: ProjectId,
    from_version: Annotated[int, Field(ge=0, description="The older version number.")],
    to_version: Annotated[int, Field(ge=0, description="The newer version number.")],
) -> CallToolResult:
    """What changed between two saved versions: tables and columns added or removed,
    column types changed, rows added or removed per table."""
    data = await _call(
        calls.versions_compare,
        project_id=project_id,
        from_version=from_version,
        to_version=to_version,
    )
    return _answer(f"v{from_version} → v{to_version} {data['summary']}.", data)


@tool(name="plan_rollback", title="What a rollback would drop", annotations=READ)
async def plan_rollback(project_id: ProjectId, version: VersionNumber) -> CallToolResult:
    """What rolling the live database back to `version` would change right now: the
    tables, columns and rows it would drop or bring back. Nothing is changed."""
    data = await _call(calls.rollback_plan, project_id=project_id, version=version)
    return _answer(f"Rolling back to v{version} {data['summary']}.", data)


@tool(name="rollback_to_version", title="Roll back", annotations=DESTRUCTIVE)
async def rollback_to_version(
    ctx: Context, project_id: ProjectId, version: VersionNumber
) -> CallToolResult:
    """Roll the project's live database back to a saved version. Everything written since
    that version is dropped from the live database (it stays in later versions, which you
    can still roll forward to). The connection string stays the same. Check plan_rollback
    first; the result says what was dropped."""
    job_id, plan = await _call(calls.rollback_start, project_id=project_id, version=version)

    def done(job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        text = f"Rolled back project {project_id} to {_version_line(job['version'])}"
        text += f": {plan['summary']}." if plan["summary"] else "."
        return text, {"version": job["version"], "dropped": plan}

    return await _job_outcome(ctx, job_id, done)


@tool(name="delete_version", title="Delete a version", annotations=DESTRUCTIVE)
async def delete_version(
    ctx: Context, project_id: ProjectId, version: VersionNumber
) -> CallToolResult:
    """Delete a version's snapshot for good: it can no longer be rolled back to or
    previewed (it stays in the history, marked deleted). Owners only."""
    job_id = await _call(calls.version_delete, project_id=project_id, version=version)

    def done(job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return f"Deleted v{version} of project {project_id}.", {"version": job["version"]}

    return await _job_outcome(ctx, job_id, done)


# Previews ---------------------------------------------------------------------------------


@tool(name="open_preview", title="Open a preview", annotations=CREATE)
async def open_preview(
    ctx: Context, project_id: ProjectId, version: VersionNumber
) -> CallToolResult:
    """Open a saved version on its own temporary database, side by side with the live one
    (which is not touched). Returns the preview's id and connection string. Previews
    expire on their own; discard_preview when you are done."""
    job_id = await _call(calls.preview_open, project_id=project_id, version=version)

    def done(job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        preview = job["preview"]
        text = f"Preview {preview['id']} of v{version} is open until {preview['expires_at']}."
        return text, {"preview": preview}

    return await _job_outcome(ctx, job_id, done)


@tool(name="discard_preview", title="Discard a preview", annotations=DESTRUCTIVE)
async def discard_preview(
    ctx: Context,
    project_id: ProjectId,
    preview_id: Annotated[int, Field(ge=0, description="The preview's id (from open_preview).")],
) -> CallToolResult:
    """Delete a preview's temporary database. The live database and the versions are not
    touched."""
    job_id = await _call(calls.preview_discard, project_id=project_id, preview_id=preview_id)

    def done(job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return f"Discarded preview {preview_id}.", {"preview": job["preview"]}

    return await _job_outcome(ctx, job_id, done)


# Share links ------------------------------------------------------------------------------


@tool(name="share_version", title="Share a version read-only", annotations=CREATE)
async def share_version(
    project_id: ProjectId,
    version: VersionNumber,
    hours: Annotated[int, Field(ge=1, le=168, description="Hours until it expires.")] = 24,
) -> CallToolResult:
    """Create a link that shows the version's app to anyone who has it, with no account
    and read-only (no forms, a database role that can only SELECT). Give people the path
    on this server; it expires after `hours` (at most 7 days). Operators and owners."""
    share = await _call(calls.share_create, project_id=project_id, version=version, hours=hours)
    text = f"Share link {share['id']} of v{version}: {share['path']} (until {share['expires_at']})."
    return _answer(text, {"share": share})


@tool(name="revoke_share", title="Revoke a share link", annotations=DESTRUCTIVE)
async def revoke_share(
    project_id: ProjectId,
    share_id: Annotated[int, Field(ge=0, description="The link's id (from share_version).")],
) -> CallToolResult:
    """End a share link at once: it answers 410 from now on and its preview is discarded."""
    share = await _call(calls.share_revoke, project_id=project_id, share_id=share_id)
    return _answer(f"Revoked share link {share_id}.", {"share": share})


# Jobs -------------------------------------------------------------------------------------


@tool(name="get_job", title="Job status", annotations=READ)
async def get_job(
    ctx: Context,
    project_id: ProjectId,
    job_id: Annotated[int, Field(ge=0, description="The job id a tool answered with.")],
    wait: Annotated[bool, Field(description="Wait (bounded) for the job to finish.")] = True,
) -> CallToolResult:
    """The state of a job a tool started (queued, running, succeeded, failed), its steps and
    its error. With wait, waits a bounded time for it to finish, reporting progress."""
    await _call(calls.job_find, project_id=project_id, job_id=job_id)
    if wait:
        await _job_wait(ctx, job_id)
    job = await _call(calls.job_answer, job_id=job_id)
    error = f": {job['error']['message']}" if job["error"] else ""
    return _answer(f"Job {job_id} ({job['kind']}) {job['state']}{error}", {"job": job})


# Resources --------------------------------------------------------------------------------


async def _resource(call: Callable[..., dict[str, Any]], **kwargs: Any) -> str:
    from mcp.server.mcpserver.exceptions import ResourceError

    try:
        return json.dumps(await _call(call, **kwargs), indent=2)
    except Refused as refused:
        raise ResourceError(f"{refused.failure.message} [{refused.failure.code}]") from None


@mcp.resource(
    "checkpoints://projects/{project_id}/versions",
    name="versions-timeline",
    title="A project's versions timeline",
    description="Every version of a project (deleted ones marked), the current one, and live "
    "previews, as JSON.",
    mime_type="application/json",
)
async def versions_timeline(project_id: int) -> str:
    return await _resource(calls.versions_timeline, project_id=project_id)


@mcp.resource(
    "checkpoints://projects/{project_id}/versions/{version}/manifest",
    name="version-manifest",
    title="A version's manifest",
    description="The tables, columns (with types) and row counts a version holds, as JSON.",
    mime_type="application/json",
)
async def version_manifest(project_id: int, version: int) -> str:
    return await _resource(calls.version_manifest, project_id=project_id, version=version)
