"""The MCP server's instance and the plumbing its tools share.

Each tool is one async function: it runs its `*_calls` function on Django's thread for
database work (`sync_to_async`), waits for the job it started while reporting each step
as an MCP progress notification, and answers structured content (its shape is the
tool's `outputSchema`: `mcp/outputs.py`) plus a one-line text. A job still running
after `CHECKPOINTS_MCP_WAIT_SECONDS` is answered with its id, to poll with `get_job`. A
refusal is a tool error (`isError`) carrying the API's stable code.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

import anyio
from asgiref.sync import sync_to_async
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import ValidationError

from checkpoints.mcp import job_calls
from checkpoints.mcp.arguments import (  # noqa: F401 (the tools import them from here)
    PageNumber,
    PerPage,
    ProjectId,
    Reveal,
    VersionNumber,
)
from checkpoints.mcp.auth import writes_allowed
from checkpoints.mcp.failures import ToolFailure, arguments_invalid, guarded, wait_limit
from checkpoints.mcp.idempotency import IdempotencyKey, key_claim, key_keep
from checkpoints.services.idempotency import KEY_IN_PROGRESS

INSTRUCTIONS = """\
Checkpoints keeps versions of a project's PostgreSQL database. Save a version before and \
after each risky change (save_version applies your SQL in one transaction: if a statement \
fails nothing is applied and the error names it). Before rolling back, call plan_rollback \
to see what the live database would lose. A rollback keeps the project's connection \
string: apps keep working against it. Open a preview to inspect an old version on its own \
temporary database without touching the live one, and discard it when done. Read data \
with run_sql (read-only; version=N reads a saved version) and describe_schema; try a \
schema change with prepare_migration, then apply_migration. Long actions \
wait for their job; if one is still running you get a job id to poll with get_job."""

KEY_POLL_SECONDS = 0.1  # how often a retry looks whether the first call with its key ended


class Server(MCPServer):
    """The SDK's server, whose argument errors answer like every other refusal: a tool
    error with the code `invalid` and per-argument `details` (not pydantic's dump)."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context | None = None
    ) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as error:
            if isinstance(error.__cause__, ValidationError):
                return refusal(arguments_invalid(error.__cause__))
            raise


mcp: MCPServer = Server(
    "checkpoints",
    title="Checkpoints",
    description="Database versions for AI-agent projects: save, diff, roll back, preview.",
    instructions=INSTRUCTIONS,
)

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
CREATE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)


# Plumbing ---------------------------------------------------------------------------------


class Refused(Exception):
    def __init__(self, failure: ToolFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


async def call[T](fn: Callable[..., T], /, **kwargs: Any) -> T:
    """`fn(**kwargs)` on Django's side (thread-sensitive: one connection per thread)."""
    try:
        return await sync_to_async(guarded, thread_sensitive=True)(fn, **kwargs)
    except ToolFailure as failure:
        raise Refused(failure) from None


async def waiting[T](fn: Callable[..., T], /, **kwargs: Any) -> T:
    """`fn(**kwargs)` that waits (LISTEN) on a thread of its own, not the shared one."""
    try:
        return await sync_to_async(guarded, thread_sensitive=False)(fn, **kwargs)
    except ToolFailure as failure:
        raise Refused(failure) from None


def answer(text: str, data: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def refusal(failure: ToolFailure) -> CallToolResult:
    text = f"{' '.join(failure.message.splitlines())} [{failure.code}]"
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content={"error": failure.as_dict()},
        is_error=True,
    )


def _step_text(step: dict[str, Any]) -> str:
    detail = step.get("detail") or ""
    return f"{step.get('name', '')}: {detail}" if detail else str(step.get("name", ""))


async def job_wait(ctx: Context, job_id: int) -> bool:
    """Wait for the job, woken by its notifications (`job_waits`, as every door waits), one
    progress notification per step and per change of a step's text; False on time out.
    Steps a fast job went through between two reads are reported too (in order)."""
    deadline = time.monotonic() + wait_limit()
    reported: list[str] = []  # the text last notified for each step, by position
    sent = 0  # the progress value: it increases with each notification, as the protocol asks
    seen = ""
    while True:
        left = max(0.0, deadline - time.monotonic())
        finished, steps, seen = await waiting(
            job_calls.job_news, job_id=job_id, seen=seen, seconds=left
        )
        for index, step in enumerate(steps):
            text = _step_text(step)
            if index < len(reported) and reported[index] == text:
                continue
            if index < len(reported):
                reported[index] = text
            else:
                reported.append(text)
            sent += 1
            await ctx.report_progress(sent, None, text)
        if finished:
            return True
        if time.monotonic() >= deadline:
            return False


async def job_outcome(
    ctx: Context,
    job_id: int,
    done: Callable[[dict[str, Any]], tuple[str, dict[str, Any]]],
    *,
    reveal: bool = False,
) -> CallToolResult:
    """The job's outcome: `done(job)` for a success, a tool error for a failure, or the job
    id to poll when it is still running (a preview's password masked unless `reveal`)."""
    finished = await job_wait(ctx, job_id)
    job = await call(job_calls.job_answer, job_id=job_id, reveal=reveal)
    if not finished:
        text = (
            f"Job {job['id']} ({job['kind']}) is still running: "
            f"poll get_job(project_id={job['project']}, job_id={job['id']})."
        )
        return answer(text, {"finished": False, "job": job})
    if job["state"] != "succeeded":
        error = job["error"] or {"code": "job_failed", "message": "The job failed."}
        return refusal(ToolFailure(error["code"], error["message"], job=job))
    text, data = done(job)
    return answer(text, {"finished": True, **data, "job": job})


def tool(**options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`mcp.tool(...)` whose refusals answer as tool errors (`isError`) with their code."""

    writes = not options["annotations"].read_only_hint

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> CallToolResult:
            key = kwargs.pop("idempotency_key", None)
            try:
                if writes:  # a read-only token is refused before anything starts
                    await call(writes_allowed)
                if key is None:
                    return await fn(*args, **kwargs)
                asked = {k: v for k, v in kwargs.items() if not isinstance(v, Context)}
                return await idempotent(fn.__name__, key, asked, lambda: fn(*args, **kwargs))
            except Refused as refused:
                return refusal(refused.failure)

        if writes:
            _key_parameter_add(fn, wrapper)
        # The docstring as one paragraph: what a model reads to choose the tool.
        description = " ".join((fn.__doc__ or "").split())
        mcp.tool(description=description, **options)(wrapper)
        return wrapper

    return register


def _key_parameter_add(fn: Callable[..., Any], wrapper: Callable[..., Any]) -> None:
    """Give a tool that changes something the `idempotency_key` argument."""
    signature = inspect.signature(fn, eval_str=True)
    key = inspect.Parameter(
        "idempotency_key", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=IdempotencyKey
    )
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), key]
    )
    wrapper.__annotations__ = {**fn.__annotations__, "idempotency_key": IdempotencyKey}


async def idempotent(
    name: str, key: str, asked: dict[str, Any], run: Callable[[], Awaitable[CallToolResult]]
) -> CallToolResult:
    """`run()`'s result once per key: a retry answers the kept result (waiting for the first
    call to finish if it still runs)."""
    deadline = time.monotonic() + wait_limit() + 30
    while (claim := await call(key_claim, tool=name, arguments=asked, key=key)) is None:
        if time.monotonic() >= deadline:
            raise Refused(ToolFailure("idempotency_in_progress", KEY_IN_PROGRESS))
        await anyio.sleep(KEY_POLL_SECONDS)
    if claim.answer is not None:
        return CallToolResult.model_validate(claim.answer)
    try:
        result = await run()
    except Refused as refused:
        result = refusal(refused.failure)
    except BaseException:
        await call(key_keep, record=claim.record, result=None)
        raise
    kept = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    await call(key_keep, record=claim.record, result=kept)
    return result


def version_line(version: dict[str, Any]) -> str:
    return f"v{version['number']} “{version['name']}”"


def page_text(data: dict[str, Any]) -> str:
    """`page 1 of 20; more with page=2` for a paged answer (empty when all fits one page)."""
    if data["pages"] <= 1 and data["page"] == 1:
        return ""
    more = f"; more with page={data['next_page']}" if data["next_page"] else ""
    return f" (page {data['page']} of {data['pages']}{more})"
