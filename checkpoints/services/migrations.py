"""Migrations tried on a copy first: `migration_prepare` applies SQL to a fresh copy of the
live database (a job) and records what it changed or where it failed; `migration_apply`
applies the same SQL to live as one new version, the live state kept first as an
automatic version (so `undo_rollback` puts it back), refused when live changed since the
copy was taken; `migration_discard` drops the copy. Runners: `jobs/migration.py`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from checkpoints import connections, tasks
from checkpoints.engines.errors import EngineLocked, EngineNotFound
from checkpoints.errors import NOT_STARTED, ServiceError
from checkpoints.models import AgentProject, Job, MigrationTrial
from checkpoints.rules import permissions, version_sql
from checkpoints.services.sql_tools import NotSupported

if TYPE_CHECKING:
    from django.contrib.auth.models import User

NO_COPIES = "The {engine} engine cannot copy the live database for a migration here."
NOT_PREPARED = "Migration #{id} is {state}: only a prepared migration can be applied."
NOT_DISCARDABLE = "Migration #{id} is {state}: there is no copy left to discard."
LIVE_CHANGED = (
    "The live database changed since migration #{id} was tried on its copy ({why}); "
    "nothing was applied. Prepare it again on a fresh copy."
)
DISCARD_BUSY = "The project is busy; discard migration #{id} again in a few seconds."

#: Jobs that leave the live database as it was.
NEUTRAL = (
    Job.Kind.PREVIEW_OPEN,
    Job.Kind.PREVIEW_DISCARD,
    Job.Kind.VERSION_DELETE,
    Job.Kind.CLEANUP,
    Job.Kind.SHARE_OPEN,
    Job.Kind.TIER_MOVE,
    Job.Kind.MIGRATION_PREPARE,
)


class MigrationRefused(ServiceError):
    status = 409
    code = "migration_not_prepared"


class LiveChanged(ServiceError):
    """Live is no longer what the migration was tried on."""

    status = 409
    code = "live_changed"


class MigrationSqlRefused(ServiceError):
    status = 400
    code = "sql_refused"


def migration_prepare(
    *, project: AgentProject, user: User, sql: str, prompt: str = ""
) -> tuple[MigrationTrial, Job]:
    """Start trying `sql` on a fresh copy of the live database (a job)."""
    permissions.require(user, project, "version_create")
    if not project.engine_project_id:
        raise ServiceError(NOT_STARTED)
    try:
        if not version_sql.statements(sql):
            raise MigrationSqlRefused("The SQL is empty: send the statements to try.")
    except version_sql.SqlRefused as refused:
        raise MigrationSqlRefused(refused.message) from None
    engine = connections.engine_for(project=project)
    if not engine.supports_sql_reads:
        raise NotSupported(NO_COPIES.format(engine=engine.name))
    with transaction.atomic():
        trial = MigrationTrial.objects.create(
            project=project,
            sql=sql,
            prompt=prompt,
            created_by=user,
            base_version=project.current_version,
        )
        job = tasks.job_enqueue(
            project=project,
            kind=Job.Kind.MIGRATION_PREPARE,
            user=user,
            request={"migration_id": trial.pk},
        )
    return trial, job


def live_changed_since(trial: MigrationTrial) -> str:
    """Why live is not what the migration was tried on, as far as the metadata tells
    ("" when it does not tell: the apply job compares the live database itself)."""
    project = trial.project
    if project.current_version_id != trial.base_version_id:
        return "the live database serves another version now"
    later = (
        project.jobs.filter(state=Job.State.SUCCEEDED, finished_at__gt=trial.prepared_at)
        .exclude(kind__in=NEUTRAL)
        .order_by("-finished_at")
        .first()
    )
    if later is not None:
        return f"{later.get_kind_display().lower()} job #{later.pk} ran since"
    return ""


def migration_apply(*, trial: MigrationTrial, user: User) -> Job:
    """Apply a prepared migration to live as one new version (a job)."""
    project = trial.project
    permissions.require(user, project, "version_create")
    if trial.state != MigrationTrial.State.PREPARED:
        raise MigrationRefused(NOT_PREPARED.format(id=trial.pk, state=trial.state))
    why = live_changed_since(trial)
    if why:
        raise LiveChanged(LIVE_CHANGED.format(id=trial.pk, why=why))
    return tasks.job_enqueue(
        project=project,
        kind=Job.Kind.MIGRATION_APPLY,
        user=user,
        request={"migration_id": trial.pk},
    )


def migration_discard(*, trial: MigrationTrial, user: User) -> MigrationTrial:
    """Drop a prepared (or failed) migration's copy; the live database is not touched."""
    project = trial.project
    permissions.require(user, project, "version_create")
    preparing = (
        trial.state == MigrationTrial.State.PREPARING
        and project.jobs.filter(kind=Job.Kind.MIGRATION_PREPARE, state__in=Job.UNFINISHED).exists()
    )
    if trial.state == MigrationTrial.State.APPLIED or preparing:
        raise MigrationRefused(NOT_DISCARDABLE.format(id=trial.pk, state=trial.state))
    if trial.branch_id:
        engine = connections.engine_for(project=project)
        try:
            engine.branch_delete(project.engine_project_id, trial.branch_id)
        except EngineNotFound:
            pass
        except EngineLocked:
            raise MigrationRefused(DISCARD_BUSY.format(id=trial.pk)) from None
    MigrationTrial.objects.filter(pk=trial.pk).update(
        state=MigrationTrial.State.DISCARDED, branch_id=""
    )
    trial.refresh_from_db()
    return trial


def migration_json(trial: MigrationTrial) -> dict[str, object]:
    """A migration as every door answers it."""
    return {
        "id": trial.pk,
        "project": trial.project_id,
        "state": trial.state,
        "sql": trial.sql,
        "prompt": trial.prompt,
        "summary": trial.summary,
        "changes": trial.changes,
        "error": trial.error or None,
        "base_version": trial.base_version.number if trial.base_version else None,
        "version": trial.version.number if trial.version else None,
        "created_at": trial.created_at.isoformat(),
    }
