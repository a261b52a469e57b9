"""What engines return: frozen dataclasses and Neon's operation states (no behaviour)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

SCHEDULING = "scheduling"
RUNNING = "running"
FINISHED = "finished"
FAILED = "failed"
ERROR = "error"
CANCELLING = "cancelling"
CANCELLED = "cancelled"
SKIPPED = "skipped"

SUCCEEDED_STATUSES = frozenset({FINISHED, SKIPPED})
TERMINAL_STATUSES = frozenset({FINISHED, SKIPPED, CANCELLED, ERROR})
BUSY_STATUSES = frozenset({SCHEDULING, RUNNING, CANCELLING})

ROOT_BRANCH_NAME = "main"
READONLY_UNSUPPORTED = "The {engine} engine cannot make read-only roles (needed by share links)."


@dataclass(frozen=True)
class Operation:
    id: str
    project_id: str
    action: str
    status: str
    created_at: datetime
    updated_at: datetime
    branch_id: str | None = None
    endpoint_id: str | None = None
    error: str | None = None
    failures_count: int = 0
    retry_at: datetime | None = None
    total_duration_ms: int = 0

    @property
    def succeeded(self) -> bool:
        return self.status in SUCCEEDED_STATUSES


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    created_at: datetime
    region_id: str = "local"


@dataclass(frozen=True)
class Branch:
    id: str
    project_id: str
    name: str
    created_at: datetime
    parent_id: str | None = None
    default: bool = False
    current_state: str = "ready"
    logical_size: int | None = None
    restore_status: str | None = None
    restored_from: str | None = None
    restored_as: str | None = None

    @property
    def is_root(self) -> bool:
        return self.parent_id is None


@dataclass(frozen=True)
class Snapshot:
    id: str
    name: str
    created_at: datetime
    source_branch_id: str | None = None
    expires_at: datetime | None = None
    lsn: str | None = None
    timestamp: datetime | None = None
    full_size: int | None = None
    manual: bool = True
    #: "hot" (a database) or "cold" (an archive: the local engine's cold tier).
    tier: str = "hot"


@dataclass(frozen=True)
class SnapshotCapacity:
    """How many manual snapshots the project may hold (`limit`, None: no limit) and holds.

    Neon counts manual snapshots against a per-plan limit (REFERENCE.md §6); scheduled
    ones do not count."""

    limit: int | None
    used: int
    names: frozenset[str] = frozenset()

    @property
    def full(self) -> bool:
        return self.limit is not None and self.used >= self.limit


@dataclass(frozen=True)
class Endpoint:
    id: str
    project_id: str
    branch_id: str
    host: str
    type: str = "read_write"
    current_state: str = "active"


@dataclass(frozen=True)
class ProjectCreated:
    """A new project: its root branch `main`, the endpoint serving it, and the operations."""

    project: Project
    branch: Branch
    endpoint: Endpoint
    operations: list[Operation] = field(default_factory=list)


@dataclass(frozen=True)
class SnapshotCreated:
    snapshot: Snapshot
    operations: list[Operation] = field(default_factory=list)


@dataclass(frozen=True)
class RestoreResult:
    """What a snapshot restore made.

    `branch` is the new branch holding the snapshot's data (for a finalized rollback: the new
    active branch, whose id replaces the old one). `orphan_branch_id` is the previous target
    branch, detached and renamed `<name> (old)`, to delete once the rollback is verified.
    `repaired` names what a rollback had to put back in the project's role ("password",
    "settings", "connection limit") because the project's own SQL had changed it.
    `kept` is the snapshot the replaced live database became (a rollback asked to keep
    it, `KeepLive`), with `kept_writes` the live database's write count at the swap
    (`Engine.live_writes`): equal to a count read before a manifest, the manifest is
    exactly what the snapshot holds.
    """

    branch: Branch
    operations: list[Operation] = field(default_factory=list)
    orphan_branch_id: str | None = None
    repaired: tuple[str, ...] = ()
    kept: Snapshot | None = None
    kept_writes: int | None = None


@dataclass(frozen=True)
class KeepLive:
    """A rollback keeps the live database it replaces as a snapshot of this name (the
    engine renames it; no copy): `Engine.keeps_live_on_swap`."""

    name: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class EndpointCreated:
    endpoint: Endpoint
    operations: list[Operation] = field(default_factory=list)


_PASSWORD_IN_URI = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<password>[^@\s]*)(?=@)")


def mask_password(text: str) -> str:
    """Replace the password of every connection URI in `text` with `********`."""
    return _PASSWORD_IN_URI.sub(lambda m: m.group("head") + "********", text)


@dataclass(frozen=True)
class AsOf:
    """A past moment of a branch: a time, an LSN, or (local engine) a transaction id;
    `inclusive` False means just before it (just before that transaction committed).
    With `xid`, `timestamp` when given is a moment at or before which it had not
    committed (it picks where the replay starts)."""

    timestamp: datetime | None = None
    lsn: str | None = None
    xid: int | None = None
    inclusive: bool = True
