"""What the emulator keeps: Neon's messages, faults, operations and their phases, project records."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from checkpoints.engines.base import Project

LOCKED_MESSAGE = (
    "project already has running conflicting operations, scheduling of new ones is prohibited"
)
AUTH_MESSAGE = "supplied credentials do not pass authentication"
SNAPSHOT_LIMIT_MESSAGE = (
    "snapshots limit exceeded: the project already has {used} manual snapshots (limit {limit})"
)
SNAPSHOT_NAME_TAKEN = "snapshot with name {name!r} already exists"
#: What `refuse_snapshots` answers, by reason: (status, message).
REFUSALS = {
    "limit": (422, "snapshots limit exceeded"),
    "quota": (403, "project data size quota exceeded: snapshots cannot be created"),
    "refused": (400, "snapshot could not be created: branch is not eligible"),
}
BASE_PATH = "/api/v2"
#: The account of the emulator's own `api_key` (and of any key while none was added).
DEFAULT_ACCOUNT = "default"
REGION = "aws-us-east-2"

# Failure plans for operations (see `fail_operations`).
NORMAL = "normal"
RETRY = "retry"  # failed (failures_count 1, retry_at set), then retried to finished
STAY_FAILED = "stay_failed"  # failed, no retry pending, forever
ERROR = "error"  # error, forever
HANG = "hang"  # running forever
CANCEL = "cancel"  # cancelling, then cancelled (the backend's work was done regardless)


class _Reply(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Fault:
    kind: str  # "status" | "drop" | "drop_after" | "slow"
    path: re.Pattern[str]
    method: str | None = None
    count: int = 1
    status: int = 503
    message: str = "service unavailable"
    retry_after: float | None = None
    delay: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return (self.method in (None, method)) and bool(self.path.search(path))


@dataclass
class _Phase:
    at: float  # seconds after creation
    status: str
    failures_count: int = 0
    error: str | None = None
    retry_at: float | None = None  # seconds after creation


@dataclass
class EmulatedOperation:
    id: str
    project_id: str
    action: str
    created: float  # wall clock (time.time())
    phases: list[_Phase]
    branch_id: str | None = None
    endpoint_id: str | None = None

    def phase(self, now: float) -> _Phase:
        current = self.phases[0]
        for phase in self.phases:
            if now - self.created >= phase.at:
                current = phase
        return current

    @property
    def finished_at(self) -> float | None:
        last = self.phases[-1]
        return self.created + last.at if last.status == "finished" else None

    def to_json(self, now: float) -> dict[str, Any]:
        phase = self.phase(now)
        end = self.phases[-1].at if self.phases[-1].status in ("finished", "error") else None
        elapsed = now - self.created if end is None else min(now - self.created, end)
        body: dict[str, Any] = {
            "id": self.id,
            "project_id": self.project_id,
            "action": self.action,
            "status": phase.status,
            "failures_count": phase.failures_count,
            "created_at": _ts(self.created),
            "updated_at": _ts(self.created + phase.at),
            "total_duration_ms": int(max(0.0, elapsed) * 1000),
        }
        if self.branch_id:
            body["branch_id"] = self.branch_id
        if self.endpoint_id:
            body["endpoint_id"] = self.endpoint_id
        if phase.error:
            body["error"] = phase.error
        if phase.retry_at is not None:
            body["retry_at"] = _ts(self.created + phase.retry_at, ceil=True)
        return body


@dataclass
class _ProjectMeta:
    project: Project
    org_id: str | None
    database_name: str
    role_name: str
    operations: list[str] = field(default_factory=list)
    #: The account that made it (`DEFAULT_ACCOUNT` unless keys were added per account).
    account: str = "default"
    #: branch id -> roles created on that branch through the API (they exist nowhere else)
    branch_roles: dict[str, set[str]] = field(default_factory=dict)


def _ts(value: float | datetime, *, ceil: bool = False, micro: bool = False) -> str:
    if isinstance(value, datetime):
        value = value.timestamp()
    if micro:
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    seconds = math.ceil(value) if ceil else math.floor(value)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
