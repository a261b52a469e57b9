"""Streamable HTTP at /mcp: a Django view that runs the SDK's own transport per request.

gunicorn serves Django over WSGI (gthread workers); the SDK's transport is an ASGI app that
needs a running event loop and task group. Each POST is handed to a thread that runs a
fresh `StreamableHTTPSessionManager` in **stateless** mode inside `async_to_sync`: no
session is kept between requests, so any worker, thread or process answers any request,
and the tools' database calls (`sync_to_async(thread_sensitive=True)`) run on that thread
(one of a pool: it keeps its connection as a request thread does). The transport's answer
(an SSE stream: progress notifications as the job's steps go, then the result) is relayed
through a queue to a `StreamingHttpResponse`, which gthread writes out chunk by chunk.

Authentication is the API's: `Authorization: Bearer <token>`, 401 `{"code":
"unauthorized"}` without a valid one; roles and other teams' projects are answered inside
the MCP result as tool errors with the API's codes (`forbidden`, `not_found`). The Host
header is checked by Django (`ALLOWED_HOSTS`), which is what the SDK's DNS-rebinding guard
would do; no cookie is read, so CSRF cannot apply.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from queue import SimpleQueue
from typing import Any

import anyio
from asgiref.sync import async_to_sync
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from checkpoints.mcp.auth import acting_as
from checkpoints.mcp.server import mcp
from checkpoints.tokens import UNAUTHORIZED, token_from_header

logger = logging.getLogger(__name__)

#: Response headers the SDK sets that the WSGI server owns.
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection"}


def _scope(request: HttpRequest) -> dict[str, Any]:
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in request.headers.items()
    ]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.path.encode(),
        "root_path": "",
        "query_string": request.META.get("QUERY_STRING", "").encode("latin-1"),
        "headers": headers,
        "server": (request.get_host(), int(request.get_port())),
        "client": (request.META.get("REMOTE_ADDR", ""), 0),
    }


_END = object()
#: The threads that run requests: each keeps its database connection like a request
#: thread does (`CONN_MAX_AGE`, checked by each call). More than gthread's threads, so a
#: stream a client abandoned (its tool still finishing) never holds up a new request.
_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="mcp-request")


async def _serve(scope: dict[str, Any], body: bytes, raw_token: str, out: SimpleQueue) -> None:
    """The SDK's stateless transport for one request; what it sends goes to `out`."""
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:  # WSGI tells no disconnect: the stream ends when the answer is sent
            await anyio.sleep_forever()
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        out.put(message)

    manager = StreamableHTTPSessionManager(
        app=mcp._lowlevel_server,  # the SDK exposes no public handle on the low-level server
        stateless=True,
    )
    with acting_as(raw_token):
        async with manager.run():
            await manager.handle_request(scope, receive, send)


def _run(scope: dict[str, Any], body: bytes, raw_token: str, out: SimpleQueue) -> None:
    """The request's own thread: an event loop for the transport, and this thread for the
    tools' database calls (`async_to_sync` brings thread-sensitive calls back here)."""
    try:
        async_to_sync(_serve)(scope, body, raw_token, out)
    except Exception:
        logger.exception("MCP request failed")
    finally:
        out.put(_END)


def _messages(out: SimpleQueue) -> Iterator[dict[str, Any]]:
    while (message := out.get()) is not _END:
        yield message


@csrf_exempt
@login_not_required
def endpoint(request: HttpRequest) -> HttpResponse:
    """POST /mcp (JSON-RPC over Streamable HTTP); GET and DELETE answer 405 (stateless)."""
    if token_from_header(request.headers.get("Authorization", "")) is None:
        response = JsonResponse({"code": "unauthorized", "message": UNAUTHORIZED}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="checkpoints"'
        return response
    if request.method != "POST":  # stateless: no stream to GET, no session to DELETE
        return HttpResponse(status=405, headers={"Allow": "POST"})
    raw = request.headers["Authorization"].partition(" ")[2].strip()
    out: SimpleQueue = SimpleQueue()
    _POOL.submit(_run, _scope(request), request.body, raw, out)
    messages = _messages(out)
    start = next(messages, None)
    if start is None or start["type"] != "http.response.start":
        return HttpResponse(status=500)
    body = (m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    response = StreamingHttpResponse(body, status=start["status"])
    for name, value in start.get("headers", []):
        key = name.decode("latin-1")
        if key.lower() not in _HOP_BY_HOP:
            response[key] = value.decode("latin-1")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # a proxy in front must not hold the progress back
    return response
