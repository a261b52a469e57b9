"""Nothing is lost by a rollback: the live database, when it differs from the version it
came from, is saved first as an automatic version ("Before rollback to v1").

The comparison is the version's stored manifest against one read of the live database
(tables, columns, row counts, checksums): a live database that still matches its version
needs no copy, the version already holds it.

A live database whose tables cannot be read (the agent revoked its own SELECT, a table
the manifest cannot read) is still kept, never refused: a rollback is the way out of
exactly such a database, and the copy is a file copy, whole either way. What it lacks is
a manifest, so the version says so in its name and prompt ("… (not verified)": a rollback
to it checks its schema fingerprint, not its rows), and the job's steps say why."""

from __future__ import annotations

from typing import Any

from checkpoints import connections, version_rules
from checkpoints.engines.base import Engine
from checkpoints.jobs.locked import live_manifest, live_manifest_or_reason
from checkpoints.jobs.run import JobRun
from checkpoints.jobs.snapshot import role_repair, room_for, snapshot_take
from checkpoints.lifecycle import manifest as manifests
from checkpoints.lifecycle import window
from checkpoints.models import AgentProject, Version


def live_state_keep(run: JobRun, engine: Engine, *, reason: str) -> Version | None:
    """Save the live database as an automatic version named `reason` (e.g. "Before
    rollback to v1") if it differs from the current version's manifest; None when it
    matches. The version is parented on the current one and does not become current."""
    project = run.project
    base = project.current_version
    role_repair(run, engine)
    with run.step("keeping the live state", "comparing with the current version"):
        if engine.live_database_missing(project.engine_project_id):
            run.detail("the live database is missing: nothing to keep, the rollback rebuilds it")
            return None
        read = live_manifest_or_reason(connections.project_connection_uri(project=project))
        live = read if isinstance(read, dict) else None
        if live is not None and base is not None and manifests.manifests_equal(live, base.manifest):
            run.detail(f"the live database matches {base.label}: nothing to keep")
            return None
        number = version_rules.version_number_after(project=project)
        why = "" if live is not None else str(read)
        if why:
            run.detail(f"the live database could not be read ({why}): kept, not verified")
        else:
            run.detail(f"the live database differs from {base.label if base else 'any version'}")
    capacity = room_for(run, engine, label=f"v{number}")
    created, fingerprint = snapshot_take(run, engine, number, None, capacity)
    run.remember(kept_snapshot_id=created.snapshot.id)
    if live is not None:  # the same on both sides of the snapshot: it holds it exactly
        again = live_manifest(engine.connection_uri(project.engine_project_id))
        live["exact"] = manifests.manifests_equal(live, again)
    return _kept_record(run, base, number, reason, created.snapshot, live, fingerprint, why)


UNVERIFIED_NAME = "{reason} (not verified)"
UNVERIFIED_PROMPT = (
    "Its tables could not be read when it was kept ({why}), so it has no manifest: a "
    "rollback to it checks its schema, not its rows."
)


def _kept_record(
    run: JobRun,
    base: Version | None,
    number: int,
    reason: str,
    snapshot: Any,
    manifest: dict[str, Any] | None,
    fingerprint: str | None,
    why: str = "",
) -> Version:
    """The kept version; `why`: the live database could not be read (no manifest), which
    its name and prompt say."""
    project = run.project
    prompt = f"Saved automatically: the live database as it was ({reason.lower()})."
    if why:
        reason = UNVERIFIED_NAME.format(reason=reason)
        prompt += " " + UNVERIFIED_PROMPT.format(why=why)
    with run.step("recording the live state", f"v{number}: {reason}"):
        version = Version.objects.create(
            project=project,
            number=number,
            name=reason[:200],
            prompt=prompt,
            snapshot_id=snapshot.id,
            parent=base,
            created_by=run.job.created_by,
            expires_at=snapshot.expires_at,
            manifest=manifest,
            automatic=True,
        )
        if project.restore_window == AgentProject.RestoreWindow.VERSIONS:
            window.versions_expiry_apply(project=project)
        run.remember(
            kept_version_id=version.pk, kept_label=version.label, kept_fingerprint=fingerprint
        )
    return version
