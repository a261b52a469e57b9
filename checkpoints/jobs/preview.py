"""Job kinds PREVIEW_OPEN and PREVIEW_DISCARD: a temporary branch of a version with its
own endpoint and connection string, and its removal."""

from __future__ import annotations

import logging
from datetime import datetime

from django.utils import timezone

from checkpoints import tasks
from checkpoints.engines.base import Engine
from checkpoints.engines.errors import EngineNotFound
from checkpoints.jobs.checks import verify_version, wait_connectable
from checkpoints.jobs.run import JobRun, engine_of, runner
from checkpoints.models import Activity, Job, Preview
from checkpoints.rules import version_rules

logger = logging.getLogger(__name__)


def _preview_expiry(run: JobRun) -> datetime:
    """The preview TTL, or the share link's expiry for a share's preview."""
    until = (run.result.get("request") or {}).get("expires_at")
    return datetime.fromisoformat(until) if until else timezone.now() + version_rules.preview_ttl()


@runner(Job.Kind.PREVIEW_OPEN)
def run_preview_open(run: JobRun) -> None:
    project = run.project
    target = run.job.target_version
    assert target is not None
    with engine_of(run) as engine:
        with run.step("restore requested", f"{target.label} into a preview branch"):
            restore = engine.snapshot_restore(
                project.engine_project_id,
                target.snapshot_id,
                # The snapshot's source branch may be gone (a rollback's orphan): restore
                # next to the active branch, without touching it (no finalize).
                target_branch_id=project.active_branch_id,
                finalize_restore=False,
                name=f"preview-{target.label}-{run.job.pk}",
            )
            branch_id = restore.branch.id
            preview = Preview.objects.create(
                project=project,
                version=target,
                branch_id=branch_id,
                expires_at=_preview_expiry(run),
            )
            run.job.preview = preview
            Job.objects.filter(pk=run.job.pk).update(preview=preview)
            run.remember(preview_branch_id=branch_id)
        try:
            run.wait(
                engine,
                restore.operations,
                verify=lambda: engine.branch_get(project.engine_project_id, branch_id) is not None,
            )
            uri = _endpoint_ready(run, engine, preview)
            with run.step("verifying", f"the preview serves {target.label}"):
                verify_version(uri, target)
        except Exception:
            preview_drop(engine, preview)
            raise
    tasks.preview_expire.using(run_after=preview.expires_at).enqueue(preview.pk)
    run.record_activity(
        kind=Activity.Kind.PREVIEW,
        to_version=target,
        detail=f"Preview branch {branch_id} until {preview.expires_at:%Y-%m-%d %H:%M} UTC.",
    )


def _endpoint_ready(run: JobRun, engine: Engine, preview: Preview) -> str:
    """The preview branch's endpoint, made unless one exists, and its connection string
    once it accepts connections."""
    pid, branch_id = run.project.engine_project_id, preview.branch_id
    with run.step("creating the endpoint"):
        existing = [e for e in engine.endpoint_list(pid) if e.branch_id == branch_id]
        if existing:
            endpoint_id, ops = existing[0].id, []
        else:
            created = engine.endpoint_create(pid, branch_id)
            endpoint_id, ops = created.endpoint.id, created.operations
        preview.endpoint_id = endpoint_id
        preview.save(update_fields=["endpoint_id"])
    run.wait(
        engine, ops, verify=lambda: any(e.id == endpoint_id for e in engine.endpoint_list(pid))
    )
    with run.step("waiting for the endpoint"):
        uri = engine.connection_uri(pid, branch_id=branch_id)
        preview.connection_uri = uri
        preview.save(update_fields=["connection_uri"])
        wait_connectable(uri)
    return uri


def preview_drop(engine: Engine, preview: Preview) -> None:
    """Best effort after a failed preview: delete its branch, mark it discarded."""
    try:
        engine.branch_delete(preview.project.engine_project_id, preview.branch_id)
    except Exception:
        logger.exception("could not delete preview branch %s", preview.branch_id)
    preview.discarded_at = timezone.now()
    preview.save(update_fields=["discarded_at"])


@runner(Job.Kind.PREVIEW_DISCARD)
def run_preview_discard(run: JobRun) -> None:
    preview = run.job.preview
    assert preview is not None
    expired = run.job.created_by is None
    with engine_of(run) as engine:
        with run.step("deleting the preview branch", preview.branch_id):
            try:
                ops = engine.branch_delete(run.project.engine_project_id, preview.branch_id)
            except EngineNotFound:
                ops = []
        run.wait(engine, ops)
    preview.discarded_at = timezone.now()
    preview.save(update_fields=["discarded_at"])
    run.record_activity(
        kind=Activity.Kind.EXPIRE if expired else Activity.Kind.DISCARD,
        to_version=preview.version,
        detail=f"Preview branch {preview.branch_id} deleted" + (" (expired)." if expired else "."),
    )
