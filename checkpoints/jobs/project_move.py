"""Job kind PROJECT_MOVE: a project goes to another of its team's connections (its
embedded server, an external PostgreSQL server; any engine, through the engine
interface only).

1. a new engine project on the destination, its empty state saved (the reset point);
2. each version, oldest first: opened on the source as a temporary branch, copied
   (`pg_dump | pg_restore` as the agent's roles), checked against its manifest, saved as
   a snapshot; a version the destination refuses is named and left behind;
3. the fence: the source role's password is reset (its sessions end, none come back),
   then the live database is copied and checked against the source's manifest;
4. the switch, one transaction of the metadata: versions, connection string, connection;
5. the source project is deleted.

Until the switch the project is whole where it was: a worker killed midway leaves the
metadata untouched, and the next move (or `move_leftovers_clean`) deletes the half-made
destination project. After it, a source project the job could not delete is removed the
same way.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.db import transaction
from django.utils import timezone

from checkpoints.engines.base import Engine
from checkpoints.engines.connect import connect_app
from checkpoints.engines.errors import EngineError
from checkpoints.engines.operations import wait_for_operations
from checkpoints.engines.uri_copy import database_copy
from checkpoints.jobs.checks import verify_version, wait_connectable
from checkpoints.jobs.failures import JobFailed
from checkpoints.jobs.history import history_open
from checkpoints.jobs.move_parts import (
    live_reset,
    move_leftovers_clean,
    project_drop,
    version_branch,
)
from checkpoints.jobs.run import JobRun, engine_of, runner
from checkpoints.lifecycle import manifest as manifests
from checkpoints.models import Activity, AgentProject, EngineConnection, Job, Version
from checkpoints.servers import engine_connections

LIVE_CHANGED = "The live database on the destination does not match the source's: {found}."
NOT_MOVED_REASON = "not moved to {name}: {why}"
NOT_MOVED_LIMIT = (
    "beyond the {limit} manual snapshots per project of {name} (the move itself holds one)"
)


class Destination:
    """The destination engine project as the move builds it."""

    def __init__(self, engine: Engine, connection: EngineConnection) -> None:
        self.engine, self.connection = engine, connection
        self.project_id = self.root = self.endpoint_id = self.empty_snapshot = ""
        self.dirty = False  # the live database holds something: reset before the next copy

    def live_uri(self) -> str:
        if self.dirty:
            self.root = live_reset(self.engine, self.project_id, self.root, self.empty_snapshot)
        self.dirty = True
        uri = self.engine.connection_uri(self.project_id)
        wait_connectable(uri)
        return uri


@runner(Job.Kind.PROJECT_MOVE)
def run_project_move(run: JobRun) -> None:
    project = run.project
    to = EngineConnection.objects.get(pk=run.result["request"]["to_connection"])
    with run.step("removing what earlier moves left"):
        run.detail(f"{move_leftovers_clean(project)} removed")
    run.remember(
        to_connection=to.pk,
        from_connection=project.connection_id,
        from_engine_name=project.engine_name,
        from_project=project.engine_project_id,
        from_adopted=project.adopted is not None,  # never deleted, even by a later cleanup
    )
    with engine_of(run) as source:
        dest = Destination(engine_connections.connection_engine(to), to)
        _destination_create(run, dest)
        try:
            left = _versions_copy(run, source, dest)
            _live_copy(run, source, dest)
            _reset_point_drop(dest)
            _switch(run, dest, left)
        except Exception:  # a killed worker runs nothing: the next move cleans up
            if not run.result.get("switched") and project_drop(dest.engine, dest.project_id):
                run.remember(leftovers_cleaned=True)
            raise
    with run.step("deleting the project on the old connection", run.result["from_project"]):
        if project_drop(source, run.result["from_project"]):
            run.remember(leftovers_cleaned=True)
    moved = len(run.result["moved"])
    detail = f"Moved to {to.name}: {moved} versions went across"
    if left:
        detail += "; not moved: " + "; ".join(f"{k} ({v})" for k, v in left.items())
    run.record_activity(kind=Activity.Kind.MOVE, detail=detail + ". The connection string changed.")
    history_open(AgentProject.objects.get(pk=project.pk))  # on its new connection


def _destination_create(run: JobRun, dest: Destination) -> None:
    project = run.project
    with run.step("creating the project on the destination", dest.connection.name):
        created = dest.engine.project_create(name=f"checkpoints-{project.pk}-{project.name}")
        dest.project_id, dest.root = created.project.id, created.branch.id
        dest.endpoint_id = created.endpoint.id
        run.remember(move_to_project=dest.project_id)
        wait_for_operations(dest.engine, dest.project_id, created.operations)
        wait_connectable(dest.engine.connection_uri(dest.project_id))
        empty = dest.engine.snapshot_create(dest.project_id, dest.root, name="move-empty")
        wait_for_operations(dest.engine, dest.project_id, empty.operations)
        dest.empty_snapshot = empty.snapshot.id


def _versions_copy(run: JobRun, source: Engine, dest: Destination) -> dict[str, str]:
    """Each live version across, oldest first; the labels of those that could not go, why."""
    moved: dict[str, str] = {}
    versions = list(run.project.versions.filter(deleted_at__isnull=True).order_by("number"))
    # Neon's manual snapshots per project: the newest versions go, the reset point needs one.
    limit = run.result["request"].get("snapshot_limit")
    cut = max(len(versions) - (limit - 1), 0) if limit else 0
    why = NOT_MOVED_LIMIT.format(limit=limit, name=dest.connection.name)
    left = {version.label: why for version in versions[:cut]}
    for version in versions[cut:]:
        run.cancel_check()
        with run.step(f"copying {version.label}", dest.connection.name) as step:
            try:
                moved[str(version.pk)] = _version_copy(run, source, dest, version)
            except (EngineError, JobFailed) as why:
                left[version.label] = str(why)[:300]
                step["detail"] = f"not moved: {left[version.label]}"
        run.remember(moved=moved, not_moved=left)
    return left


def _version_copy(run: JobRun, source: Engine, dest: Destination, version: Version) -> str:
    """The version opened on the source, loaded on the destination and checked against its
    manifest, then saved there; the destination snapshot's id."""
    name = f"move-{version.label}-{run.job.pk}"
    with version_branch(source, run.project, version.snapshot_id, name) as source_uri:
        target_uri = dest.live_uri()
        database_copy(source_uri, target_uri)
    verify_version(target_uri, version)
    made = dest.engine.snapshot_create(
        dest.project_id, dest.root, name=version.label, expires_at=version.expires_at
    )
    wait_for_operations(dest.engine, dest.project_id, made.operations)
    return made.snapshot.id


def _live_copy(run: JobRun, source: Engine, dest: Destination) -> None:
    """The fence, then the live database across, checked against the source's manifest."""
    project = run.project
    with run.step("closing the old connection string", "its sessions end"):
        fenced_uri = source.role_password_reset(project.engine_project_id)
        # A crash from here on leaves the project where it was with this string.
        AgentProject.objects.filter(pk=project.pk).update(connection_uri=fenced_uri)
        project.connection_uri = fenced_uri
        wait_connectable(fenced_uri)
    with run.step("copying the live database"):
        target_uri = dest.live_uri()
        database_copy(fenced_uri, target_uri)
    with run.step("checking the live database"):
        with connect_app(fenced_uri) as conn:
            expected = manifests.manifest_read(conn)
        with connect_app(target_uri) as conn:
            problems = manifests.manifest_verify(conn, expected)
        if problems:
            raise JobFailed(LIVE_CHANGED.format(found="; ".join(problems)))


def _reset_point_drop(dest: Destination) -> None:
    """The empty reset point is no version: gone before the switch (best effort: cleanup
    removes a snapshot no version records)."""
    with contextlib.suppress(EngineError):
        ops = dest.engine.snapshot_delete(dest.project_id, dest.empty_snapshot)
        wait_for_operations(dest.engine, dest.project_id, ops)


@transaction.atomic
def _switch(run: JobRun, dest: Destination, left: dict[str, str]) -> None:
    """One transaction: the versions point at the destination's snapshots, those left
    behind are deleted with the reason, previews end, the project's connection changes."""
    project, now = run.project, timezone.now()
    with run.step("switching to the destination"):
        for version_pk, snapshot_id in run.result["moved"].items():
            Version.objects.filter(pk=int(version_pk)).update(
                snapshot_id=snapshot_id, tier=Version.Tier.HOT, size_bytes=None
            )
        for label, why in left.items():
            reason = NOT_MOVED_REASON.format(name=dest.connection.name, why=why)[:200]
            project.versions.filter(deleted_at__isnull=True, number=int(label[1:])).update(
                deleted_at=now, deleted_reason=reason
            )
        project.previews.filter(discarded_at__isnull=True).update(discarded_at=now)
        _project_point(project, dest)
        run.remember(switched=True)


def _project_point(project: AgentProject, dest: Destination) -> None:
    fields: dict[str, Any] = {
        "connection": dest.connection,
        "engine_name": engine_connections.connection_engine_name(dest.connection),
        "engine_project_id": dest.project_id,
        "active_branch_id": dest.root,
        "endpoint_id": dest.endpoint_id,
        "connection_uri": dest.engine.connection_uri(dest.project_id),
        "adopted": None,  # the new engine project is all Checkpoints' own
    }
    for name, value in fields.items():
        setattr(project, name, value)
    project.save(update_fields=list(fields))
