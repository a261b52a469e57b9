"""Neon's JSON into the frozen dataclasses of `engines.base`, at the boundary.

Unknown fields are ignored; a missing required field becomes an `EngineError` naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from ..base import Branch, Endpoint, Operation, Project, Snapshot
from ..errors import EngineError


def body_of(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or an `EngineError` saying it is not one."""
    try:
        body = response.json()
    except ValueError as exc:
        raise EngineError(
            f"Neon API answered {response.status_code} with a body that is not JSON",
            status=response.status_code,
        ) from exc
    if not isinstance(body, dict):
        raise EngineError("Neon API answered with an unexpected JSON body")
    return body


def parsed[T](parser: Callable[[Any], T], raw: Any, key: str | None = None) -> T:
    """`parser(raw[key])` (or `parser(raw)`), a malformed body turned into `EngineError`."""
    try:
        return parser(raw[key] if key is not None else raw)
    except (KeyError, TypeError, ValueError) as exc:
        what = f"{key!r} " if key else ""
        raise EngineError(
            f"Neon API returned an unexpected {what}body: {type(exc).__name__}: {exc}"
        ) from None


def seg(value: str) -> str:
    """One URL path segment."""
    return quote(str(value), safe="")


def dt(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    result = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return result if result.tzinfo else result.replace(tzinfo=UTC)


def req_dt(value: Any) -> datetime:
    result = dt(value)
    if result is None:
        raise ValueError("missing timestamp")
    return result


def format_dt(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def project_from(raw: dict[str, Any]) -> Project:
    return Project(
        id=raw["id"],
        name=raw["name"],
        created_at=req_dt(raw["created_at"]),
        region_id=raw.get("region_id") or "unknown",
    )


def branch_from(raw: dict[str, Any]) -> Branch:
    return Branch(
        id=raw["id"],
        project_id=raw["project_id"],
        name=raw["name"],
        created_at=req_dt(raw["created_at"]),
        parent_id=raw.get("parent_id") or None,
        default=bool(raw.get("default", raw.get("primary", False))),
        current_state=raw.get("current_state") or "ready",
        logical_size=raw.get("logical_size"),
        restore_status=raw.get("restore_status") or None,
        restored_from=raw.get("restored_from") or None,
        restored_as=raw.get("restored_as") or None,
    )


def snapshot_from(raw: dict[str, Any]) -> Snapshot:
    return Snapshot(
        id=raw["id"],
        name=raw["name"],
        created_at=req_dt(raw["created_at"]),
        source_branch_id=raw.get("source_branch_id") or None,
        expires_at=dt(raw.get("expires_at")),
        lsn=raw.get("lsn") or None,
        timestamp=dt(raw.get("timestamp")),
        full_size=raw.get("full_size"),
        manual=bool(raw.get("manual", True)),
    )


def endpoint_from(raw: dict[str, Any]) -> Endpoint:
    return Endpoint(
        id=raw["id"],
        project_id=raw["project_id"],
        branch_id=raw["branch_id"],
        host=raw["host"],
        type=raw.get("type") or "read_write",
        current_state=raw.get("current_state") or "active",
    )


def operation_from(raw: dict[str, Any]) -> Operation:
    return Operation(
        id=raw["id"],
        project_id=raw["project_id"],
        action=raw["action"],
        status=raw["status"],
        created_at=req_dt(raw["created_at"]),
        updated_at=req_dt(raw["updated_at"]),
        branch_id=raw.get("branch_id") or None,
        endpoint_id=raw.get("endpoint_id") or None,
        error=raw.get("error") or None,
        failures_count=int(raw.get("failures_count") or 0),
        retry_at=dt(raw.get("retry_at")),
        total_duration_ms=int(raw.get("total_duration_ms") or 0),
    )


def operations_from(raw: Iterable[dict[str, Any]]) -> list[Operation]:
    return [operation_from(item) for item in raw]


def read_write(endpoints: list[dict[str, Any]]) -> dict[str, Any]:
    """The read-write endpoint of a list (else the first one)."""
    for raw in endpoints:
        if raw.get("type") == "read_write":
            return raw
    if endpoints:
        return endpoints[0]
    raise KeyError("endpoints")
