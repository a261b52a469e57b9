"""Use cases on versions: save one (a prompt's SQL, or the demo's next step), rename it,
delete it, roll back to it. Each that touches the engine enqueues a job (`jobs.<kind>`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from checkpoints import connections, tasks
from checkpoints.demo import LAST_STEP
from checkpoints.engines.errors import EngineInvalidRequest
from checkpoints.errors import (
    NAME_REQUIRED,
    NAME_TAKEN,
    NO_NEXT_VERSION,
    NOT_STARTED,
    PROMPT_REQUIRED,
    VERSION_DELETED,
    NameTaken,
    ServiceError,
)
from checkpoints.models import AgentProject, Job, Version
from checkpoints.queue.housekeeping import housekeeping_yield
from checkpoints.rules import permissions, selectors, version_rules, version_sql
from checkpoints.rules.version_labels import LabelsInvalid, labels_clean

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def version_create(
    *,
    project: AgentProject,
    user: User,
    prompt: str,
    sql: str | None = None,
    name: str | None = None,
    labels: dict[str, str] | None = None,
) -> Job:
    """Apply `sql` (if any) to the active branch in one transaction, snapshot, record
    (with the caller's `labels`, checked by `version_labels`).

    If a statement fails nothing is applied and no version is created; the job's error
    names the statement (number and text)."""
    permissions.require(user, project, "version_create")
    if not project.engine_project_id:
        raise ServiceError(NOT_STARTED)
    prompt = (prompt or "").strip()
    if not prompt or len(prompt) > 10000:
        raise ServiceError(PROMPT_REQUIRED)
    if name is not None and not (0 < len(name.strip()) <= 200):
        raise ServiceError(NAME_REQUIRED)
    try:
        version_sql.statements(sql or "")
    except version_sql.SqlRefused as refused:
        raise ServiceError(refused.message) from None
    try:
        labels = labels_clean(labels)
    except LabelsInvalid as error:
        raise ServiceError(error.message) from None
    version_rules.snapshot_room_check(project=project)
    request = {"prompt": prompt, "sql": sql or "", "name": (name or "").strip(), "labels": labels}
    return tasks.job_enqueue(
        project=project, kind=Job.Kind.CREATE_VERSION, user=user, request=request
    )


def version_create_next(*, project: AgentProject, user: User) -> Job:
    """Apply the next demo step to the active branch, snapshot it, record the version."""
    permissions.require(user, project, "version_create")
    if not project.engine_project_id:
        raise ServiceError(NOT_STARTED)
    if version_rules.version_next_number(project=project) is None:
        raise ServiceError(NO_NEXT_VERSION.format(last=LAST_STEP))
    version_rules.snapshot_room_check(project=project)
    return tasks.job_enqueue(project=project, kind=Job.Kind.CREATE_VERSION, user=user)


def version_rename(*, version: Version, user: User, name: str) -> Version:
    """Rename a version and its engine snapshot."""
    permissions.require(user, version.project, "version_rename")
    version_rules.version_require_live(version)
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ServiceError(NAME_REQUIRED)
    project = version.project
    if selectors.job_active(project=project) is not None and not housekeeping_yield(project):
        raise tasks.project_busy(project)  # the job may be replacing this very snapshot
    others = project.versions.filter(deleted_at__isnull=True, name=name).exclude(pk=version.pk)
    if others.exists():
        raise NameTaken(NAME_TAKEN.format(name=name))
    try:
        connections.engine_for(project=project).snapshot_rename(
            project.engine_project_id, version.snapshot_id, name
        )
    except EngineInvalidRequest as exc:
        said = exc.reply or exc.message  # Neon's words, not the path's ids
        if exc.status == 409 or "already exists" in said:  # a snapshot no version names
            raise NameTaken(NAME_TAKEN.format(name=name)) from exc
        raise
    version.name = name
    version.save(update_fields=["name"])
    return version


def version_delete(*, version: Version, user: User) -> Job:
    """Delete the version's engine snapshot (`jobs.version_delete`); its row stays, marked
    deleted (who, when)."""
    permissions.require(user, version.project, "version_delete")
    if version.deleted_at is not None:
        raise ServiceError(VERSION_DELETED)
    return tasks.job_enqueue(
        project=version.project, kind=Job.Kind.VERSION_DELETE, user=user, target_version=version
    )


def version_rollback(*, project: AgentProject, version: Version, user: User) -> Job:
    """Restore `version` into the active branch; the connection string stays the same.

    The job runs `jobs.rollback.run_rollback`."""
    permissions.require(user, project, "rollback")
    version_rules.version_require_live(version)
    return tasks.job_enqueue(
        project=project, kind=Job.Kind.ROLLBACK, user=user, target_version=version
    )
