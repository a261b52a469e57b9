"""Streamable HTTP at /mcp: a Django view that runs the SDK's own transport per request.

gunicorn serves Django over WSGI (gthread workers), and the SDK's transport is an ASGI app
that needs a running task group. This view hands each request to a fresh
`StreamableHTTPSessionManager` in **stateless, JSON-response** mode inside `async_to_sync`:
one POST in, one JSON answer out, no session to keep between requests (so any worker,
thread or process can answer any request), and every database call of a tool runs back on
this request's thread (`sync_to_async(thread_sensitive=True)`), so Django opens and
closes its connection as for any view. Progress notifications need a stream, which JSON
mode has not: over HTTP a long action waits (bounded) and answers, or answers its job id.

Authentication is the API's: `Authorization: Bearer <token>`, 401 `{"code":
"unauthorized"}` without a valid one; roles and other teams' projects are answered inside
the MCP result as tool errors with the API's codes (`forbidden`, `not_found`). The Host
header is checked by Django (`ALLOWED_HOSTS`), which is what the SDK's DNS-rebinding guard
would do; no cookie is read, so CSRF cannot apply.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from checkpoints.api.http import ApiError, authenticate, error_response
from checkpoints.mcp.auth import acting_as
from checkpoints.mcp.server import mcp

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


async def _serve(scope: dict[str, Any], body: bytes, raw_token: str) -> tuple[int, list, bytes]:
    """The SDK's stateless transport for one request: (status, headers, body)."""
    sent: dict[str, Any] = {"status": 500, "headers": [], "body": []}
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:  # the body was read: wait for the disconnect that never comes
            return {"type": "http.disconnect"}
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent["status"], sent["headers"] = message["status"], message.get("headers", [])
        elif message["type"] == "http.response.body":
            sent["body"].append(message.get("body", b""))

    manager = StreamableHTTPSessionManager(
        app=mcp._lowlevel_server,  # the SDK exposes no public handle on the low-level server
        stateless=True,
        json_response=True,
    )
    with acting_as(raw_token):
        async with manager.run():
            await manager.handle_request(scope, receive, send)
    return sent["status"], sent["headers"], b"".join(sent["body"])


@csrf_exempt
@login_not_required
def endpoint(request: HttpRequest) -> HttpResponse:
    """POST /mcp (JSON-RPC over Streamable HTTP); GET and DELETE answer 405 (stateless)."""
    try:
        authenticate(request)
    except ApiError as error:
        response = error_response(error)
        response["WWW-Authenticate"] = 'Bearer realm="checkpoints"'
        return response
    if request.method != "POST":  # stateless: no stream to GET, no session to DELETE
        return HttpResponse(status=405, headers={"Allow": "POST"})
    raw = request.headers["Authorization"].partition(" ")[2].strip()
    status, headers, body = async_to_sync(_serve)(_scope(request), request.body, raw)
    response = HttpResponse(body, status=status)
    for name, value in headers:
        key = name.decode("latin-1")
        if key.lower() not in _HOP_BY_HOP:
            response[key] = value.decode("latin-1")
    response["Cache-Control"] = "no-store"
    return response
