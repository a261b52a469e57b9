"""What Neon's non-2xx answers mean: the typed error, the hinted wait, the request id."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

import httpx

from ..base import mask_password
from ..errors import (
    EngineError,
    EngineInvalidRequest,
    EngineLocked,
    EngineNotFound,
    EngineTransientError,
)

_INVALID_STATUSES = frozenset({400, 409, 412, 422})


def error_from_response(
    method: str, path: str, response: httpx.Response, request_id: str
) -> EngineError:
    """The typed error for a non-2xx answer; passwords in its text are masked."""
    status = response.status_code
    code: str | None = None
    message = ""
    body_request_id = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = str(body.get("message") or "")
        code = body.get("code") or None
        body_request_id = body.get("request_id") or None
    if not message:
        message = response.reason_phrase or "error"
    message = mask_password(message)
    text = mask_password(f"Neon API {status} on {method} {path}: {message}")
    rid = body_request_id or response_request_id(response) or request_id
    return _error_class(status)(text, status=status, code=code, request_id=rid, reply=message)


def _error_class(status: int) -> type[EngineError]:
    if status == 404:
        return EngineNotFound
    if status == 423:
        return EngineLocked
    if status in _INVALID_STATUSES:
        return EngineInvalidRequest
    if status == 429 or status >= 500:
        return EngineTransientError
    return EngineError


def refusal_reason(message: str) -> str:
    """Neon's error `code` is empty in practice: its message says why (REFERENCE.md §2.1).
    `message` is Neon's own (`EngineError.reply`): ids in a path have words like `limit`."""
    text = message.lower()
    if "limit" in text:
        return "limit"
    if "quota" in text:
        return "quota"
    if "already exists" in text or "unique" in text:
        return "name"
    return "refused"


def response_request_id(response: httpx.Response) -> str | None:
    return response.headers.get("x-neon-ret-request-id") or response.headers.get("x-request-id")


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the answer's `Retry-After` asks for (a number or an HTTP date), if any."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
