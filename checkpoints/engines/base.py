"""The engine interface shared by the local engine (PostgreSQL) and the Neon engine (httpx).

Engines know nothing of Django models. They return frozen dataclasses, never raw dicts,
and raise the errors in `errors.py`. Method names mirror Neon API v2 resources
(see shared/neon-api/REFERENCE.md); every mutating call returns the operations it started,
and callers wait for them with `operations.wait_for_operations` before connecting.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime

from .errors import EngineNotSupported

# Neon's OperationStatus enum (REFERENCE.md §3.3).
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
    """

    branch: Branch
    operations: list[Operation] = field(default_factory=list)
    orphan_branch_id: str | None = None
    repaired: tuple[str, ...] = ()


@dataclass(frozen=True)
class EndpointCreated:
    endpoint: Endpoint
    operations: list[Operation] = field(default_factory=list)


class Engine(ABC):
    """Projects, branches, snapshots, endpoints and operations: Neon's control plane."""

    name: str = "engine"
    #: Whether `snapshot_create` accepts `timestamp`/`lsn` (point-in-time versions).
    supports_point_in_time: bool = False
    #: Whether `readonly_role_ensure` / `readonly_connection_uri` work (share links).
    supports_readonly_roles: bool = False
    #: Manual snapshots a project may hold (None: no limit). Neon's is a plan setting.
    snapshot_limit: int | None = None

    # Projects
    @abstractmethod
    def project_create(self, *, name: str) -> ProjectCreated:
        """Create a project with one root branch `main` and a read-write endpoint on it."""

    @abstractmethod
    def project_get(self, project_id: str) -> Project: ...

    @abstractmethod
    def project_delete(self, project_id: str) -> None:
        """Delete the project with all its branches, snapshots and endpoints."""

    # Branches
    @abstractmethod
    def branch_list(self, project_id: str) -> list[Branch]: ...

    @abstractmethod
    def branch_get(self, project_id: str, branch_id: str) -> Branch: ...

    @abstractmethod
    def branch_rename(self, project_id: str, branch_id: str, name: str) -> Branch: ...

    @abstractmethod
    def branch_delete(self, project_id: str, branch_id: str) -> list[Operation]:
        """Delete a branch. Refused for the default branch and for branches with children."""

    # Snapshots
    @abstractmethod
    def snapshot_create(
        self,
        project_id: str,
        branch_id: str,
        *,
        name: str | None = None,
        expires_at: datetime | None = None,
        lsn: str | None = None,
        timestamp: datetime | None = None,
    ) -> SnapshotCreated:
        """Snapshot a root branch (others: EngineInvalidRequest)."""

    @abstractmethod
    def snapshot_list(self, project_id: str) -> list[Snapshot]: ...

    def snapshot_capacity(self, project_id: str) -> SnapshotCapacity:
        """The snapshot limit, how many manual snapshots count against it, and their names."""
        snapshots = self.snapshot_list(project_id)
        return SnapshotCapacity(
            limit=self.snapshot_limit,
            used=sum(1 for s in snapshots if s.manual),
            names=frozenset(s.name for s in snapshots),
        )

    @abstractmethod
    def snapshot_rename(self, project_id: str, snapshot_id: str, name: str) -> Snapshot: ...

    @abstractmethod
    def snapshot_delete(self, project_id: str, snapshot_id: str) -> list[Operation]: ...

    @abstractmethod
    def snapshot_restore(
        self,
        project_id: str,
        snapshot_id: str,
        *,
        target_branch_id: str | None = None,
        finalize_restore: bool = False,
        name: str | None = None,
    ) -> RestoreResult:
        """Restore a snapshot into a new branch; with `finalize_restore` move the target's
        endpoint onto it (rollback), leaving the target detached as `<name> (old)`."""

    @abstractmethod
    def snapshots_delete_expired(self, project_id: str) -> list[str]:
        """Delete snapshots whose `expires_at` has passed; return their ids."""

    # Endpoints and connections
    @abstractmethod
    def endpoint_create(self, project_id: str, branch_id: str) -> EndpointCreated:
        """Create a read-write endpoint for a branch (one per branch)."""

    @abstractmethod
    def endpoint_list(self, project_id: str) -> list[Endpoint]: ...

    @abstractmethod
    def connection_uri(self, project_id: str, *, branch_id: str | None = None) -> str:
        """The connection string of a branch's endpoint (default: the root branch).

        It carries a password: never log or render it unmasked (see `mask_password`)."""

    # Read-only access (share links)
    def readonly_role_ensure(self, project_id: str, branch_id: str) -> None:
        """Give the branch a login role of its own that can only read: CONNECT on the
        branch's database, USAGE on its schemas, SELECT on its tables; no ownership, no
        CREATE (and `default_transaction_read_only` on top). Idempotent; the role goes
        when the branch is deleted."""
        raise EngineNotSupported(READONLY_UNSUPPORTED.format(engine=self.name), status=501)

    def readonly_connection_uri(self, project_id: str, branch_id: str) -> str:
        """The connection string of the branch's read-only role (`readonly_role_ensure`
        first). It carries a password: never log or render it."""
        raise EngineNotSupported(READONLY_UNSUPPORTED.format(engine=self.name), status=501)

    def role_password_reset(self, project_id: str) -> str:
        """Give the project's role a new password: the old one stops working and open
        sessions end. Returns the new connection string of the default branch."""
        from .errors import EngineNotSupported

        raise EngineNotSupported(f"{self.name} cannot reset the role's password")

    # Operations
    @abstractmethod
    def operation_get(self, project_id: str, operation_id: str) -> Operation: ...

    def operations_get(self, project_id: str, operation_ids: list[str]) -> list[Operation]:
        """Current state of several operations; engines may answer in one call."""
        return [self.operation_get(project_id, op_id) for op_id in operation_ids]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections or HTTP clients."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_PASSWORD_IN_URI = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<password>[^@\s]*)(?=@)")


def mask_password(text: str) -> str:
    """Replace the password of every connection URI in `text` with `********`."""
    return _PASSWORD_IN_URI.sub(lambda m: m.group("head") + "********", text)
