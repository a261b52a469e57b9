"""Job kind VERSION_DELETE: delete a version's snapshot, keep its row marked deleted."""

from __future__ import annotations

from django.utils import timezone

from checkpoints.engines.errors import EngineNotFound
from checkpoints.jobs.run import JobRun, engine_of, runner
from checkpoints.models import Activity, Job


@runner(Job.Kind.VERSION_DELETE)
def run_version_delete(run: JobRun) -> None:
    """Delete the version's engine snapshot; keep its row, marked deleted (who, when)."""
    version = run.job.target_version
    assert version is not None
    with engine_of(run) as engine:
        with run.step("deleting the snapshot", version.snapshot_id):
            try:
                ops = engine.snapshot_delete(run.project.engine_project_id, version.snapshot_id)
            except EngineNotFound:
                ops = []
        run.wait(engine, ops)
    version.deleted_at = timezone.now()
    version.deleted_by = run.job.created_by
    version.save(update_fields=["deleted_at", "deleted_by"])
    run.record_activity(
        kind=Activity.Kind.DELETE,
        to_version=version,
        detail=f"{version.label} deleted; its snapshot {version.snapshot_id} is gone.",
    )
