"""Job kind SHARE_OPEN: a share link's preview and the read-only role it is read with."""

from __future__ import annotations

from django.utils import timezone

from checkpoints.jobs.preview import preview_drop, run_preview_open
from checkpoints.jobs.run import JobRun, engine_of, runner
from checkpoints.models import Job, Preview, ShareLink


@runner(Job.Kind.SHARE_OPEN)
def run_share_open(run: JobRun) -> None:
    """A share link's first open: a preview branch that lives as long as the link, and a
    read-only role on it that the shared view connects with."""
    share_id = run.result["request"]["share_id"]
    run_preview_open(run)
    preview = run.job.preview
    assert preview is not None
    with engine_of(run) as engine:
        try:
            with run.step("creating the read-only role", "SELECT only"):
                engine.readonly_role_ensure(run.project.engine_project_id, preview.branch_id)
        except Exception:
            preview_drop(engine, preview)
            raise
    ShareLink.objects.filter(pk=share_id).update(preview=preview)
    if not ShareLink.objects.get(pk=share_id).is_live:  # revoked meanwhile: cleanup drops it
        Preview.objects.filter(pk=preview.pk).update(expires_at=timezone.now())
