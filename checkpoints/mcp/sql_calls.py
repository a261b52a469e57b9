"""MCP calls for SQL reads and migrations: thin adapters over services/sql_tools.py and
services/migrations.py."""

from __future__ import annotations

from typing import Any

from checkpoints.mcp.auth import current_user
from checkpoints.mcp.failures import ToolFailure
from checkpoints.mcp.lookups import project_for, started, version_for
from checkpoints.models import AgentProject, MigrationTrial
from checkpoints.refusals import MAX_ID
from checkpoints.services import migrations, sql_tools

MIGRATION_NOT_FOUND = "Project {project} has no migration {id} (see prepare_migration)."


def _migration_for(project: AgentProject, migration_id: int) -> MigrationTrial:
    trial = None
    if 0 <= migration_id <= MAX_ID:
        trial = project.migrations.filter(pk=migration_id).first()
    if trial is None:
        message = MIGRATION_NOT_FOUND.format(project=project.pk, id=migration_id)
        raise ToolFailure("not_found", message)
    return trial


def sql_run(*, project_id: int, sql: str, version: int | None) -> dict[str, Any]:
    user = current_user()
    project = project_for(user, project_id)
    target = version_for(project, version) if version is not None else None
    return sql_tools.sql_run(project=project, user=user, sql=sql, version=target)


def schema_describe(*, project_id: int, version: int | None) -> dict[str, Any]:
    user = current_user()
    project = project_for(user, project_id)
    target = version_for(project, version) if version is not None else None
    return sql_tools.schema_describe(project=project, user=user, version=target)


def migration_prepare(*, project_id: int, sql: str, prompt: str) -> tuple[int, int]:
    """Start trying the migration; return (job id, migration id)."""
    user = current_user()
    project = project_for(user, project_id)
    made: list[MigrationTrial] = []

    def start():
        trial, job = migrations.migration_prepare(
            project=project, user=user, sql=sql, prompt=prompt
        )
        made.append(trial)
        return job

    job = started(start)
    return job.pk, made[0].pk


def migration_answer(*, project_id: int, migration_id: int) -> dict[str, Any]:
    project = project_for(current_user(), project_id)
    return migrations.migration_json(_migration_for(project, migration_id))


def migration_apply(*, project_id: int, migration_id: int) -> int:
    user = current_user()
    trial = _migration_for(project_for(user, project_id), migration_id)
    return started(lambda: migrations.migration_apply(trial=trial, user=user)).pk


def migration_discard(*, project_id: int, migration_id: int) -> dict[str, Any]:
    user = current_user()
    trial = _migration_for(project_for(user, project_id), migration_id)
    return migrations.migration_json(migrations.migration_discard(trial=trial, user=user))
