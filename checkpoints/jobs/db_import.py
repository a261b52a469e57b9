"""Job kind IMPORT_DATABASE: a new project whose v0 is an existing PostgreSQL database.

The service dumped the source already (a source that cannot be read made nothing). This
job makes the engine project, loads the dump as the project's own role, and saves v0. A
dump that does not load deletes the engine project again: nothing half-made stays."""

from __future__ import annotations

from pathlib import Path

from checkpoints.engines import dump
from checkpoints.engines.errors import EngineError, EngineNotFound
from checkpoints.jobs.failures import JobFailed
from checkpoints.jobs.history import history_open
from checkpoints.jobs.project import project_start
from checkpoints.jobs.run import JobRun, engine_of, runner
from checkpoints.models import Activity, Job

IMPORTED_NAME = "Imported"
IMPORTED_PROMPT = "The database imported from {where}."


@runner(Job.Kind.IMPORT_DATABASE)
def run_import(run: JobRun) -> None:
    request = run.result.get("request") or {}
    path, where = Path(request.get("dump", "")), request.get("source", "")
    project = run.project
    try:
        with engine_of(run) as engine:

            def fill() -> None:
                with run.step("loading the database", where):
                    try:
                        dump.restore(path, project.connection_uri)
                    except EngineError as error:
                        _undo(engine, project)
                        raise JobFailed(error.message, code="import_failed") from None

            version = project_start(
                run,
                engine,
                fill=fill,
                name=IMPORTED_NAME,
                prompt=IMPORTED_PROMPT.format(where=where),
            )
    finally:
        path.unlink(missing_ok=True)
    run.record_activity(
        kind=Activity.Kind.START,
        to_version=version,
        detail=f"Imported {where} into engine project {project.engine_project_id}; v0 saved.",
    )
    history_open(project)


def _undo(engine, project) -> None:
    """Delete the engine project this job made (the dump did not load)."""
    try:
        engine.project_delete(project.engine_project_id)
    except EngineNotFound:
        pass
    project.engine_project_id = project.active_branch_id = project.endpoint_id = ""
    project.connection_uri = ""
    project.save(
        update_fields=["engine_project_id", "active_branch_id", "endpoint_id", "connection_uri"]
    )
