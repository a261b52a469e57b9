"""Nothing is lost by a rollback: the live database, when it differs from the version it
came from, is kept as an automatic version ("Before rollback to v1"): saved first, or,
on an engine that `keeps_live_on_swap`, renamed a snapshot by the rollback's swap (no
copy, whatever its size).

The comparison is the version's stored manifest against one read of the live database
(tables, columns, row counts, checksums): a live database that still matches its version
needs no copy, the version already holds it.

A live database whose tables cannot be read (the agent revoked its own SELECT, a table
the manifest cannot read) is still kept, never refused: a rollback is the way out of
exactly such a database, and the copy is whole either way. What it lacks is a manifest,
so the version says so in its name and prompt ("… (not verified)": a rollback to it
checks its schema fingerprint, not its rows), and the job's steps say why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from checkpoints import connections
from checkpoints.engines.base import Engine, KeepLive, RestoreResult
from checkpoints.jobs.checks import schema_fingerprint
from checkpoints.jobs.kept_record import kept_record
from checkpoints.jobs.live_restore import restore_into_live
from checkpoints.jobs.locked import live_manifest, live_manifest_or_reason
from checkpoints.jobs.run import JobRun
from checkpoints.jobs.snapshot import role_repair, room_for, snapshot_take
from checkpoints.lifecycle import manifest as manifests
from checkpoints.lifecycle import window
from checkpoints.models import Version
from checkpoints.rules import snapshot_room, version_rules


@dataclass
class LiveCompared:
    """The live database differs from its version: what keeping it needs."""

    number: int
    base: Version | None
    manifest: dict[str, Any] | None
    writes: int | None = None  # the engine's write count, read before the manifest
    fingerprint: str | None = None
    why: str = ""  # the live database could not be read: kept, not verified


def live_state_keep(run: JobRun, engine: Engine, *, reason: str) -> Version | None:
    """Save the live database as an automatic version named `reason` (e.g. "Before
    rollback to v1") if it differs from the current version's manifest; None when it
    matches. The version is parented on the current one and does not become current."""
    compared = _live_compare(run, engine)
    if compared is None:
        return None
    capacity = room_for(run, engine, label=f"v{compared.number}")
    created, fingerprint = snapshot_take(run, engine, compared.number, None, capacity)
    run.remember(kept_snapshot_id=created.snapshot.id)
    live = compared.manifest
    if live is not None:  # the same on both sides of the snapshot: it holds it exactly
        again = live_manifest(engine.connection_uri(run.project.engine_project_id))
        live["exact"] = manifests.manifests_equal(live, again)
    return kept_record(
        run,
        compared.base,
        compared.number,
        reason,
        created.snapshot,
        live,
        fingerprint,
        why=compared.why,
    )


def live_state_keep_and_restore(
    run: JobRun, engine: Engine, target: Version, *, reason: str
) -> tuple[Version | None, RestoreResult]:
    """Keep the live state (as `live_state_keep`), then restore `target` into live. On
    an engine that `keeps_live_on_swap` the keep costs no copy: the rollback's swap
    renames the live database a snapshot, recorded here as the automatic version."""
    step = "restore requested"
    if not engine.keeps_live_on_swap:
        kept = live_state_keep(run, engine, reason=reason)
        return kept, restore_into_live(run, engine, target, step=step, remember=run.remember)
    compared = _live_compare(run, engine, count_writes=True)
    keep = None
    if compared is not None:
        capacity = room_for(run, engine, label=f"v{compared.number}")
        wanted = f"v{compared.number}"
        keep = KeepLive(
            name=snapshot_room.snapshot_name(capacity, wanted, run.job.pk) if capacity else wanted,
            expires_at=window.version_expiry_default(
                project=run.project, created_at=timezone.now()
            ),
        )
    if compared is not None and keep is not None:  # a dead worker's keep is adopted later
        run.remember(keep_pending={"name": keep.name, "number": compared.number, "reason": reason})
    restore = restore_into_live(
        run, engine, target, step=step, remember=run.remember, keep_live=keep
    )
    if compared is None or restore.kept is None:
        return None, restore
    run.remember(kept_snapshot_id=restore.kept.id)
    live = compared.manifest
    exact = compared.writes is not None and compared.writes == restore.kept_writes
    if live is not None:  # nothing written since the manifest was read: it holds it exactly
        live["exact"] = exact
    fingerprint = compared.fingerprint if exact else None
    kept = kept_record(
        run,
        compared.base,
        compared.number,
        reason,
        restore.kept,
        live,
        fingerprint,
        why=compared.why,
    )
    return kept, restore


def _live_compare(
    run: JobRun, engine: Engine, *, count_writes: bool = False
) -> LiveCompared | None:
    """The live database compared with the current version's manifest; None when there
    is nothing to keep (it matches, or it is missing)."""
    project = run.project
    base = project.current_version
    role_repair(run, engine)
    with run.step("keeping the live state", "comparing with the current version"):
        if engine.live_database_missing(project.engine_project_id):
            run.detail("the live database is missing: nothing to keep, the rollback rebuilds it")
            return None
        writes = engine.live_writes(project.engine_project_id) if count_writes else None
        uri = connections.project_connection_uri(project=project)
        read = live_manifest_or_reason(uri)
        live = read if isinstance(read, dict) else None
        why = "" if live is not None else str(read)
        if live is not None and base is not None and manifests.manifests_equal(live, base.manifest):
            run.detail(f"the live database matches {base.label}: nothing to keep")
            return None
        number = version_rules.version_number_after(project=project)
        if why:
            run.detail(f"the live database could not be read ({why}): kept, not verified")
        else:
            run.detail(f"the live database differs from {base.label if base else 'any version'}")
        fingerprint = schema_fingerprint(uri) if count_writes else None
    return LiveCompared(number, base, live, writes, fingerprint, why)
