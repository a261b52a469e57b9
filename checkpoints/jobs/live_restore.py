"""Restoring a version into the active branch (a rollback, an undo): in one engine call,
or, where the engine finalizes apart (Neon), in two: restore into a new branch, then
finalize it, naming the branch it replaces so cleanup finds exactly that one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from checkpoints.engines.base import Engine, KeepLive, RestoreResult
from checkpoints.engines.errors import EngineError, EngineNotFound
from checkpoints.jobs.branches import endpoint_branch_id
from checkpoints.jobs.run import JobRun
from checkpoints.lifecycle.restore_names import replaced_name, restoring_name
from checkpoints.models import Version

logger = logging.getLogger(__name__)

Remember = Callable[..., None]


def restore_into_live(
    run: JobRun,
    engine: Engine,
    version: Version,
    *,
    step: str,
    remember: Remember,
    keep_live: KeepLive | None = None,
) -> RestoreResult:
    """Restore `version` into the active branch; `remember(new_branch_id=…,
    orphan_branch_id=…)` records the ids as soon as each is known. The result's
    operations are the last step's (the endpoint moving); `orphan_branch_id` is the
    replaced branch. `keep_live` (one-step engines): the replaced live database kept as
    a snapshot by the swap, answered as the result's `kept`."""
    project = run.project
    pid, old_branch = project.engine_project_id, project.active_branch_id
    detail = f"{version.label} into the active branch"
    if not engine.restores_in_two_steps:
        with run.step(step, detail):
            restore = engine.snapshot_restore(
                pid,
                version.snapshot_id,
                target_branch_id=old_branch,
                finalize_restore=True,
                keep_live=keep_live,
            )
            orphan = restore.orphan_branch_id or old_branch
            remember(new_branch_id=restore.branch.id, orphan_branch_id=orphan)
        return restore
    with run.step(step, detail):
        restore = engine.snapshot_restore(
            pid,
            version.snapshot_id,
            target_branch_id=old_branch,
            finalize_restore=False,
            name=restoring_name(run.job.pk, version.label),
        )
        remember(new_branch_id=restore.branch.id)
    old_name = replaced_name(run.job.pk, version.label)
    try:
        run.wait(engine, restore.operations, "restore operations")
        with run.step("finalizing the restore", f"the replaced branch becomes {old_name!r}"):
            operations = engine.branch_finalize_restore(pid, restore.branch.id, old_name=old_name)
            remember(orphan_branch_id=old_branch, orphan_branch_name=old_name)
    except Exception:
        _discard_unfinalized(run, engine, restore.branch.id)
        raise
    return replace(restore, operations=operations, orphan_branch_id=old_branch)


def _discard_unfinalized(run: JobRun, engine: Engine, branch_id: str) -> None:
    """Delete the restored branch that was never swapped in (best effort: cleanup finds
    it by its name otherwise). Kept if the endpoint serves it after all."""
    project = run.project
    try:
        if endpoint_branch_id(engine, project) == branch_id:
            return
        engine.branch_delete(project.engine_project_id, branch_id)
    except EngineNotFound:
        pass
    except EngineError:
        logger.warning("could not delete the unfinalized branch %s", branch_id)


def remember_under(run: JobRun, key: str) -> Remember:
    """A `remember` that records the ids under `run.result[key]` (an undo's)."""

    def remember(**values: Any) -> None:
        run.remember(**{key: {**run.result.get(key, {}), **values}})

    return remember
