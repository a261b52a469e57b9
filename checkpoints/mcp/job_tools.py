"""The MCP tools that follow a job a tool started, or cancel it."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import Field

from checkpoints.mcp import job_calls
from checkpoints.mcp.app import (
    DESTRUCTIVE,
    READ,
    ProjectId,
    answer,
    call,
    job_wait,
    tool,
)
from checkpoints.mcp.outputs import JobAnswer


@tool(name="get_job", title="Job status", annotations=READ)
async def get_job(
    ctx: Context,
    project_id: ProjectId,
    job_id: Annotated[int, Field(ge=0, description="The job id a tool answered with.")],
    wait: Annotated[bool, Field(description="Wait (bounded) for the job to finish.")] = True,
) -> Annotated[CallToolResult, JobAnswer]:
    """The state of a job a tool started (queued, running, succeeded, failed), its steps and
    its error. With wait, waits a bounded time for it to finish, reporting progress."""
    await call(job_calls.job_find, project_id=project_id, job_id=job_id)
    if wait:
        await job_wait(ctx, job_id)
    job = await call(job_calls.job_answer, job_id=job_id)
    error = f": {job['error']['message']}" if job["error"] else ""
    return answer(f"Job {job_id} ({job['kind']}) {job['state']}{error}", {"job": job})


@tool(name="cancel_job", title="Cancel a job", annotations=DESTRUCTIVE)
async def cancel_job(
    project_id: ProjectId,
    job_id: Annotated[int, Field(ge=0, description="The job id a tool answered with.")],
) -> Annotated[CallToolResult, JobAnswer]:
    """Cancel a job: a queued one at once, a running one at its next safe point (its running
    statement is cancelled and rolled back). Operators and owners; not_running if it ended."""
    job = await call(job_calls.job_cancel, project_id=project_id, job_id=job_id)
    return answer(f"Job {job_id} ({job['kind']}) {job['state']}.", {"job": job})
