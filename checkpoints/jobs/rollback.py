"""Job kind ROLLBACK: restore a version into the active branch (the connection string
stays), verify it, then delete the replaced branch."""

from __future__ import annotations

import logging

from checkpoints import connections
from checkpoints.engines.base import Engine, RestoreResult
from checkpoints.jobs.branches import (
    ENDPOINT_NOT_MOVED,
    adopt_branch,
    endpoint_branch_id,
    orphan_delete,
    reconcile_active_branch,
)
from checkpoints.jobs.checks import verify_version, wait_connectable
from checkpoints.jobs.failures import JobFailed
from checkpoints.jobs.live_keep import live_state_keep_and_restore
from checkpoints.jobs.run import JobRun, engine_of, runner
from checkpoints.jobs.snapshot import repair_role
from checkpoints.lifecycle import policy
from checkpoints.models import Activity, Job, Version

logger = logging.getLogger(__name__)


@runner(Job.Kind.ROLLBACK)
def run_rollback(run: JobRun) -> None:
    project = run.project
    target = run.job.target_version
    assert target is not None
    from_version = project.current_version
    # The result banner says in one line what changed: "Rolled back from v3 to v1".
    run.remember(from_label=from_version.label if from_version else "")
    with engine_of(run) as engine:
        reconcile_active_branch(run, engine)
        old_branch = project.active_branch_id
        kept, restore = live_state_keep_and_restore(
            run, engine, target, reason=_keep_reason(run, target)
        )
        # What "Undo rollback" goes back to: the live state kept, or the version it matched.
        back = kept or from_version
        run.remember(undo_version_id=back.pk if back else None, undo_label=_label(back))
        # Kept by renaming, the replaced branch is the kept version's: no orphan left.
        orphan = (
            None
            if restore.kept and not restore.orphan_branch_id
            else (restore.orphan_branch_id or old_branch)
        )
        repair_role(run, engine, restore.repaired)
        uri = _swap_await(run, engine, restore, target)
        with run.step("verifying", f"the connection string serves {target.label}"):
            verify_version(uri, target)
        keep_orphan = policy.rollback_keeps_old_branch()
        if not keep_orphan and orphan:
            # Verified: the rollback is done for the user. Deleting the old branch (a DROP
            # DATABASE forces a checkpoint: seconds under load) happens right after.
            run.after_success(lambda: orphan_delete(run, engine, orphan))
    run.record_activity(
        kind=Activity.Kind.UNDO if is_undo(run) else Activity.Kind.ROLLBACK,
        from_version=from_version,
        to_version=target,
        detail=f"Active branch {old_branch} → {restore.branch.id}; "
        + _orphan_said(orphan, keep_orphan, kept)
        + " Connection string unchanged.",
    )


def _orphan_said(orphan: str | None, keep_orphan: bool, kept: Version | None) -> str:
    if orphan is None:
        return f"its database became {kept.label if kept else 'the kept version'} (renamed)."
    return f"orphan {orphan} {'kept for cleanup' if keep_orphan else 'deleted once verified'}."


def _keep_reason(run: JobRun, target: Version) -> str:
    if is_undo(run):
        return f"Before undo (back to {target.label})"
    return f"Before rollback to {target.label}"


def is_undo(run: JobRun) -> bool:
    """A rollback asked for as "Undo rollback" (recorded as such in the Activity)."""
    return bool((run.result.get("request") or {}).get("undo"))


def _label(version: Version | None) -> str:
    return version.label if version else ""


def _swap_await(run: JobRun, engine: Engine, restore: RestoreResult, target: Version) -> str:
    """Wait until the endpoint serves the restored branch, record it, and answer the
    connection string. On a failure the swap is recorded only if it really happened."""
    project = run.project
    new_branch = restore.branch.id
    try:
        run.wait(
            engine,
            restore.operations,
            verify=lambda: endpoint_branch_id(engine, project) == new_branch,
        )
        at_once = engine.serves_restore_at_once
        with run.step("waiting for the endpoint"):
            # At once: the restore returned after its swap (endpoint moved) committed, so
            # reading it back costs a connection and tells nothing; verifying reads the data.
            if not at_once and endpoint_branch_id(engine, project) != new_branch:
                raise JobFailed(ENDPOINT_NOT_MOVED)
            adopt_branch(project, new_branch, target)
            uri = connections.live_uri(project=project, engine=engine)
            if not at_once:
                wait_connectable(uri)  # e.g. a Neon compute restarting
    except Exception:
        try:  # read it back from the engine
            if endpoint_branch_id(engine, project) == new_branch:
                adopt_branch(project, new_branch, target)
        except Exception:
            logger.exception("could not read back the endpoint of %s", project.pk)
        raise
    return uri
