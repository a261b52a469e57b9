"""The engine steps a project move is made of, on any engine (through the engine interface
only, so a Neon connection can be a source or a destination): open a version of the
source as a branch with its own connection string, put the destination's live database
back to empty, and remove what a move that died left behind."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from checkpoints.engines import get_engine
from checkpoints.engines.base import Engine
from checkpoints.engines.errors import EngineError, EngineNotFound
from checkpoints.engines.operations import wait_for_operations
from checkpoints.jobs.checks import wait_connectable
from checkpoints.models import AgentProject, EngineConnection, Job
from checkpoints.servers import engine_connections

logger = logging.getLogger(__name__)


def connection_engine_of(connection_id: int | None, engine_name: str = "") -> Engine:
    """The engine of a connection by id (None: the installation's own)."""
    if connection_id is None:
        return get_engine(engine_name or None)
    connection = EngineConnection.objects.get(pk=connection_id)
    return engine_connections.connection_engine(connection)


@contextlib.contextmanager
def version_branch(
    engine: Engine, project: AgentProject, snapshot_id: str, name: str
) -> Iterator[str]:
    """A temporary branch of the snapshot beside the active one (which stays untouched),
    with an endpoint; yields its connection string and deletes the branch afterwards."""
    pid = project.engine_project_id
    restore = engine.snapshot_restore(
        pid,
        snapshot_id,
        target_branch_id=project.active_branch_id,
        finalize_restore=False,
        name=name,
    )
    branch_id = restore.branch.id
    try:
        wait_for_operations(engine, pid, restore.operations)
        existing = [e for e in engine.endpoint_list(pid) if e.branch_id == branch_id]
        if not existing:
            wait_for_operations(engine, pid, engine.endpoint_create(pid, branch_id).operations)
        uri = engine.connection_uri(pid, branch_id=branch_id)
        wait_connectable(uri)
        yield uri
    finally:
        with contextlib.suppress(EngineError):
            wait_for_operations(engine, pid, engine.branch_delete(pid, branch_id))


def live_reset(engine: Engine, project_id: str, root: str, empty_snapshot: str) -> str:
    """The destination's live database back to its empty first state (a rollback to the
    snapshot taken right after it was made); the new root branch's id."""
    if engine.restores_in_two_steps:
        restore = engine.snapshot_restore(
            project_id, empty_snapshot, target_branch_id=root, finalize_restore=False
        )
        wait_for_operations(engine, project_id, restore.operations)
        ops = engine.branch_finalize_restore(project_id, restore.branch.id)
        wait_for_operations(engine, project_id, ops)
        orphan = root
    else:
        restore = engine.snapshot_restore(
            project_id, empty_snapshot, target_branch_id=root, finalize_restore=True
        )
        wait_for_operations(engine, project_id, restore.operations)
        orphan = restore.orphan_branch_id or root
    with contextlib.suppress(EngineNotFound):
        wait_for_operations(engine, project_id, engine.branch_delete(project_id, orphan))
    return restore.branch.id


def project_drop(engine: Engine, project_id: str) -> bool:
    """Delete an engine project a move made or left; whether it is gone."""
    try:
        engine.project_delete(project_id)
    except EngineNotFound:
        return True
    except Exception:
        logger.exception("could not delete engine project %s after a move", project_id)
        return False
    return True


def move_leftovers_clean(project: AgentProject) -> int:
    """Remove what moves of `project` that died (a killed worker) or failed left on an
    engine: the half-made destination project when the move never switched, the source
    project when it did. Idempotent; how many it removed."""
    removed = 0
    ended = Job.objects.filter(project=project, kind=Job.Kind.PROJECT_MOVE)
    ended = ended.filter(state__in=Job.FINISHED, result__has_key="move_to_project")
    for job in ended:
        result = job.result
        if result.get("leftovers_cleaned"):
            continue
        if result.get("switched"):
            leftover, where = result.get("from_project"), result.get("from_connection")
            if result.get("from_adopted"):  # an adopted project is the customer's: kept
                leftover = None
            engine_name = result.get("from_engine_name", "")
        else:
            leftover, where = result["move_to_project"], result.get("to_connection")
            engine_name = ""
        if leftover and project_drop(connection_engine_of(where, engine_name), leftover):
            removed += 1
            Job.objects.filter(pk=job.pk).update(result={**result, "leftovers_cleaned": True})
    return removed
