"""MCP tools that show a version elsewhere: previews and read-only share links."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import Field

from checkpoints.mcp import preview_calls
from checkpoints.mcp.app import (
    CREATE,
    DESTRUCTIVE,
    READ,
    PageNumber,
    PerPage,
    ProjectId,
    Reveal,
    VersionNumber,
    answer,
    call,
    job_outcome,
    page_text,
    tool,
)
from checkpoints.mcp.outputs import JobOutcome, ShareAnswer
from checkpoints.paging import DEFAULT_PER_PAGE, PageRequest
from checkpoints.shapes import PreviewList, ShareList
from checkpoints.shapes.fields import Hours


@tool(name="open_preview", title="Open a preview", annotations=CREATE)
async def open_preview(
    ctx: Context, project_id: ProjectId, version: VersionNumber, reveal: Reveal = False
) -> Annotated[CallToolResult, JobOutcome]:
    """Open a saved version on its own temporary database, side by side with the live one
    (which is not touched). Returns the preview's id and connection string (password
    masked unless reveal=true). Previews expire on their own; discard_preview when done."""
    job_id = await call(preview_calls.preview_open, project_id=project_id, version=version)

    def done(job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        preview = job["preview"]
        text = f"Preview {preview['id']} of v{version} is open until {preview['expires_at']}."
        return text, {"preview": preview}

    return await job_outcome(ctx, job_id, done, reveal=reveal)


@tool(name="discard_preview", title="Discard a preview", annotations=DESTRUCTIVE)
async def discard_preview(
    ctx: Context,
    project_id: ProjectId,
    preview_id: Annotated[int, Field(ge=0, description="The preview's id (from open_preview).")],
) -> Annotated[CallToolResult, JobOutcome]:
    """Delete a preview's temporary database. The live database and the versions are not
    touched."""
    job_id = await call(preview_calls.preview_discard, project_id=project_id, preview_id=preview_id)

    def done(job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return f"Discarded preview {preview_id}.", {"preview": job["preview"]}

    return await job_outcome(ctx, job_id, done)


# Share links ------------------------------------------------------------------------------


@tool(name="share_version", title="Share a version read-only", annotations=CREATE)
async def share_version(
    project_id: ProjectId,
    version: VersionNumber,
    hours: Annotated[Hours, Field(description="Hours until it expires.")] = 24,
) -> Annotated[CallToolResult, ShareAnswer]:
    """Create a link that shows the version's app to anyone who has it, with no account
    and read-only (no forms, a database role that can only SELECT). Give people the path
    on this server; it expires after `hours` (at most 7 days). Operators and owners."""
    share = await call(
        preview_calls.share_create, project_id=project_id, version=version, hours=hours
    )
    text = f"Share link {share['id']} of v{version}: {share['path']} (until {share['expires_at']})."
    return answer(text, {"share": share})


@tool(name="revoke_share", title="Revoke a share link", annotations=DESTRUCTIVE)
async def revoke_share(
    project_id: ProjectId,
    share_id: Annotated[int, Field(ge=0, description="The link's id (from share_version).")],
) -> Annotated[CallToolResult, ShareAnswer]:
    """End a share link at once: it answers 410 from now on and its preview is discarded."""
    share = await call(preview_calls.share_revoke, project_id=project_id, share_id=share_id)
    return answer(f"Revoked share link {share_id}.", {"share": share})


@tool(name="list_previews", title="List previews", annotations=READ)
async def list_previews(
    project_id: ProjectId, page: PageNumber = 1, per_page: PerPage = DEFAULT_PER_PAGE
) -> Annotated[CallToolResult, PreviewList]:
    """The project's live previews, newest first (id, version, when each expires). Paged:
    `count` is the total, `next_page` the page to ask for next."""
    asked = PageRequest(number=page, per_page=per_page)
    data = await call(preview_calls.previews_list, project_id=project_id, page=asked)
    listed = ", ".join(f"{p['id']}: v{p['version']}" for p in data["items"]) or "none"
    return answer(f"{data['count']} live previews ({listed}){page_text(data)}.", data)


@tool(name="list_shares", title="List share links", annotations=READ)
async def list_shares(
    project_id: ProjectId, page: PageNumber = 1, per_page: PerPage = DEFAULT_PER_PAGE
) -> Annotated[CallToolResult, ShareList]:
    """The project's live share links, newest first (id, version, expiry, how often each
    was opened; never the link itself: it is shown once, by share_version). Paged."""
    asked = PageRequest(number=page, per_page=per_page)
    data = await call(preview_calls.shares_list, project_id=project_id, page=asked)
    listed = ", ".join(f"{s['id']}: v{s['version']}" for s in data["items"]) or "none"
    return answer(f"{data['count']} live share links ({listed}){page_text(data)}.", data)
