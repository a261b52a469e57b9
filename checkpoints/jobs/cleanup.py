"""Job kind CLEANUP: remove what the project holds but no longer needs (the plan is
`lifecycle.holdings`); run in the background, or at once for the command line and the
periodic cleanup."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone

from checkpoints import connections, tasks
from checkpoints.activity import activity_record
from checkpoints.engines.base import Engine
from checkpoints.engines.errors import EngineError, EngineNotFound
from checkpoints.errors import ProjectBusy
from checkpoints.jobs.run import JobRun, job_finish, runner
from checkpoints.jobs.tier_move import tier_move_soon
from checkpoints.lifecycle import listing
from checkpoints.lifecycle.events import events_copy
from checkpoints.lifecycle.holdings import project_holdings
from checkpoints.lifecycle.plan import CleanupPlan, Removal
from checkpoints.models import Activity, AgentProject, Job, Preview, Version
from checkpoints.queue.job_reaper import jobs_fail_stale

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


def cleanup_now(*, project: AgentProject, user: User | None) -> CleanupPlan:
    """Carry the cleanup out now, in this process, as a job of the project (the command
    line, the periodic cleanup). It claims the project like any job (`ProjectBusy` if one
    runs), so no job creates a branch or snapshot that cleanup would take for a leftover."""
    jobs_fail_stale(project=project)
    now = timezone.now()
    try:
        with transaction.atomic():
            job = Job.objects.create(
                project=project,
                kind=Job.Kind.CLEANUP,
                created_by=user,
                state=Job.State.RUNNING,
                started_at=now,
                heartbeat_at=now,
            )
    except IntegrityError as exc:
        raise tasks.project_busy(project) from exc
    run = JobRun(job)
    try:
        plan = run_cleanup(run)
    except Exception as exc:
        job_finish(run, state=Job.State.FAILED, error=str(exc)[:2000])
        raise
    job_finish(run, state=Job.State.SUCCEEDED)
    tier_move_soon(project)  # after the claim is released: older versions may go cold
    return plan


@runner(Job.Kind.CLEANUP)
def run_cleanup(run: JobRun) -> CleanupPlan:
    """The job runner: plan from what the engine holds now, then remove, logging each."""
    project = run.project
    actor = run.job.created_by
    engine = connections.engine_for(project=project)
    with run.step("listing branches and snapshots"):
        plan = project_holdings(project=project, engine=engine)
        if plan.error:
            raise EngineError(plan.error)
        run.detail(f"{len(plan.removals)} to remove")
    plan.dry_run = False
    # Snapshots and previews first, then branches (children before parents).
    order = {"version": 0, "snapshot": 1, "preview": 2, "branch": 3}
    for removal in sorted(plan.removals, key=lambda r: order[r.kind]):
        with run.step(f"removing {removal.kind} {removal.name}", removal.reason):
            try:
                ops = _remove(project, engine, removal, actor)
            except EngineError as exc:
                # One stubborn item must not stop the rest: record it and go on.
                removal.error = str(exc)
                run.detail(f"not removed: {exc}")
                continue
        if ops:
            run.wait(engine, ops, name=f"{removal.kind} {removal.name} deleted")
        removal.done = True
        activity_record(
            project=project,
            actor=actor,
            kind=Activity.Kind.CLEANUP,
            to_version=Version.objects.filter(pk=removal.version_id).first()
            if removal.version_id
            else None,
            operation_ids=[op.id for op in ops],
            detail=f"Removed {removal.kind} {removal.name} ({removal.id}): {removal.reason}.",
        )
    run.remember(cleanup=plan.as_dict())
    with run.step("listing what remains"):
        listing.listing_refresh(project=project, engine=engine)
    run.after_success(lambda: tier_move_soon(project))
    return plan


def _remove(project: AgentProject, engine: Engine, removal: Removal, actor) -> list:
    now = timezone.now()
    ops: list = []
    if removal.kind == "snapshot":
        try:
            ops = engine.snapshot_delete(project.engine_project_id, removal.id)
        except EngineNotFound:
            ops = []
    elif removal.kind == "branch":
        try:
            ops = engine.branch_delete(project.engine_project_id, removal.id)
        except EngineNotFound:
            ops = []
    if removal.version_id:
        Version.objects.filter(pk=removal.version_id, deleted_at__isnull=True).update(
            deleted_at=now, deleted_by=actor, deleted_reason=f"cleanup: {removal.reason}"
        )
    if removal.preview_id:
        Preview.objects.filter(pk=removal.preview_id, discarded_at__isnull=True).update(
            discarded_at=now
        )
    return ops


@tasks.handles("cleanup_periodic")
def projects_cleanup(*, dry_run: bool, project_id: int | None = None) -> list[CleanupPlan]:
    """Clean up every started project (or one); a busy project is skipped this round."""
    projects = AgentProject.objects.exclude(engine_project_id="")
    if project_id is not None:
        projects = projects.filter(pk=project_id)
    plans = []
    for project in projects:
        try:
            if dry_run:
                engine = connections.engine_for(project=project)
                plans.append(project_holdings(project=project, engine=engine))
            else:
                _events_keep(project)
                plans.append(cleanup_now(project=project, user=None))
        except ProjectBusy:
            logger.info("cleanup of project %s skipped: busy", project.pk)
        except Exception:
            logger.exception("cleanup of project %s failed", project.pk)
    return plans


def _events_keep(project: AgentProject) -> None:
    """Copy the project's recorded destructive statements into the metadata database, so
    the timeline has them even if nobody listed them (never stops the cleanup)."""
    try:
        engine = connections.engine_for(project=project)
        if engine.supports_statement_events:
            events_copy(project=project, engine=engine)
    except Exception:
        logger.warning("destructive statements of project %s not copied", project.pk, exc_info=True)
