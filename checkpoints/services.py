"""Use cases. Views call these; these record metadata and enqueue the long work as jobs.

Every action that talks to an engine runs in the background (`checkpoints.tasks`) as a
`Job`. The partial unique index on `Job` allows one unfinished job per project, which is
what makes a second click, a second tab or a second user answer "busy" (`ProjectBusy`).
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from checkpoints import jobs_live, permissions, version_sql
from checkpoints.demo import LAST_STEP, demo_step
from checkpoints.job_state import job_transition
from checkpoints.models import Activity, AgentProject, Job, Membership, Preview, Team, Version

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from checkpoints.engines.base import Engine

PROJECT_BUSY = (
    "This project is busy: “{job}” is still running. Wait for it to finish, then try again."
)
NO_NEXT_VERSION = "v{last} is the last step of the demo script: there is no next version."
PREVIEW_GONE = "This preview has already been discarded or has expired."
VERSION_DELETED = "This version was deleted."
VERSION_EXPIRED = "This version has expired: its snapshot is gone."
NAME_REQUIRED = "Give a name (1 to 200 characters)."
PROMPT_REQUIRED = "Give the prompt that made this version (1 to 10000 characters)."
NOT_STARTED = "The demo has not been started yet."
NAME_TAKEN = "Another version of this project is already called “{name}”: choose another name."
SNAPSHOT_LIMIT = (
    "{engine}'s snapshot limit for this project is reached ({used} of {limit} snapshots): "
    "delete a version or set a restore window."
)
JOB_STALE = (
    "The worker running this job stopped responding (it was probably restarted). "
    "Nothing more will run for this job; the project shows what the engine holds."
)
JOB_NEVER_STARTED = "This job was never picked up by a worker."
JOB_CANCELLED = "Cancelled by {who} before it started: nothing was applied."
JOB_NOT_RUNNING = "This job has already ended ({state}): there is nothing to cancel."
#: A running job whose heartbeat is older than this is considered dead.
STALE_AFTER = timedelta(seconds=60)
#: A queued job no worker took within this long is considered lost.
QUEUED_TIMEOUT = timedelta(minutes=10)


class ServiceError(Exception):
    """A use case refused: the message is safe to show to the user."""

    status = 400
    #: A stable code for the API (None: looked up by message, else "invalid").
    code: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NameTaken(ServiceError):
    """Another version of the project has that name (snapshot names are unique on Neon)."""

    status = 409
    code = "name_taken"


class SnapshotLimitReached(ServiceError):
    """The engine's snapshot limit is reached and no expired version can make room."""

    status = 409
    code = "snapshot_limit"


class ProjectBusy(ServiceError):
    status = 409

    def __init__(self, message: str, *, job: Job | None = None) -> None:
        super().__init__(message)
        self.job = job


class JobNotRunning(ServiceError):
    """The job to cancel has already ended."""

    status = 409


class NotAllowed(ServiceError, PermissionDenied):
    """The user's role does not allow the action (403). Also a PermissionDenied, so a view
    that does not catch it still answers 403 (through `handler403`)."""

    status = 403


# Teams ---------------------------------------------------------------------------------


@transaction.atomic
def team_personal_for(*, user: AbstractBaseUser) -> Team:
    """The user's personal team, created (with the user as owner) on first use."""
    team, _ = Team.objects.get_or_create(
        personal_for=user, defaults={"name": f"{user.get_username()}’s team"}
    )
    Membership.objects.get_or_create(team=team, user=user, defaults={"role": Membership.Role.OWNER})
    return team


def _require(*, project: AgentProject, user: AbstractBaseUser, action: str) -> None:
    """The role rules live in `checkpoints.permissions.ACTIONS`."""
    permissions.require(user, project, action)


# Engines and connection strings ---------------------------------------------------------


def engine_for(*, project: AgentProject) -> Engine:
    """The engine serving `project`, shared per process: do not close it.

    Tests replace this function to inject a failing engine."""
    from checkpoints.engines import get_engine

    return get_engine(project.engine_name or None)


def engine_default_name() -> str:
    return getattr(settings, "CHECKPOINTS_ENGINE", "local")


def project_connection_uri(*, project: AgentProject) -> str:
    """The stable connection string of the active branch. Contains a password: never render.

    Read from the metadata database (no engine call): the jobs that create or change it
    store it. Only a project saved before connection strings were stored asks the engine,
    once (`connections_refresh`)."""
    if not project.engine_project_id:
        raise ServiceError(NOT_STARTED)
    if not project.connection_uri:
        connections_refresh(project=project)
    return project.connection_uri


def project_password_rotate(*, project: AgentProject, user: AbstractBaseUser | None) -> None:
    """A new password for the project's role (owners; `user=None`: the command line): the
    old one stops working at once, open sessions end; the connection string changes in its
    password only. Recorded in the Activity log (never the password)."""
    if user is not None:
        _require(project=project, user=user, action="password_rotate")
    if not project.engine_project_id:
        raise ServiceError(NOT_STARTED)
    from checkpoints.engines.errors import EngineError

    started = timezone.now()
    engine = engine_for(project=project)
    try:
        engine.role_password_reset(project.engine_project_id)
    except EngineError as error:
        from checkpoints.engines.base import mask_password

        raise ServiceError(f"The password was not rotated: {mask_password(str(error))}") from error
    connections_refresh(project=project, engine=engine)  # pages show the stored string
    activity_record(
        project=project,
        actor=user,
        kind=Activity.Kind.ROTATE,
        duration_ms=int((timezone.now() - started).total_seconds() * 1000),
        detail="New password for the connection string; the old one stopped working and "
        "its open sessions ended.",
    )


def preview_connection_uri(*, preview: Preview) -> str:
    """The preview branch's own connection string. Contains a password: never render.

    Stored when the preview opened (no engine call), like the project's."""
    if not preview.is_live:
        raise ServiceError(PREVIEW_GONE)
    if not preview.connection_uri:
        connections_refresh(project=preview.project)
        preview.refresh_from_db(fields=["connection_uri"])
    return preview.connection_uri


def connections_refresh(*, project: AgentProject, engine: Engine | None = None) -> str:
    """Read the connection strings of the active branch and of every live preview from the
    engine and store them; return the active branch's.

    The one place that refreshes stored connection strings: call it from any job that
    changes them (a new project, a rollback, a password rotation). It asks the engine, so
    call it from a job, never from a page."""
    if not project.engine_project_id:
        raise ServiceError(NOT_STARTED)
    engine = engine or engine_for(project=project)
    uri = engine.connection_uri(project.engine_project_id)
    if uri != project.connection_uri:
        project.connection_uri = uri
        AgentProject.objects.filter(pk=project.pk).update(connection_uri=uri)
    previews = project.previews.filter(discarded_at__isnull=True, expires_at__gt=timezone.now())
    for preview in previews:
        from checkpoints.engines.errors import EngineError

        try:
            preview_uri = engine.connection_uri(
                project.engine_project_id, branch_id=preview.branch_id
            )
        except EngineError:  # its branch is gone: cleanup discards it
            continue
        if preview_uri != preview.connection_uri:
            Preview.objects.filter(pk=preview.pk).update(connection_uri=preview_uri)
    return uri


# Jobs ------------------------------------------------------------------------------------


def _job_send(job_id: int) -> None:
    from checkpoints.tasks import job_run

    result = job_run.enqueue(job_id)  # its insert wakes an idle worker (a NOTIFY trigger)
    Job.objects.filter(pk=job_id).update(task_id=str(result.id))


def _job_enqueue(
    *,
    project: AgentProject,
    kind: str,
    user: AbstractBaseUser | None,
    target_version: Version | None = None,
    preview: Preview | None = None,
    request: dict | None = None,
) -> Job:
    jobs_fail_stale(project=project)  # a POST: a dead worker's job must not block the project
    try:
        with transaction.atomic():
            job = Job.objects.create(
                project=project,
                kind=kind,
                created_by=user,
                target_version=target_version,
                preview=preview,
                # What the job was asked to do (e.g. a version's prompt and SQL).
                result={"request": request} if request else {},
            )
    except IntegrityError as exc:
        running = project.jobs.filter(state__in=Job.UNFINISHED).first()
        label = running.get_kind_display() if running else "another job"
        raise ProjectBusy(PROJECT_BUSY.format(job=label), job=running) from exc
    transaction.on_commit(partial(_job_send, job.pk))
    return job


def job_active(*, project: AgentProject) -> Job | None:
    return project.jobs.filter(state__in=Job.UNFINISHED).first()


def jobs_fail_stale(*, project: AgentProject | None = None) -> int:
    """Mark jobs left unfinished by a dead worker as failed; return how many.

    Called by the worker (every few seconds) and before a new job is enqueued, never by
    a page or status read. A running job's task beats every few seconds
    (`Job.heartbeat_at`); one that stopped beating is failed only if no live worker holds
    its project's lock (a worker whose heartbeat thread is stuck still holds it). A queued
    job no worker took is failed too. The task never runs again (django_tasks_db does
    not retry), so no work is repeated; the next job reconciles the project's active
    branch with what the engine reports.
    """
    now = timezone.now()
    jobs = Job.objects.filter(state__in=Job.UNFINISHED)
    if project is not None:
        jobs = jobs.filter(project=project)
    count = 0
    for job in jobs:
        beat = job.heartbeat_at or job.started_at
        if job.state == Job.State.RUNNING and beat and now - beat > STALE_AFTER:
            with transaction.atomic():
                if jobs_live.project_lock_free(job.project_id):
                    count += job_transition(
                        job.pk,
                        Job.State.FAILED,
                        only_from=(Job.State.RUNNING,),
                        error=JOB_STALE,
                        finished_at=now,
                    )
        elif job.state == Job.State.QUEUED and now - job.created_at > QUEUED_TIMEOUT:
            count += job_transition(
                job.pk,
                Job.State.FAILED,
                only_from=(Job.State.QUEUED,),
                error=JOB_NEVER_STARTED,
                finished_at=now,
            )
    return count


def job_cancel(*, job: Job, user: AbstractBaseUser) -> Job:
    """Cancel `job`: at once if it is still queued; if it runs, ask its worker to stop.

    The worker honours the request at the next point where stopping leaves nothing
    half-applied (the version SQL's statement is cancelled and its transaction rolled
    back); past the last such point (e.g. a swap under way) the job finishes normally."""
    _require(project=job.project, user=user, action="job_cancel")
    now = timezone.now()
    who = user.get_username()
    if job.state == Job.State.QUEUED and job_transition(
        job.pk,
        Job.State.CANCELLED,
        only_from=(Job.State.QUEUED,),
        error=JOB_CANCELLED.format(who=who),
        finished_at=now,
        cancel_requested_at=now,
    ):
        return Job.objects.get(pk=job.pk)
    asked = Job.objects.filter(
        pk=job.pk, state=Job.State.RUNNING, cancel_requested_at__isnull=True
    ).update(cancel_requested_at=now)
    job.refresh_from_db()
    if job.state not in Job.UNFINISHED and not asked:
        raise JobNotRunning(JOB_NOT_RUNNING.format(state=job.get_state_display().lower()))
    return job


def project_start_demo(*, user: AbstractBaseUser, team: Team | None = None) -> Job:
    """Create an agent project for the demo; its job makes the engine project and v0."""
    team = team or team_personal_for(user=user)
    permissions.require(user, team, "project_create")
    number = AgentProject.objects.filter(team=team).count() + 1
    project = AgentProject.objects.create(
        team=team,
        created_by=user,
        name=f"Contact book {number}" if number > 1 else "Contact book",
        engine_name=engine_default_name(),
    )
    return _job_enqueue(project=project, kind=Job.Kind.START_DEMO, user=user)


@transaction.atomic
def project_create(*, user: AbstractBaseUser, name: str, team: Team | None = None) -> Job:
    """Create an agent project; its job makes the engine project and saves the empty v0."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ServiceError(NAME_REQUIRED)
    team = team or team_personal_for(user=user)
    permissions.require(user, team, "project_create")
    project = AgentProject.objects.create(
        team=team, created_by=user, name=name, engine_name=engine_default_name()
    )
    return _job_enqueue(project=project, kind=Job.Kind.CREATE_PROJECT, user=user)


def project_delete(*, project: AgentProject, user: AbstractBaseUser) -> None:
    """Delete the engine project (every branch and snapshot) and the project's records.

    Only a team owner may; refused while a job runs on the project."""
    _require(project=project, user=user, action="project_delete")
    running = job_active(project=project)
    if running is not None:
        raise ProjectBusy(PROJECT_BUSY.format(job=running.get_kind_display()), job=running)
    if project.engine_project_id:
        from checkpoints.engines.errors import EngineNotFound

        try:
            engine_for(project=project).project_delete(project.engine_project_id)
        except EngineNotFound:
            pass
    project.delete()


def version_create(
    *,
    project: AgentProject,
    user: AbstractBaseUser,
    prompt: str,
    sql: str | None = None,
    name: str | None = None,
) -> Job:
    """Apply `sql` (if any) to the active branch in one transaction, snapshot, record.

    If a statement fails nothing is applied and no version is created; the job's error
    names the statement (number and text)."""
    _require(project=project, user=user, action="version_create")
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
    snapshot_room_check(project=project)
    request = {"prompt": prompt, "sql": sql or "", "name": (name or "").strip()}
    return _job_enqueue(project=project, kind=Job.Kind.CREATE_VERSION, user=user, request=request)


def snapshot_room_check(*, project: AgentProject) -> None:
    """Refuse a new version at once (`SnapshotLimitReached`, 409 `snapshot_limit`) when the
    last job saw the engine's snapshot limit reached and no expired version can make room.

    Reads the metadata only; the job checks the engine again before applying anything."""
    capacity = (project.engine_listing or {}).get("capacity") or {}
    limit, used = capacity.get("limit"), capacity.get("used", 0)
    if not limit or used < limit:
        return
    expired = project.versions.filter(deleted_at__isnull=True, expires_at__lte=timezone.now())
    if expired.exclude(pk=project.current_version_id or 0).exists():
        return  # the job deletes their snapshots first
    name = capacity.get("engine") or project.engine_name
    engine = "Neon" if name == "neon" else f"The {name} engine"
    raise SnapshotLimitReached(SNAPSHOT_LIMIT.format(engine=engine, used=used, limit=limit))


def sql_split(sql: str) -> list[str]:
    """The statements of `sql` (see `version_sql.statements`: raises `SqlRefused`)."""
    return version_sql.statements(sql)


def version_default_name(*, prompt: str, number: int) -> str:
    first_line = prompt.strip().splitlines()[0] if prompt.strip() else ""
    return first_line[:80] or f"Version {number}"


def version_number_after(*, project: AgentProject) -> int:
    """The number a new version gets: one more than any since the project (re)started."""
    first_live = project.versions.filter(deleted_at__isnull=True).order_by("pk").first()
    if first_live is None:
        return 0
    since = project.versions.filter(pk__gte=first_live.pk)
    return max(since.values_list("number", flat=True)) + 1


def version_rename(*, version: Version, user: AbstractBaseUser, name: str) -> Version:
    """Rename a version and its engine snapshot."""
    _require(project=version.project, user=user, action="version_rename")
    _require_live(version)
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ServiceError(NAME_REQUIRED)
    project = version.project
    running = job_active(project=project)
    if running is not None:  # the job may be replacing or deleting this very snapshot
        raise ProjectBusy(PROJECT_BUSY.format(job=running.get_kind_display()), job=running)
    others = project.versions.filter(deleted_at__isnull=True, name=name).exclude(pk=version.pk)
    if others.exists():
        raise NameTaken(NAME_TAKEN.format(name=name))
    from checkpoints.engines.errors import EngineInvalidRequest

    try:
        engine_for(project=project).snapshot_rename(
            project.engine_project_id, version.snapshot_id, name
        )
    except EngineInvalidRequest as exc:
        if exc.status == 409 or "already exists" in exc.message:  # a snapshot no version names
            raise NameTaken(NAME_TAKEN.format(name=name)) from exc
        raise
    version.name = name
    version.save(update_fields=["name"])
    return version


def version_delete(*, version: Version, user: AbstractBaseUser) -> Job:
    """Delete the version's engine snapshot; its row stays, marked deleted (who, when)."""
    _require(project=version.project, user=user, action="version_delete")
    if version.deleted_at is not None:
        raise ServiceError(VERSION_DELETED)
    return _job_enqueue(
        project=version.project, kind=Job.Kind.VERSION_DELETE, user=user, target_version=version
    )


def _require_live(version: Version) -> None:
    if version.deleted_at is not None:
        raise ServiceError(VERSION_DELETED)
    if version.expires_at is not None and version.expires_at <= timezone.now():
        raise ServiceError(VERSION_EXPIRED)


def version_next_number(*, project: AgentProject) -> int | None:
    """The number the next version of the demo would get, or None at the end."""
    last = project.versions.filter(deleted_at__isnull=True).order_by("-number").first()
    number = 0 if last is None else last.number + 1
    return number if demo_step(number) is not None else None


def version_create_next(*, project: AgentProject, user: AbstractBaseUser) -> Job:
    """Apply the next demo step to the active branch, snapshot it, record the version."""
    _require(project=project, user=user, action="version_create")
    if not project.engine_project_id:
        raise ServiceError(NOT_STARTED)
    if version_next_number(project=project) is None:
        raise ServiceError(NO_NEXT_VERSION.format(last=LAST_STEP))
    snapshot_room_check(project=project)
    return _job_enqueue(project=project, kind=Job.Kind.CREATE_VERSION, user=user)


def version_rollback(*, project: AgentProject, version: Version, user: AbstractBaseUser) -> Job:
    """Restore `version` into the active branch; the connection string stays the same."""
    _require(project=project, user=user, action="rollback")
    _require_live(version)
    return _job_enqueue(project=project, kind=Job.Kind.ROLLBACK, user=user, target_version=version)


def preview_open(*, project: AgentProject, version: Version, user: AbstractBaseUser) -> Job:
    """Restore `version` to a temporary branch with its own connection string."""
    _require(project=project, user=user, action="preview_open")
    _require_live(version)
    return _job_enqueue(
        project=project, kind=Job.Kind.PREVIEW_OPEN, user=user, target_version=version
    )


def preview_discard(*, preview: Preview, user: AbstractBaseUser | None) -> Job:
    """Delete the preview's branch."""
    if user is not None:
        _require(project=preview.project, user=user, action="preview_discard")
    if preview.discarded_at is not None:
        raise ServiceError(PREVIEW_GONE)
    return _job_enqueue(
        project=preview.project,
        kind=Job.Kind.PREVIEW_DISCARD,
        user=user,
        target_version=preview.version,
        preview=preview,
    )


def project_start_over(*, project: AgentProject, user: AbstractBaseUser) -> Job:
    """Delete the engine project and every version, then begin again at v0."""
    _require(project=project, user=user, action="start_over")
    return _job_enqueue(project=project, kind=Job.Kind.START_OVER, user=user)


def previews_expired(*, project: AgentProject | None = None):
    """Previews past their expiry whose branch still exists."""
    previews = Preview.objects.filter(discarded_at__isnull=True, expires_at__lte=timezone.now())
    if project is not None:
        previews = previews.filter(project=project)
    return previews


def preview_ttl() -> timedelta:
    return timedelta(minutes=getattr(settings, "CHECKPOINTS_PREVIEW_TTL_MINUTES", 60))


def activity_record(
    *,
    project: AgentProject,
    actor: AbstractBaseUser | None,
    kind: str,
    from_version: Version | None = None,
    to_version: Version | None = None,
    operation_ids: list[str] | None = None,
    duration_ms: int | None = None,
    detail: str = "",
) -> Activity:
    return Activity.objects.create(
        project=project,
        actor=actor,
        kind=kind,
        from_version=from_version,
        to_version=to_version,
        operation_ids=operation_ids or [],
        duration_ms=duration_ms,
        detail=detail,
    )
