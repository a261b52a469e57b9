"""Job kinds START_DEMO, CREATE_PROJECT and START_OVER: an engine project and its v0."""

from __future__ import annotations

from collections.abc import Callable

from django.utils import timezone

from checkpoints import connections
from checkpoints.engines.base import Engine
from checkpoints.engines.errors import EngineNotFound, EngineRefused
from checkpoints.jobs.history import history_open
from checkpoints.jobs.run import JobRun, engine_of, runner
from checkpoints.jobs.snapshot import refused, snapshot_and_record
from checkpoints.models import Activity, Job, Version
from checkpoints.rules import snapshot_room


def project_start(
    run: JobRun,
    engine: Engine,
    *,
    fill: Callable[[], None] | None = None,
    name: str | None = None,
    prompt: str | None = None,
) -> Version:
    """The engine project, its connection string, then (after `fill` put data in) v0."""
    project = run.project
    with run.step("creating the engine project"):
        created = engine.project_create(name=f"checkpoints-{project.pk}-{project.name}")
        project.engine_project_id = created.project.id
        project.active_branch_id = created.branch.id
        project.endpoint_id = created.endpoint.id
        project.save(update_fields=["engine_project_id", "active_branch_id", "endpoint_id"])
        run.remember(engine_project_id=created.project.id)
    run.wait(
        engine,
        created.operations,
        verify=lambda: engine.branch_get(created.project.id, created.branch.id) is not None,
    )
    with run.step("storing the connection string"):
        connections.connections_refresh(project=project, engine=engine)
    if fill is not None:
        fill()
    try:
        return snapshot_and_record(run, engine, number=0, name=name, prompt=prompt)
    except EngineRefused as exc:
        raise refused(run, engine, exc, snapshot_room.NOTHING_APPLIED) from exc


@runner(Job.Kind.START_DEMO, Job.Kind.CREATE_PROJECT)
def run_start_demo(run: JobRun) -> None:
    """Also runs `Job.Kind.CREATE_PROJECT`: an engine project and the empty v0."""
    with engine_of(run) as engine:
        version = project_start(run, engine)
    run.record_activity(
        kind=Activity.Kind.START,
        to_version=version,
        detail=f"Engine project {run.project.engine_project_id} created; v0 saved.",
    )
    history_open(run.project)


@runner(Job.Kind.START_OVER)
def run_start_over(run: JobRun) -> None:
    project = run.project
    now = timezone.now()
    with engine_of(run) as engine:
        old_engine_project = project.engine_project_id
        with run.step("deleting the engine project", old_engine_project):
            if old_engine_project:
                try:
                    engine.project_delete(old_engine_project)
                except EngineNotFound:
                    pass
            project.versions.filter(deleted_at__isnull=True).update(
                deleted_at=now, deleted_by=run.job.created_by
            )
            project.previews.filter(discarded_at__isnull=True).update(discarded_at=now)
            project.engine_project_id = project.active_branch_id = project.endpoint_id = ""
            project.current_version = None
            project.save(
                update_fields=[
                    "engine_project_id",
                    "active_branch_id",
                    "endpoint_id",
                    "current_version",
                ]
            )
        version = project_start(run, engine)
    run.record_activity(
        kind=Activity.Kind.START_OVER,
        to_version=version,
        detail=f"Deleted engine project {old_engine_project or '(none)'} and its versions; "
        f"started again as {project.engine_project_id}.",
    )
