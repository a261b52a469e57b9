"""Neon's JSON shapes of what the backend holds, and the parsing of query values (declarative)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from checkpoints.engines.base import Branch, Endpoint, Snapshot
from checkpoints.engines.errors import (
    EngineError,
    EngineInvalidRequest,
    EngineLocked,
    EngineNotFound,
    EngineNotSupported,
)

from .model import (
    REGION,
    _ProjectMeta,
    _Reply,
    _ts,
)


def _format_seconds(seconds: float) -> str:
    seconds = max(0.0, seconds)
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:.3f}"


def _error(message: str, request_id: str) -> dict[str, Any]:
    return {"request_id": request_id, "code": "", "message": message}


def _engine_error_status(exc: EngineError) -> int:
    if isinstance(exc, EngineNotFound):
        return 404
    if isinstance(exc, EngineLocked):
        return 423
    if isinstance(exc, EngineInvalidRequest):
        return 409 if "already exists" in exc.message else 400
    if isinstance(exc, EngineNotSupported):
        return 400
    return 500


def _int(value: str | None, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _Reply(400, f"invalid integer {value!r}") from None
    if not low <= number <= high:
        raise _Reply(400, f"value {number} out of range {low}..{high}")
    return number


def _parse_dt(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Reply(400, f"invalid timestamp {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _project_json(meta: _ProjectMeta) -> dict[str, Any]:
    p = meta.project
    created = _ts(p.created_at)
    body = {
        "data_storage_bytes_hour": 0,
        "data_transfer_bytes": 0,
        "written_data_bytes": 0,
        "compute_time_seconds": 0,
        "active_time_seconds": 0,
        "cpu_used_sec": 0,
        "id": p.id,
        "platform_id": "aws",
        "region_id": REGION,
        "name": p.name,
        "provisioner": "k8s-neonvm",
        "default_endpoint_settings": {
            "autoscaling_limit_min_cu": 0.25,
            "autoscaling_limit_max_cu": 0.25,
            "suspend_timeout_seconds": 0,
        },
        "pg_version": 17,
        "proxy_host": "us-east-2.aws.neon.tech",
        "branch_logical_size_limit": 512,
        "branch_logical_size_limit_bytes": 536870912,
        "store_passwords": True,
        "creation_source": "console",
        "history_retention_seconds": 86400,
        "created_at": created,
        "updated_at": created,
        "consumption_period_start": "0001-01-01T00:00:00Z",
        "consumption_period_end": "0001-01-01T00:00:00Z",
        "owner_id": "00000000-0000-4000-8000-000000000000",
    }
    if meta.org_id:
        body["org_id"] = meta.org_id
    return body


def _branch_json(b: Branch) -> dict[str, Any]:
    created = _ts(b.created_at)
    body: dict[str, Any] = {
        "id": b.id,
        "project_id": b.project_id,
        "name": b.name,
        "current_state": b.current_state or "ready",
        "state_changed_at": created,
        "creation_source": "console",
        "primary": b.default,
        "default": b.default,
        "protected": False,
        "cpu_used_sec": 0,
        "compute_time_seconds": 0,
        "active_time_seconds": 0,
        "written_data_bytes": 0,
        "data_transfer_bytes": 0,
        "created_at": created,
        "updated_at": created,
        "init_source": "parent-data",
    }
    if b.parent_id:
        body["parent_id"] = b.parent_id
    if b.logical_size is not None:
        body["logical_size"] = b.logical_size
    for key in ("restore_status", "restored_from", "restored_as"):
        if getattr(b, key):
            body[key] = getattr(b, key)
    return body


def _endpoint_json(e: Endpoint) -> dict[str, Any]:
    return {
        "host": e.host,
        "id": e.id,
        "project_id": e.project_id,
        "branch_id": e.branch_id,
        "autoscaling_limit_min_cu": 0.25,
        "autoscaling_limit_max_cu": 0.25,
        "region_id": REGION,
        "type": e.type,
        "current_state": e.current_state
        if e.current_state in ("init", "active", "idle")
        else "active",
        "settings": {"pg_settings": {}},
        "pooler_enabled": False,
        "pooler_mode": "transaction",
        "disabled": False,
        "passwordless_access": True,
        "creation_source": "console",
        "created_at": _ts(time.time()),
        "updated_at": _ts(time.time()),
        "proxy_host": "us-east-2.aws.neon.tech",
        "suspend_timeout_seconds": 0,
        "provisioner": "k8s-neonvm",
    }


def _snapshot_json(s: Snapshot) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": s.id,
        "name": s.name,
        "created_at": _ts(s.created_at),
        "manual": s.manual,
    }
    if s.source_branch_id:
        body["source_branch_id"] = s.source_branch_id
    if s.expires_at:
        # Kept to the microsecond: an expiry rounded either way would fire early or late.
        body["expires_at"] = s.expires_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if s.lsn:
        body["lsn"] = s.lsn
    if s.timestamp:
        body["timestamp"] = _ts(s.timestamp)
    if s.full_size is not None:
        body["full_size"] = s.full_size
    return body


def _role_json(branch: Branch, role: str) -> dict[str, Any]:
    created = _ts(branch.created_at)
    return {
        "branch_id": branch.id,
        "name": role,
        "protected": False,
        "created_at": created,
        "updated_at": created,
    }


def _database_json(meta: _ProjectMeta, branch: Branch) -> dict[str, Any]:
    created = _ts(branch.created_at)
    return {
        "id": abs(hash(branch.id)) % 10**8,
        "branch_id": branch.id,
        "name": meta.database_name,
        "owner_name": meta.role_name,
        "created_at": created,
        "updated_at": created,
    }


def _with_credentials(uri: str, source: str) -> str:
    """`uri` with the user and password of `source`."""
    parts, creds = urlsplit(uri), urlsplit(source)
    netloc = creds.netloc.rsplit("@", 1)[0] + "@" + parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=netloc))


def _connection_details(uri: str, database: str, role: str) -> dict[str, Any]:
    parts = urlsplit(uri)
    host = parts.hostname or ""
    return {
        "connection_uri": uri,
        "connection_parameters": {
            "database": (parts.path or "/").lstrip("/") or database,
            "password": unquote(parts.password or ""),
            "role": unquote(parts.username or role),
            "host": host,
            "pooler_host": host,
        },
    }
