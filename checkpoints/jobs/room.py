"""Room for one more snapshot, made before a version step applies anything (see
`checkpoints.rules.snapshot_room` for why and for the refusal messages)."""

from __future__ import annotations

from django.utils import timezone

from checkpoints.activity import activity_record
from checkpoints.engines.base import Engine, SnapshotCapacity
from checkpoints.engines.errors import EngineNotFound
from checkpoints.jobs.run import JobRun
from checkpoints.models import Activity, Version
from checkpoints.rules.snapshot_room import RoomFull


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
        if capacity.full and capacity.limit is not None:
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
        activity_record(
            project=project,
            actor=None,
            kind=Activity.Kind.CLEANUP,
            to_version=version,
            operation_ids=[op.id for op in ops],
            detail=f"Removed snapshot {version.label} ({version.snapshot_id}): {reason}.",
        )
        freed += 1
    return freed
