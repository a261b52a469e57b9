"""The engine interface shared by the local engine (PostgreSQL) and the Neon engine (httpx).

Engines know nothing of Django models. They return frozen dataclasses, never raw dicts,
and raise the errors in `errors.py`. Method names mirror Neon API v2 resources
(see shared/neon-api/REFERENCE.md); every mutating call returns the operations it started,
and callers wait for them with `operations.wait_for_operations` before connecting.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from datetime import datetime

from .database_access import DatabaseAccess
from .errors import EngineNotSupported
from .features import OptionalFeatures
from .op_timings import OPERATION_TIMINGS, OperationTimings
from .statement_events import StatementEventsAccess
from .types import (
    BUSY_STATUSES,
    CANCELLED,
    CANCELLING,
    ERROR,
    FAILED,
    FINISHED,
    READONLY_UNSUPPORTED,
    ROOT_BRANCH_NAME,
    RUNNING,
    SCHEDULING,
    SKIPPED,
    SUCCEEDED_STATUSES,
    TERMINAL_STATUSES,
    AsOf,
    Branch,
    Endpoint,
    EndpointCreated,
    KeepLive,
    Operation,
    Project,
    ProjectCreated,
    RestoreResult,
    Snapshot,
    SnapshotCapacity,
    SnapshotCreated,
    mask_password,
)

#: The types live in types.py; callers import them from here as well.
__all__ = [
    "SCHEDULING",
    "RUNNING",
    "FINISHED",
    "FAILED",
    "ERROR",
    "CANCELLING",
    "CANCELLED",
    "SKIPPED",
    "SUCCEEDED_STATUSES",
    "TERMINAL_STATUSES",
    "BUSY_STATUSES",
    "ROOT_BRANCH_NAME",
    "READONLY_UNSUPPORTED",
    "AsOf",
    "Operation",
    "Project",
    "Branch",
    "Snapshot",
    "SnapshotCapacity",
    "Endpoint",
    "ProjectCreated",
    "SnapshotCreated",
    "RestoreResult",
    "KeepLive",
    "EndpointCreated",
    "mask_password",
    "Engine",
]


class Engine(DatabaseAccess, StatementEventsAccess, OptionalFeatures):
    """Projects, branches, snapshots, endpoints and operations: Neon's control plane (the
    roles and connections beyond it are `DatabaseAccess`'s; the local engine's extras,
    `OptionalFeatures`'s)."""

    name: str = "engine"
    #: Whether `snapshot_create` accepts `timestamp`/`lsn` (point-in-time versions).
    supports_point_in_time: bool = False
    #: Manual snapshots a project may hold (None: no limit). Neon's is a plan setting.
    snapshot_limit: int | None = None
    #: Whether a rollback restores in two steps (`snapshot_restore` without finalizing,
    #: then `branch_finalize_restore`) so the replaced branch gets a name of ours.
    restores_in_two_steps: bool = False
    #: Whether a finalized `snapshot_restore` can keep the live database it replaces as
    #: a snapshot (`keep_live`) by renaming it: no copy before a rollback.
    keeps_live_on_swap: bool = False
    #: How long operations took, for `wait_for_operations`: the process's memory unless an
    #: engine is given its own (the benchmark's cold runs, tests).
    operation_timings: OperationTimings = OPERATION_TIMINGS

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

    def snapshot_as_of(
        self,
        project_id: str,
        branch_id: str,
        as_of: AsOf,
        *,
        name: str | None = None,
        expires_at: datetime | None = None,
        inspect: Callable[[str], None] | None = None,
    ) -> SnapshotCreated:
        """Snapshot a root branch as it was at a past moment of its history window (Neon:
        `timestamp`/`lsn`; the local engine also a transaction, inclusive or not). Where
        the engine holds that moment as a database for a while (local), `inspect` gets its
        connection string, as the project's role, before the snapshot is taken from it."""
        if as_of.xid is not None or not as_of.inclusive:
            raise EngineNotSupported(
                f"the {self.name} engine takes a past moment as a time or an LSN only"
            )
        return self.snapshot_create(
            project_id,
            branch_id,
            name=name,
            expires_at=expires_at,
            lsn=as_of.lsn,
            timestamp=as_of.timestamp,
        )

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
        keep_live: KeepLive | None = None,
    ) -> RestoreResult:
        """Restore a snapshot into a new branch; with `finalize_restore` move the target's
        endpoint onto it (rollback), leaving the target detached as `<name> (old)` — or,
        with `keep_live` (engines that `keeps_live_on_swap`), made a snapshot."""

    def live_writes(self, project_id: str) -> int | None:
        """Rows written in the live database so far (a counter; None: not known)."""
        return None

    def branch_finalize_restore(
        self, project_id: str, branch_id: str, *, old_name: str | None = None
    ) -> list[Operation]:
        """Finish a restore made with `finalize_restore=False`: the target's endpoint moves
        onto the restored branch `branch_id`, which takes the target's name; the target is
        renamed `old_name` (None: `<name> (old)`). Refused (EngineInvalidRequest) for a
        branch no such restore made, or one already finalized."""
        raise EngineNotSupported(f"{self.name} cannot finalize a restore apart", status=501)

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
