"""Job kind RESTORE_BEFORE_EVENT: go back to just before a recorded destructive statement.

Two steps, each the engine's own: a version of the project as it was just before the
statement's transaction (recovered from the history: `snapshot_as_of` with that
transaction, exclusive), then the ordinary rollback to it (`jobs.rollback`): the live state
is kept as an automatic version first, the connection string stays, and "Undo rollback"
goes back to the kept state."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from checkpoints.engines.base import AsOf, Engine, SnapshotCreated
from checkpoints.jobs.branches import reconcile_active_branch
from checkpoints.jobs.failures import JobFailed
from checkpoints.jobs.rollback import run_rollback
from checkpoints.jobs.run import JobRun, engine_of, runner
from checkpoints.jobs.snapshot import room_for, while_locked
from checkpoints.lifecycle import window
from checkpoints.models import Job, StatementEvent, Version
from checkpoints.rules import snapshot_room, version_rules

EVENT_GONE = "The statement to go back before is no longer recorded for this project."
NO_HISTORY = (
    "This project's engine cannot make a version as of a past transaction: roll back to a "
    "saved version instead."
)


@runner(Job.Kind.RESTORE_BEFORE_EVENT)
def run_restore_before_event(run: JobRun) -> None:
    project = run.project
    request = run.result.get("request") or {}
    event = StatementEvent.objects.filter(
        project=project, pk=int(request.get("event") or 0)
    ).first()
    if event is None:
        raise JobFailed(EVENT_GONE)
    run.remember(event_label=event.label)
    version = _version_before(run, event)
    run.job.target_version = version
    Job.objects.filter(pk=run.job.pk).update(target_version=version)
    run_rollback(run)


def _version_before(run: JobRun, event: StatementEvent) -> Version:
    """A version of the active branch as it was just before `event`'s transaction."""
    project = run.project
    number = version_rules.version_number_after(project=project)
    with engine_of(run) as engine:
        reconcile_active_branch(run, engine)
        capacity = room_for(run, engine, label=f"v{number}")
        detail = f"{event.label}, transaction {event.xid} at {event.at:%H:%M:%S}"
        with run.step("recovering the moment before", detail):
            created = while_locked(
                lambda: _snapshot_before(
                    engine,
                    project.engine_project_id,
                    project.active_branch_id,
                    event,
                    name=snapshot_room.snapshot_name(capacity, f"v{number}", run.job.pk),
                    expires_at=window.version_expiry_default(
                        project=project, created_at=timezone.now()
                    ),
                )
            )
            run.remember(snapshot_id=created.snapshot.id)
        snapshot_id = created.snapshot.id
        run.wait(
            engine,
            created.operations,
            verify=lambda: any(
                s.id == snapshot_id for s in engine.snapshot_list(project.engine_project_id)
            ),
        )
    with run.step("recording the version", f"v{number}"):
        version = Version.objects.create(
            project=project,
            number=number,
            name=f"Just before {event.label}"[:200],
            prompt=f"Saved automatically: the database just before {event.label} "
            f"({event.at:%Y-%m-%d %H:%M:%S} UTC, by {event.role}).",
            snapshot_id=snapshot_id,
            parent=project.current_version,
            created_by=run.job.created_by,
            expires_at=created.snapshot.expires_at,
            size_bytes=created.snapshot.full_size,
        )
        # Recovered, not read: no schema fingerprint or manifest to verify it against.
        run.remember(version_id=version.pk, fingerprint=None)
    return version


def _snapshot_before(
    engine: Engine,
    project_id: str,
    branch_id: str,
    event: StatementEvent,
    *,
    name: str,
    expires_at: datetime | None,
) -> SnapshotCreated:
    """Exclusive: the replay stops just before that transaction commits; the statement's
    time (before its commit) bounds where the replay may start."""
    if not engine.supports_point_in_time:
        raise JobFailed(NO_HISTORY, code="not_supported")
    as_of = AsOf(xid=event.xid, inclusive=False, timestamp=event.at)
    return engine.snapshot_as_of(project_id, branch_id, as_of, name=name, expires_at=expires_at)
