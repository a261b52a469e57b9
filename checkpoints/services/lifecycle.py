"""Use cases of the version lifecycle: set the restore window, clean up (plan, run now or
in the background), save a version as of a past time.

The lifecycle's reads (window text, expiry notes, holdings, diffs) are re-exported here so
that a view, the API or the MCP server reaches the whole lifecycle through one module."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.db import transaction

from checkpoints import connections, tasks
from checkpoints.activity import activity_record
from checkpoints.errors import NOT_STARTED, ServiceError
from checkpoints.jobs.cleanup import cleanup_now, projects_cleanup
from checkpoints.lifecycle.diff import DIFF_NO_MANIFEST, Diff, rollback_diff, version_diff
from checkpoints.lifecycle.holdings import project_holdings
from checkpoints.lifecycle.listing import listing_refresh
from checkpoints.lifecycle.plan import CleanupPlan, Holding, Removal
from checkpoints.lifecycle.policy import cleanup_interval, rollback_keeps_old_branch
from checkpoints.lifecycle.window import (
    Window,
    version_expiry_note,
    versions_expiry_apply,
    window_describe,
)
from checkpoints.models import Activity, AgentProject, Job
from checkpoints.rules import permissions
from checkpoints.services import history
from checkpoints.tasks import PERIODIC_TASK_PATH, cleanup_schedule_ensure

if TYPE_CHECKING:
    from django.contrib.auth.models import User

__all__ = [
    "DIFF_NO_MANIFEST",
    "PERIODIC_TASK_PATH",
    "CleanupPlan",
    "Diff",
    "Holding",
    "Removal",
    "cleanup_interval",
    "cleanup_schedule_ensure",
    "cleanup_start",
    "listing_refresh",
    "project_cleanup",
    "project_holdings",
    "projects_cleanup",
    "restore_window_set",
    "rollback_diff",
    "rollback_keeps_old_branch",
    "version_create_as_of",
    "version_diff",
    "version_expiry_note",
    "window_describe",
]

RESTORE_WINDOW_INVALID = "Choose how long to keep versions: forever, N days or the last N versions."
RESTORE_WINDOW_COUNT = "Give a number from 1 to 3650."


def restore_window_set(
    *, project: AgentProject, user: User, window: str, count: int | str | None
) -> int:
    """Change the project's restore window and recompute live versions' expiry."""
    permissions.require(user, project, "restore_window")
    if window not in Window.values:
        raise ServiceError(RESTORE_WINDOW_INVALID)
    if window != Window.FOREVER:
        try:
            count = int(count or 0)
        except (TypeError, ValueError):
            raise ServiceError(RESTORE_WINDOW_COUNT) from None
        if not 1 <= count <= 3650:
            raise ServiceError(RESTORE_WINDOW_COUNT)
        project.restore_window_count = count
    before = window_describe(project)
    project.restore_window = window
    with transaction.atomic():
        project.save(update_fields=["restore_window", "restore_window_count"])
        changed = versions_expiry_apply(project=project)
        activity_record(
            project=project,
            actor=user,
            kind=Activity.Kind.CLEANUP,
            detail=f"Restore window changed: {before} → {window_describe(project)} "
            f"Expiry recomputed for {changed} version{'s' if changed != 1 else ''}.",
        )
    return changed


def project_cleanup(
    *,
    project: AgentProject,
    user: User | None,
    dry_run: bool = True,
    fresh: bool = True,
) -> CleanupPlan:
    """The cleanup plan (dry run), or the plan carried out now (`jobs.cleanup.cleanup_now`).

    A dry run asks the engine what it holds now (`fresh`), or, for pages, reads what the
    last job listed (no engine call; the cleanup job itself plans from the engine)."""
    if user is not None:
        permissions.require(user, project, "cleanup")
    if dry_run:
        engine = connections.engine_for(project=project) if fresh else None
        return project_holdings(project=project, engine=engine)
    return cleanup_now(project=project, user=user)


def cleanup_start(*, project: AgentProject, user: User) -> Job:
    """Enqueue the cleanup as a background job (the page's "Clean up now")."""
    permissions.require(user, project, "cleanup")
    if not project.engine_project_id:
        raise ServiceError(NOT_STARTED)
    return tasks.job_enqueue(project=project, kind=Job.Kind.CLEANUP, user=user)


def version_create_as_of(
    *,
    project: AgentProject,
    user: User,
    timestamp: datetime | None,
    name: str = "",
) -> Job:
    """Save a version of the active branch as it was at `timestamp` (services.history)."""
    return history.version_create_as_of(project=project, user=user, timestamp=timestamp, name=name)
