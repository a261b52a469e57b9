"""Job kind TIER_MOVE: move the project's versions between the hot and the cold tier as
the policy (`lifecycle.tiers`) says; queued after a version is saved, by cleanup, and by
Pin/Unpin. Engines without tiers (Neon; a local engine on a reflink file system) keep
everything as it is. Each move holds the engine's project lock, so it never races a
rollback to that version. It is housekeeping: it gives way to what a person or agent asks
for (`checkpoints.queue.housekeeping`)."""

from __future__ import annotations

import logging

from checkpoints import connections, tasks
from checkpoints.engines.base import Engine
from checkpoints.engines.errors import EngineError, EngineInvalidRequest
from checkpoints.errors import ProjectBusy
from checkpoints.jobs.run import JobRun, runner
from checkpoints.lifecycle.tiers import tier_plan
from checkpoints.models import AgentProject, Job, Version

logger = logging.getLogger(__name__)


def tiered(engine: Engine) -> bool:
    return engine.storage_mode == "tiered"


def tier_move_soon(project: AgentProject) -> None:
    """Queue a tier move when the policy has something to move, unless the project is
    busy (the next save or cleanup queues one): a queued job holds the project."""
    if not project.engine_project_id or not tiered(connections.engine_for(project=project)):
        return
    plan = tier_plan(project)
    if not (plan.to_cold or plan.to_hot):
        return
    try:
        tasks.job_enqueue(project=project, kind=Job.Kind.TIER_MOVE, user=None)
    except ProjectBusy:
        logger.info("tier move of project %s not queued: busy", project.pk)


@runner(Job.Kind.TIER_MOVE)
def run_tier_move(run: JobRun) -> None:
    project = run.project
    engine = connections.engine_for(project=project)
    if not tiered(engine):
        run.remember(tier_moves=0)
        return
    plan = tier_plan(project)
    moved = 0
    # Between two versions it stops when asked: what a person or agent asked for supersedes
    # it (`housekeeping.housekeeping_yield`), and the next save or cleanup queues it again.
    for version in plan.to_hot:
        run.cancel_check()
        moved += _move(run, engine, version, Version.Tier.HOT)
    for version in plan.to_cold:
        run.cancel_check()
        moved += _move(run, engine, version, Version.Tier.COLD)
    run.remember(tier_moves=moved)


def _move(run: JobRun, engine: Engine, version: Version, tier: str) -> int:
    """One version to `tier`, its size recorded; 0 when the engine keeps it (a warm copy)."""
    move = engine.snapshot_freeze if tier == Version.Tier.COLD else engine.snapshot_thaw  # type: ignore[attr-defined]
    with run.step(f"moving {version.label} {tier}", "archive" if tier == "cold" else "database"):
        try:
            size = move(run.project.engine_project_id, version.snapshot_id)
        except EngineInvalidRequest as exc:  # a warm copy keeps it hot
            run.detail(f"kept: {exc}")
            return 0
        except EngineError:
            raise
        Version.objects.filter(pk=version.pk).update(tier=tier, size_bytes=size)
        run.detail(f"{size} bytes")
    return 1
