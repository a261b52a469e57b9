"""Room for one more snapshot: Neon's per-project snapshot limit, seen before a version step.

A version step applies SQL to the live database, then snapshots it. Neon refuses a manual
snapshot past the plan's limit (REFERENCE.md §6), and by then the SQL is committed. So the
step first makes sure there is room (`room_ensure`): it counts the project's snapshots
(one API call), and when they fill the limit it deletes the snapshots of versions that have
already expired under the restore window (oldest first, as cleanup would), then refuses
before anything is applied if there is still no room. A refusal the count did not foresee
(a limit lower than configured, a quota, any other 4xx) is handled by the step itself: it
restores the current version (`tasks._undo_applied`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils import timezone

from checkpoints import services
from checkpoints.engines.base import SnapshotCapacity
from checkpoints.engines.errors import EngineNotFound, EngineRefused
from checkpoints.models import Activity, AgentProject, Version

if TYPE_CHECKING:
    from checkpoints.engines.base import Engine
    from checkpoints.tasks import JobRun

SNAPSHOT_LIMIT = services.SNAPSHOT_LIMIT
SNAPSHOT_QUOTA = "{engine} refused the snapshot: the project's quota is reached ({detail})."
SNAPSHOT_REFUSED = "{engine} refused the snapshot: {detail}."
NOTHING_APPLIED = " Nothing was applied and no version was saved; try again once there is room."
UNDONE = " The live database is back at {label}: nothing was saved. Try again once there is room."
NOT_UNDONE = (
    " The live database could not be put back to {label} ({error}): it holds the applied "
    "SQL. Roll back to {label} before trying again."
)

#: Job error codes by refusal reason (`EngineRefused.reason`), answered 4xx by the API.
CODES = {
    "limit": "snapshot_limit",
    "quota": "snapshot_quota",
    "name": "snapshot_refused",
    "refused": "snapshot_refused",
}


class RoomFull(EngineRefused):
    """No room for another snapshot, seen before anything was applied."""

    def __init__(self, capacity: SnapshotCapacity) -> None:
        super().__init__(f"{capacity.used} of {capacity.limit} snapshots are used", reason="limit")
        self.capacity = capacity


def engine_label(engine: Engine) -> str:
    return "Neon" if engine.name == "neon" else f"The {engine.name} engine"


def refusal_text(engine: Engine, error: EngineRefused, capacity: SnapshotCapacity | None) -> str:
    """The readable first sentence for a refused snapshot."""
    if error.reason == "limit":
        limit = capacity.limit if capacity and capacity.limit else "its"
        used = capacity.used if capacity else "all"
        return SNAPSHOT_LIMIT.format(engine=engine_label(engine), used=used, limit=limit)
    detail = error.message.split(": ", 1)[-1]
    template = SNAPSHOT_QUOTA if error.reason == "quota" else SNAPSHOT_REFUSED
    return template.format(engine=engine_label(engine), detail=detail)


def room_ensure(run: JobRun, engine: Engine, *, label: str) -> SnapshotCapacity:
    """Count the project's snapshots; free expired versions' snapshots if the limit is
    reached; raise `RoomFull` when there is still no room for `label`.

    Engines without a limit answer at once (no call)."""
    project = run.project
    if engine.snapshot_limit is None:
        return SnapshotCapacity(limit=None, used=0)
    with run.step("checking snapshot room", f"for {label}"):
        capacity = engine.snapshot_capacity(project.engine_project_id)
        run.detail(f"{capacity.used} of {capacity.limit} snapshots used")
        if capacity.full:
            freed = _free_expired(run, engine, capacity.used - capacity.limit + 1)
            capacity = SnapshotCapacity(
                capacity.limit, capacity.used - freed, capacity.names
            )  # names of freed ones no longer matter: new names are checked against all
        if capacity.full:
            raise RoomFull(capacity)
    return capacity


def _free_expired(run: JobRun, engine: Engine, needed: int) -> int:
    """Delete up to `needed` snapshots of expired versions (never the current one)."""
    project = run.project
    now = timezone.now()
    expired = (
        project.versions.filter(deleted_at__isnull=True, expires_at__lte=now)
        .exclude(pk=project.current_version_id or 0)
        .order_by("expires_at", "number")
    )
    freed = 0
    for version in expired[:needed]:
        try:
            ops = engine.snapshot_delete(project.engine_project_id, version.snapshot_id)
        except EngineNotFound:
            ops = []
        if ops:
            run.wait(engine, ops, name=f"snapshot of {version.label} deleted")
        reason = "expired; its snapshot made room for a new version"
        Version.objects.filter(pk=version.pk).update(
            deleted_at=now, deleted_reason=f"cleanup: {reason}"
        )
        services.activity_record(
            project=project,
            actor=None,
            kind=Activity.Kind.CLEANUP,
            to_version=version,
            operation_ids=[op.id for op in ops],
            detail=f"Removed snapshot {version.label} ({version.snapshot_id}): {reason}.",
        )
        freed += 1
    return freed


def snapshot_name(capacity: SnapshotCapacity, wanted: str, job_pk: int) -> str:
    """`wanted` unless a snapshot of the project has that name (names are unique on Neon)."""
    return wanted if wanted not in capacity.names else f"{wanted}-job{job_pk}"


def capacity_shown(project: AgentProject) -> dict | None:
    """{limit, used, as_of} as the last job saw it (no engine call), or None if unknown."""
    listing = project.engine_listing or {}
    capacity = listing.get("capacity")
    if capacity is None:
        return None
    return {**capacity, "as_of": listing.get("at")}


def window_warning(project: AgentProject) -> str:
    """What the restore window form says when "keep every version" will hit the limit."""
    capacity = capacity_shown(project)
    if not capacity or not capacity.get("limit"):
        return ""
    if project.restore_window != AgentProject.RestoreWindow.FOREVER:
        return ""
    limit, used = capacity["limit"], capacity["used"]
    keep = max(1, limit - 1)
    return (
        f"This engine allows {limit} snapshots per project and {used} are used: keeping every "
        f"version stops new versions at {limit}. Choose “Keep the last N versions” with N = "
        f"{keep} or fewer: the oldest then makes room for each new one."
    )
