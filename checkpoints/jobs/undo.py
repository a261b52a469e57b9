"""Putting the live database back when a version step committed SQL it could not save."""

from __future__ import annotations

import logging

from checkpoints import connections
from checkpoints.engines.base import Engine
from checkpoints.engines.errors import EngineError
from checkpoints.jobs.branches import (
    ENDPOINT_NOT_MOVED,
    adopt_branch,
    endpoint_branch_id,
    orphan_delete,
)
from checkpoints.jobs.checks import verify_version, wait_connectable
from checkpoints.jobs.failures import JobFailed, error_text
from checkpoints.jobs.live_restore import remember_under, restore_into_live
from checkpoints.jobs.run import JobRun
from checkpoints.models import Version
from checkpoints.rules import snapshot_room

logger = logging.getLogger(__name__)


def undo_applied(run: JobRun, engine: Engine, version: Version | None, then: str = "") -> str:
    """Restore `version` (the current one) into the active branch after the version step
    committed SQL it could not snapshot; return the sentence the job's error ends with
    (followed by `then`, what to do next, once the undo is done).

    Like a rollback: the endpoint moves to the restored branch (the connection string does
    not change), the result is verified, the previous branch is deleted."""
    if version is None:
        return " The live database holds the applied SQL: there is no version to put back."
    project = run.project
    pid = project.engine_project_id
    snapshot_id = run.result.get("snapshot_id")
    if snapshot_id:  # made, but not verifiably in place: it must not count as a version
        try:
            engine.snapshot_delete(pid, snapshot_id)
        except EngineError:
            logger.warning("could not delete snapshot %s of a failed step", snapshot_id)
    old_branch = project.active_branch_id
    try:
        restore = restore_into_live(
            run, engine, version, step="undoing the prompt", remember=remember_under(run, "undo")
        )
        orphan = restore.orphan_branch_id or old_branch
        moved = lambda: endpoint_branch_id(engine, project) == restore.branch.id  # noqa: E731
        run.wait(engine, restore.operations, name="restore operations", verify=moved)
        with run.step("verifying the undo", f"the live database serves {version.label}"):
            if not moved():
                raise JobFailed(ENDPOINT_NOT_MOVED)
            adopt_branch(project, restore.branch.id, version)
            uri = connections.live_uri(project=project, engine=engine)
            wait_connectable(uri)
            verify_version(uri, version)
    except Exception as exc:
        logger.warning("undo of job %s failed: %s", run.job.pk, error_text(exc))
        return snapshot_room.NOT_UNDONE.format(label=version.label, error=error_text(exc))
    try:
        orphan_delete(run, engine, orphan)
    except Exception:  # a leftover branch: cleanup removes it
        logger.exception("could not delete branch %s after the undo", orphan)
    return snapshot_room.UNDONE.format(label=version.label) + then
