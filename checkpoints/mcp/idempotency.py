"""`idempotency_key` on the MCP tools that change something: a retried call with the same
key answers the first call's result and does nothing twice (services/idempotency.py).

Each tool that is not read-only gets the argument from `app.tool`; this module is what it
runs on Django's side to claim a key and to keep a result."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from checkpoints.mcp.auth import current_user
from checkpoints.models import IdempotencyRecord
from checkpoints.services import idempotency

IdempotencyKey = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=255,
        description="Any unique string (a UUID) for this call: a retry with the same key "
        "answers the first call's result and does nothing twice.",
    ),
]

#: Tool errors that did nothing and may pass later: a retry tries again.
NOT_KEPT = {"busy", "engine_error", "engine_timeout", "internal", "unauthorized"}


def key_claim(*, tool: str, arguments: dict[str, Any], key: str) -> idempotency.Claim | None:
    """Ours to run, already answered, or None while another call with the key runs."""
    asked = idempotency.fingerprint("mcp", tool, arguments)
    return idempotency.idempotency_claim(user=current_user(), key=key, fingerprint=asked)


def key_keep(*, record: IdempotencyRecord, result: dict[str, Any] | None) -> None:
    """Keep the tool's result for retries (None, or an error in `NOT_KEPT`: free the key)."""
    error = (result or {}).get("structuredContent") or {}
    code = error.get("error", {}).get("code") if result and result.get("isError") else None
    idempotency.idempotency_store(record, None if code in NOT_KEPT else result)
