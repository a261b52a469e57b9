"""Job kind ADOPT_PROJECT: an existing Neon project taken under versioning.

Records every branch and snapshot the project holds (Checkpoints never deletes them:
engines/keep_foreign.py), finds the root branch's read-write compute, stores the
connection string, and saves v0 of the live branch as it is."""

from __future__ import annotations

from django.utils import timezone

from checkpoints import connections
from checkpoints.engines.errors import EngineRefused
from checkpoints.jobs.failures import JobFailed
from checkpoints.jobs.run import JobRun, engine_of, runner
from checkpoints.jobs.snapshot import refused, snapshot_and_record
from checkpoints.models import Activity, AgentProject, Job
from checkpoints.rules import snapshot_room

NO_COMPUTE = "The branch has no read-write compute: add one in Neon's console, then adopt again."
ADOPTED_NAME = "As adopted"
ADOPTED_PROMPT = "The Neon project as it was when Checkpoints adopted it."


@runner(Job.Kind.ADOPT_PROJECT)
def run_adopt(run: JobRun) -> None:
    project = run.project
    with engine_of(run) as engine:
        pid, branch_id = project.engine_project_id, project.active_branch_id
        with run.step("reading the Neon project", pid):
            branches = engine.branch_list(pid)
            snapshots = engine.snapshot_list(pid)
            project.adopted = {
                "at": timezone.now().isoformat(),
                "branches": sorted({b.id for b in branches} | {branch_id}),
                "snapshots": [
                    {"id": s.id, "name": s.name, "created_at": s.created_at.isoformat()}
                    for s in sorted(snapshots, key=lambda s: s.created_at)
                ],
            }
            AgentProject.objects.filter(pk=project.pk).update(adopted=project.adopted)
            run.detail(f"{len(branches)} branches, {len(snapshots)} snapshots kept as they are")
        with run.step("finding the branch's compute"):
            endpoint = next(
                (
                    e
                    for e in engine.endpoint_list(pid)
                    if e.branch_id == branch_id and e.type == "read_write"
                ),
                None,
            )
            if endpoint is None:
                raise JobFailed(NO_COMPUTE)
            project.endpoint_id = endpoint.id
            project.save(update_fields=["endpoint_id"])
        with run.step("storing the connection string"):
            connections.connections_refresh(project=project, engine=engine)
        try:
            version = snapshot_and_record(
                run, engine, number=0, name=ADOPTED_NAME, prompt=ADOPTED_PROMPT
            )
        except EngineRefused as exc:
            raise refused(run, engine, exc, snapshot_room.NOTHING_APPLIED) from exc
    run.record_activity(
        kind=Activity.Kind.START,
        to_version=version,
        detail=f"Adopted Neon project {pid} (live branch {branch_id}); v0 saved. Its "
        f"{len(snapshots)} earlier snapshots can be imported as versions; Checkpoints never "
        "deletes what it did not create.",
    )
