"""Undo rollback: roll forward to what the last rollback replaced (the automatic version
it kept, or the version the live database still matched). It is just another rollback,
so it keeps the live state first too, and an undo can be undone the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING

from checkpoints import tasks
from checkpoints.errors import ServiceError
from checkpoints.models import AgentProject, Job, Version
from checkpoints.rules import permissions, version_rules

if TYPE_CHECKING:
    from django.contrib.auth.models import User

NOTHING_TO_UNDO = "There is no rollback to undo: the last change to the live database was not one."
UNDO_GONE = "The rollback cannot be undone: {label}, which holds what it replaced, is gone."


class NothingToUndo(ServiceError):
    """No rollback to undo: the last change to the live database was not a rollback."""

    status = 409
    code = "nothing_to_undo"


class UndoGone(ServiceError):
    """The version holding what the rollback replaced was deleted."""

    status = 422
    code = "version_deleted"


#: Jobs that leave the live database as it was: they do not stand between a rollback and
#: its undo.
_NEUTRAL = (
    Job.Kind.PREVIEW_OPEN,
    Job.Kind.PREVIEW_DISCARD,
    Job.Kind.VERSION_DELETE,
    Job.Kind.CLEANUP,
    Job.Kind.SHARE_OPEN,
    Job.Kind.TIER_MOVE,
    Job.Kind.MIGRATION_PREPARE,
)
#: Jobs that keep the live state as a version first and record it: an undo goes back to it.
_UNDOABLE = (Job.Kind.ROLLBACK, Job.Kind.MIGRATION_APPLY, Job.Kind.RESTORE_BEFORE_EVENT)


def rollback_to_undo(*, project: AgentProject) -> Job | None:
    """The rollback an undo would reverse: the last job that changed the live database,
    if it was a rollback (or an undo) that recorded what it replaced."""
    last = (
        project.jobs.filter(state=Job.State.SUCCEEDED)
        .exclude(kind__in=_NEUTRAL)
        .order_by("-finished_at", "-pk")
        .first()
    )
    if last is None or last.kind not in _UNDOABLE or not last.result.get("undo_version_id"):
        return None
    if last.target_version_id != project.current_version_id:
        return None
    return last


def undo_version(*, project: AgentProject) -> Version | None:
    """The version "Undo rollback" goes back to, if any (live or not: the caller checks)."""
    job = rollback_to_undo(project=project)
    if job is None:
        return None
    return project.versions.filter(pk=job.result["undo_version_id"]).first()


def rollback_undo(*, project: AgentProject, user: User) -> Job:
    """Roll forward to what the last rollback replaced, into the same connection string."""
    permissions.require(user, project, "rollback")
    job = rollback_to_undo(project=project)
    if job is None:
        raise NothingToUndo(NOTHING_TO_UNDO)
    version = project.versions.filter(pk=job.result["undo_version_id"]).first()
    if version is None:
        raise UndoGone(UNDO_GONE.format(label=job.result.get("undo_label") or "the version"))
    version_rules.version_require_live(version)
    return tasks.job_enqueue(
        project=project,
        kind=Job.Kind.ROLLBACK,
        user=user,
        target_version=version,
        request={"undo": True, "of_job": job.pk},
    )
