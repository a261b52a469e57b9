"""Recording the live state a rollback kept as an automatic version; and adopting one a
dead worker's rollback kept after its swap but never recorded."""

from __future__ import annotations

from typing import Any

from checkpoints.engines.base import Engine
from checkpoints.jobs.run import JobRun
from checkpoints.lifecycle import window
from checkpoints.models import AgentProject, Job, Version
from checkpoints.rules import version_rules

UNVERIFIED_NAME = "{reason} (not verified)"
UNVERIFIED_PROMPT = (
    "Its tables could not be read when it was kept ({why}), so it has no manifest: a "
    "rollback to it checks its schema, not its rows."
)


def kept_record(
    run: JobRun,
    base: Version | None,
    number: int,
    reason: str,
    snapshot: Any,
    manifest: dict[str, Any] | None,
    fingerprint: str | None,
    *,
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


def kept_adopt(run: JobRun, engine: Engine, earlier: Job) -> Version | None:
    """A rollback whose worker died after its swap kept the live state as a snapshot but
    never recorded it: record it now (no manifest: it was not read at the swap)."""
    pending = earlier.result.get("keep_pending")
    if not pending or earlier.result.get("kept_version_id"):
        return None
    project = run.project
    recorded = set(project.versions.values_list("snapshot_id", flat=True))
    found = [
        s
        for s in engine.snapshot_list(project.engine_project_id)
        if s.name == pending["name"] and s.id not in recorded
    ]
    if not found:
        return None
    number = max(int(pending["number"]), version_rules.version_number_after(project=project))
    base = earlier.target_version.parent if earlier.target_version else None
    return kept_record(run, base, number, pending["reason"], found[0], None, None)
