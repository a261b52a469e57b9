"""The active branch as the engine reports it: which branch the endpoint serves,
adopting a finished swap, deleting a replaced branch."""

from __future__ import annotations

from checkpoints.engines.base import Engine
from checkpoints.engines.errors import EngineNotFound
from checkpoints.jobs.kept_record import kept_adopt
from checkpoints.jobs.run import JobRun
from checkpoints.models import AgentProject, Job, Version

ENDPOINT_NOT_MOVED = "The endpoint still serves the previous branch: the rollback did not happen."


def endpoint_branch_id(engine: Engine, project: AgentProject) -> str | None:
    """Which branch the project's endpoint serves now, as the engine reports it."""
    endpoints = engine.endpoint_list(project.engine_project_id)
    for endpoint in endpoints:
        if endpoint.id == project.endpoint_id:
            return endpoint.branch_id
    return None


def reconcile_active_branch(run: JobRun, engine: Engine) -> None:
    """If a dead worker left a finished swap unrecorded, adopt what the engine reports."""
    project = run.project
    serving = endpoint_branch_id(engine, project)
    if serving is None or serving == project.active_branch_id:
        return
    with run.step("reconciling the active branch", f"endpoint serves {serving}"):
        earlier = (
            Job.objects.filter(
                project=project, kind=Job.Kind.ROLLBACK, result__new_branch_id=serving
            )
            .select_related("target_version")
            .first()
        )
        before = project.current_version
        project.active_branch_id = serving
        if earlier is not None and earlier.target_version is not None:
            project.current_version = earlier.target_version
        project.save(update_fields=["active_branch_id", "current_version"])
        if earlier is not None and (kept := kept_adopt(run, engine, earlier)) is not None:
            kept.parent = before
            kept.save(update_fields=["parent"])
            run.detail(f"the live state the dead rollback kept is recorded as {kept.label}")


def adopt_branch(project: AgentProject, branch_id: str, version: Version) -> None:
    project.active_branch_id = branch_id
    project.current_version = version
    project.save(update_fields=["active_branch_id", "current_version"])


def orphan_delete(run: JobRun, engine: Engine, orphan: str) -> None:
    with run.step("cleaning up the old branch", orphan):
        try:
            delete_ops = engine.branch_delete(run.project.engine_project_id, orphan)
        except EngineNotFound:
            delete_ops = []
    run.wait(engine, delete_ops)
