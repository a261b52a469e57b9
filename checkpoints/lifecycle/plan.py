"""What a project holds on its engine, each item classified, and what cleanup removes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from checkpoints.lifecycle.window import versions_in_window
from checkpoints.models import AgentProject, Job, Version
from checkpoints.rules import selectors


@dataclass
class Holding:
    """One branch, snapshot or preview on the engine, and what the metadata says it is."""

    kind: str  # "branch" | "snapshot"
    id: str
    name: str
    size: int | None = None
    role: str = ""  # active | preview | orphan | version | leftover | …
    note: str = ""
    version: str = ""
    expires_at: datetime | None = None
    tier: str = ""  # a version's snapshot: hot | cold
    pinned: bool = False
    number: int | None = None  # a version's number (its Pin/Unpin action)


@dataclass
class Removal:
    """One thing cleanup removes (or, in a dry run, would remove), and why."""

    kind: str  # snapshot | branch | preview | version
    id: str
    name: str
    reason: str
    size: int | None = None
    version_id: int | None = None
    preview_id: int | None = None
    done: bool = False
    error: str = ""


@dataclass
class CleanupPlan:
    project_id: int
    dry_run: bool
    removals: list[Removal] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    branches: list[Holding] = field(default_factory=list)
    snapshots: list[Holding] = field(default_factory=list)
    #: Ready copies of recent snapshots (local engine): rolling back to them is a swap.
    warm: list[Holding] = field(default_factory=list)
    error: str = ""
    #: When the listing was taken (pages show the one the last job stored).
    listed_at: datetime | None = None
    #: {limit, used}: the engine's snapshot limit (None: no limit) and the snapshots held.
    capacity: dict[str, Any] | None = None
    #: The engine's storage mode: tiered | reflink (all hot) | hot (no cold tier) | "".
    storage_mode: str = ""
    #: Expected rollback time per tier (`lifecycle.tiers.EXPECTED_ROLLBACK`).
    rollback_times: dict[str, str] = field(default_factory=dict)

    @property
    def branches_size(self) -> int:
        return sum(h.size or 0 for h in self.branches)

    @property
    def snapshots_size(self) -> int:
        return sum(h.size or 0 for h in self.snapshots)

    @property
    def warm_size(self) -> int:
        return sum(h.size or 0 for h in self.warm)

    @property
    def bytes_freed(self) -> int:
        return sum(r.size or 0 for r in self.removals if r.kind in ("snapshot", "branch"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project_id,
            "dry_run": self.dry_run,
            "removals": [asdict(r) for r in self.removals],
            "kept": self.kept,
            "bytes_freed": self.bytes_freed,
        }


@dataclass
class Seen:
    """What the metadata says, read once per plan."""

    project: AgentProject
    now: datetime
    in_flight: Job | None
    live: list[Version]
    by_snapshot: dict[str, Version]
    deleted_snapshots: dict[str, Version]
    in_window: set[int]

    @classmethod
    def of(cls, project: AgentProject) -> Seen:
        now = timezone.now()
        in_flight = selectors.job_active(project=project)
        if in_flight is not None and in_flight.kind == Job.Kind.CLEANUP:
            in_flight = None  # cleanup makes nothing; it runs alone
        versions = list(project.versions.all())
        live = [v for v in versions if v.deleted_at is None]
        return cls(
            project=project,
            now=now,
            in_flight=in_flight,
            live=live,
            by_snapshot={v.snapshot_id: v for v in live},
            deleted_snapshots={v.snapshot_id: v for v in versions if v.deleted_at is not None},
            in_window=versions_in_window(project=project, now=now),
        )


def made_by(job: Job | None, item_id: str, created_at: datetime) -> bool:
    """Whether a branch or snapshot is being made by the project's running job: the job
    recorded its id, or it appeared after the job started."""
    if job is None:
        return False
    if item_id in {str(v) for v in job.result.values() if isinstance(v, str)}:
        return True
    started = job.started_at or job.created_at
    return created_at >= started - timedelta(seconds=5)
