"""Taking a version's snapshot and recording it: the manifest read, the engine's
refusals, a repaired role."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from checkpoints import connections
from checkpoints.demo import demo_step
from checkpoints.engines.base import AsOf, Engine, SnapshotCapacity, SnapshotCreated
from checkpoints.engines.errors import EngineError, EngineLocked, EngineRefused
from checkpoints.jobs.checks import schema_fingerprint
from checkpoints.jobs.failures import JobFailed, SnapshotRefused
from checkpoints.jobs.room import room_ensure
from checkpoints.jobs.run import JobRun
from checkpoints.jobs.tier_move import tier_move_soon
from checkpoints.lifecycle import manifest as manifests
from checkpoints.lifecycle import window
from checkpoints.models import Activity, AgentProject, Version
from checkpoints.rules import snapshot_room
from checkpoints.rules.snapshot_room import RoomFull


def repair_role(run: JobRun, engine: Engine, repaired: list[str] | tuple[str, ...]) -> None:
    """An Activity entry when the engine had to put the project role back: its own SQL
    had changed its password, settings or connection limit."""
    if repaired:
        run.record_activity(
            kind=Activity.Kind.REPAIR,
            detail="The project's SQL had changed its role's "
            + ", ".join(repaired)
            + "; the engine restored it (the connection string is unchanged).",
        )


def role_repair(run: JobRun, engine: Engine) -> None:
    # Local engine: the role is the engine's (Neon keeps its own: nothing to repair).
    repair_role(run, engine, engine.role_repair(run.project.engine_project_id))


def snapshot_and_record(
    run: JobRun,
    engine: Engine,
    *,
    number: int,
    name: str | None = None,
    prompt: str | None = None,
    as_of: AsOf | None = None,
    capacity: SnapshotCapacity | None = None,
) -> Version:
    """Snapshot the active branch and record the version. A refused snapshot raises
    `EngineRefused` (nothing made); the caller puts the live database back if it changed."""
    project = run.project
    if name is None or prompt is None:
        script = demo_step(number)
        assert script is not None
        name, prompt = script.name, script.prompt
    manifest = None
    if as_of is None:  # the active branch holds this version now: read what it holds
        role_repair(run, engine)
        with run.step("reading the manifest", "tables, columns, row counts, checksums"):
            try:  # never a version its restores cannot be verified against
                manifest = manifests.manifest_required(
                    connections.project_connection_uri(project=project)
                )
            except manifests.ManifestUnreadable as error:
                raise JobFailed(str(error), code="snapshot_refused") from None
            run.detail(f"{len(manifest['tables'])} tables in {manifest['took_ms']} ms")
    held: dict[str, Any] = {}
    created, fingerprint = snapshot_take(run, engine, number, as_of, capacity, held)
    if as_of is not None and held:  # read where the engine held that moment (local)
        manifest = held | {"exact": True}  # the snapshot was taken from what it read
    elif manifest is not None:
        # Read again: the same on both sides of the snapshot means the snapshot holds it
        # exactly, and a restore is then verified row by row (counts and checksums).
        again = manifests.manifest_of_uri(engine.connection_uri(project.engine_project_id))
        manifest["exact"] = manifests.manifests_equal(manifest, again)
    version = _version_record(run, created, number, name, prompt, manifest, fingerprint)
    # Local engine: ready copies for fast rollbacks (Neon has none: nothing done).
    engine.warm_up(project.engine_project_id, background=True)
    run.after_success(lambda: tier_move_soon(project))  # older versions may go cold
    return version


def _version_record(
    run: JobRun,
    created: SnapshotCreated,
    number: int,
    name: str,
    prompt: str,
    manifest: dict[str, Any] | None,
    fingerprint: str | None,
) -> Version:
    project = run.project
    with run.step("recording the version", f"v{number}"):
        version = Version.objects.create(
            project=project,
            number=number,
            name=name,
            prompt=prompt,
            snapshot_id=created.snapshot.id,
            parent=project.current_version,
            created_by=run.job.created_by,
            expires_at=created.snapshot.expires_at,
            manifest=manifest,
            size_bytes=created.snapshot.full_size,  # recorded now, never per view
            labels=(run.result.get("request") or {}).get("labels") or {},
        )
        project.current_version = version
        project.save(update_fields=["current_version"])
        if project.restore_window == AgentProject.RestoreWindow.VERSIONS:
            window.versions_expiry_apply(project=project)  # older ones fall out
        # A version saved as of a past time has no known schema: nothing to verify against.
        run.remember(version_id=version.pk, fingerprint=fingerprint)
    return version


def snapshot_take(
    run: JobRun,
    engine: Engine,
    number: int,
    as_of: AsOf | None,
    capacity: SnapshotCapacity | None,
    held: dict[str, Any] | None = None,
) -> tuple[SnapshotCreated, str | None]:
    """Take the snapshot (named `v<number>` unless taken) and wait until the engine lists
    it; answer it and the schema fingerprint it must serve again (None: as of a moment,
    whose manifest goes into `held` where the engine can read it)."""
    project = run.project
    with run.step("taking the snapshot", f"v{number}"):
        uri = connections.project_connection_uri(project=project)
        fingerprint = None if as_of else schema_fingerprint(uri)
        wanted = f"v{number}"
        name = snapshot_room.snapshot_name(capacity, wanted, run.job.pk) if capacity else wanted
        expires_at = window.version_expiry_default(project=project, created_at=timezone.now())
        if as_of is not None:
            created = while_locked(
                lambda: engine.snapshot_as_of(
                    project.engine_project_id,
                    project.active_branch_id,
                    as_of,
                    name=name,
                    expires_at=expires_at,
                    inspect=lambda uri: _held_manifest(uri, held),
                )
            )
        else:
            created = while_locked(
                lambda: engine.snapshot_create(
                    project.engine_project_id,
                    project.active_branch_id,
                    name=name,
                    expires_at=expires_at,
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
    return created, fingerprint


def _held_manifest(uri: str, held: dict[str, Any] | None) -> None:
    if held is not None:
        held.update(manifests.manifest_required(uri))


def while_locked[T](call: Callable[[], T], *, seconds: float = 15.0) -> T:
    """`call()`, tried again while the engine answers "locked": the project's own
    background work (warming the newest snapshots) holds the lock for a moment."""
    deadline = time.monotonic() + seconds
    delay = 0.05
    while True:
        try:
            return call()
        except EngineLocked:
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def room_for(run: JobRun, engine: Engine, *, label: str) -> SnapshotCapacity:
    """Room for one more snapshot, checked before anything is applied (`snapshot_room`)."""
    try:
        return room_ensure(run, engine, label=label)
    except RoomFull as exc:
        raise refused(run, engine, exc, snapshot_room.NOTHING_APPLIED, exc.capacity) from exc


def refused(
    run: JobRun,
    engine: Engine,
    exc: EngineRefused,
    note: str,
    capacity: SnapshotCapacity | None = None,
) -> SnapshotRefused:
    """The job's error for a refused snapshot. A limit the count did not foresee is
    learnt: the snapshots the project holds now are what the plan allows."""
    if exc.reason == "limit" and (capacity is None or not capacity.full):
        try:
            seen = engine.snapshot_capacity(run.project.engine_project_id)
        except EngineError:
            seen = None
        if seen is not None:
            capacity = SnapshotCapacity(limit=seen.used, used=seen.used)
            run.remember(snapshot_limit_learned=seen.used)
    text = snapshot_room.refusal_text(engine, exc, capacity) + note
    return SnapshotRefused(text, code=snapshot_room.CODES.get(exc.reason, "snapshot_refused"))


def version_recorded(run: JobRun) -> bool:
    snapshot_id = run.result.get("snapshot_id")
    return bool(
        snapshot_id
        and Version.objects.filter(project=run.project, snapshot_id=snapshot_id).exists()
    )
