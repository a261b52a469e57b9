"""The queue: the task functions the worker runs, and how work is put on it.

The paths of these tasks are stored in queued rows (`checkpoints.tasks.job_run`,
`checkpoints.tasks.preview_expire`, `checkpoints.tasks.cleanup_periodic`): do not move
them. The queue sits below the jobs it runs: each job kind's runner is in
`checkpoints.jobs.<kind>`, registered by `@runner(Job.Kind.…)`; what a task runs is
registered here by `@handles(...)` when `checkpoints.jobs` loads (`CheckpointsConfig.ready`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, close_old_connections, transaction
from django.db.models import Q
from django.tasks import default_task_backend, task
from django.utils import timezone

from checkpoints.errors import PREVIEW_GONE, PROJECT_BUSY, ProjectBusy, ServiceError
from checkpoints.lifecycle.policy import cleanup_interval
from checkpoints.models import AgentProject, Job, Preview, ShareLink, Version
from checkpoints.queue.housekeeping import housekeeping_yield
from checkpoints.queue.job_reaper import jobs_fail_stale
from checkpoints.rules import selectors

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

PREVIEW_RETRY_WHEN_BUSY = timedelta(seconds=30)
#: task_path of the periodic cleanup, to find whether it is already scheduled.
PERIODIC_TASK_PATH = "checkpoints.tasks.cleanup_periodic"
#: Where the periodic cleanup lived before; the worker renames rows queued under it.
LEGACY_TASK_PATHS = {"checkpoints.lifecycle.cleanup_periodic": PERIODIC_TASK_PATH}

_handlers: dict[str, Callable[..., Any]] = {}


def handles(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register what the task `name` runs (`job_run`, `cleanup_periodic`)."""

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        _handlers[name] = function
        return function

    return register


def _handler(name: str) -> Callable[..., Any]:
    try:
        return _handlers[name]
    except KeyError:
        raise ImproperlyConfigured(
            f"Nothing handles the task {name}: checkpoints.jobs is loaded by the app's ready()."
        ) from None


# The tasks ---------------------------------------------------------------------------------


@task()
def job_run(job_id: int) -> None:
    """Run one job (enqueued on commit by `job_enqueue`): `jobs.run.job_execute`."""
    close_old_connections()
    _handler("job_run")(job_id)


@task()
def preview_expire(preview_id: int) -> None:
    """Discard a preview when its time is up (enqueued to run at `expires_at`)."""
    preview = Preview.objects.select_related("project").filter(pk=preview_id).first()
    if preview is None or preview.discarded_at is not None:
        return
    try:
        preview_discard_enqueue(preview=preview, user=None)
    except ProjectBusy:
        preview_expire.using(run_after=timezone.now() + PREVIEW_RETRY_WHEN_BUSY).enqueue(preview_id)


#: Webhook deliveries have a queue and a worker of their own: an endpoint that hangs or
#: fails never holds a job (`make run` starts one worker for it).
WEBHOOK_QUEUE = "webhooks"


@task(queue_name=WEBHOOK_QUEUE)
def webhook_deliver(delivery_id: int) -> None:
    """One attempt to deliver a signed webhook (`jobs.webhook_delivery.webhook_attempt`)."""
    close_old_connections()
    _handler("webhook_deliver")(delivery_id)


@task()
def cleanup_periodic() -> None:
    """Clean up every project (`jobs.cleanup.projects_cleanup`), keep the team servers'
    history windows (`jobs.history.history_maintain`), then run again later."""
    try:
        _handler("cleanup_periodic")(dry_run=False)
        _handler("history_maintain")()
    finally:
        interval = cleanup_interval()
        if interval is not None:
            cleanup_periodic.using(run_after=timezone.now() + interval).enqueue()


# Putting work on the queue -----------------------------------------------------------------


def _job_send(job_id: int) -> None:
    result = job_run.enqueue(job_id)  # its insert wakes an idle worker (a NOTIFY trigger)
    Job.objects.filter(pk=job_id).update(task_id=str(result.id))


def job_enqueue(
    *,
    project: AgentProject,
    kind: str,
    user: AbstractBaseUser | None,
    target_version: Version | None = None,
    preview: Preview | None = None,
    request: dict | None = None,
) -> Job:
    """Record a job and queue it once the transaction commits; `ProjectBusy` if the project
    already has an unfinished job (the partial unique index on `Job` decides)."""
    jobs_fail_stale(project=project)  # a POST: a dead worker's job must not block the project
    fields = {
        "project": project,
        "kind": kind,
        "created_by": user,
        "target_version": target_version,
        "preview": preview,
        # What the job was asked to do (e.g. a version's prompt and SQL).
        "result": {"request": request} if request else {},
    }
    try:
        job = _job_create(fields)
    except IntegrityError as exc:
        # What a person or agent asks for supersedes housekeeping (a tier move).
        if user is None or not housekeeping_yield(project):
            raise project_busy(project) from exc
        try:
            job = _job_create(fields)
        except IntegrityError as again:
            raise project_busy(project) from again
    transaction.on_commit(partial(_job_send, job.pk))
    return job


def _job_create(fields: dict[str, Any]) -> Job:
    with transaction.atomic():
        return Job.objects.create(**fields)


def project_busy(project: AgentProject) -> ProjectBusy:
    """The refusal for a project whose unfinished job holds it."""
    running = selectors.job_active(project=project)
    label = running.get_kind_display() if running else "another job"
    return ProjectBusy(PROJECT_BUSY.format(job=label), job=running)


def preview_discard_enqueue(*, preview: Preview, user: AbstractBaseUser | None) -> Job:
    """Queue the deletion of the preview's branch (the role check is the caller's)."""
    if preview.discarded_at is not None:
        raise ServiceError(PREVIEW_GONE)
    return job_enqueue(
        project=preview.project,
        kind=Job.Kind.PREVIEW_DISCARD,
        user=user,
        target_version=preview.version,
        preview=preview,
    )


def previews_cleanup_expired() -> int:
    """Enqueue a discard for every expired preview whose project is idle."""
    share_previews_ended()
    count = 0
    recently_failed = Job.objects.filter(
        kind=Job.Kind.PREVIEW_DISCARD,
        state=Job.State.FAILED,
        finished_at__gte=timezone.now() - timedelta(minutes=10),
    ).values("preview_id")
    expired = selectors.previews_expired().exclude(pk__in=recently_failed)
    for preview in expired.select_related("project"):
        try:
            preview_discard_enqueue(preview=preview, user=None)
            count += 1
        except ServiceError:
            continue
    return count


def share_previews_ended() -> int:
    """Expire the previews of share links that ended (revoked or past their expiry), so
    the preview cleanup deletes their branches; return how many."""
    now = timezone.now()
    ended = ShareLink.objects.filter(Q(revoked_at__isnull=False) | Q(expires_at__lte=now))
    return Preview.objects.filter(
        pk__in=ended.values("preview_id"), discarded_at__isnull=True, expires_at__gt=now
    ).update(expires_at=now)


def cleanup_schedule_ensure() -> bool:
    """Enqueue `cleanup_periodic` unless it is already waiting or running. True if enqueued.

    Called by the worker after each job and by `manage.py cleanup --schedule`. Needs a
    backend that can defer (the database backend); with others it does nothing."""
    interval = cleanup_interval()
    if interval is None or not default_task_backend.supports_defer:
        return False
    try:
        from django_tasks_db.models import DBTaskResult
    except ImportError:  # pragma: no cover - another deferring backend
        return False
    paths = [PERIODIC_TASK_PATH, *LEGACY_TASK_PATHS]
    waiting = DBTaskResult.objects.filter(
        task_path__in=paths, status__in=["READY", "RUNNING"]
    ).exists()
    if waiting:
        return False
    cleanup_periodic.using(run_after=timezone.now() + interval).enqueue()
    return True


def legacy_paths_rename() -> int:
    """Point rows queued under a task's old path at its new one, so they still run once
    (the worker calls this as it starts and with each reaping round)."""
    from django_tasks_db.models import DBTaskResult

    renamed = 0
    for old, new in LEGACY_TASK_PATHS.items():
        renamed += DBTaskResult.objects.filter(task_path=old, status="READY").update(task_path=new)
    return renamed
