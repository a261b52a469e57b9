"""MCP calls for versions: list (paged), save, delete, compare, plan and start a rollback,
start a table restore, undo one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from checkpoints import doorframe, services
from checkpoints.engines.errors import EngineError
from checkpoints.lifecycle.diff import project_live_manifest
from checkpoints.mcp.auth import current_user
from checkpoints.mcp.failures import ToolFailure
from checkpoints.mcp.lookups import project_for, started, version_for
from checkpoints.paging import PageRequest, page_of
from checkpoints.rules import permissions
from checkpoints.serialize import version_json
from checkpoints.services import history, lifecycle
from checkpoints.services.tables import tables_changes, tables_validate
from checkpoints.services.undo import NOTHING_TO_UNDO, NothingToUndo


def versions_list(
    *,
    project_id: int,
    include_deleted: bool = False,
    labels: list[str] | None = None,
    page: PageRequest | None = None,
) -> tuple[dict[str, Any], int | None]:
    """A page of versions as every door pages them, and the number the live database
    serves now (for the tool's sentence)."""
    project = project_for(current_user(), project_id)
    listed = doorframe.versions_listed(project, deleted=include_deleted, labels=labels)
    current, current_id = project.current_version, project.current_version_id
    found = page_of(listed, page or PageRequest(), lambda v: version_json(v, current_id=current_id))
    data = doorframe.page_answer(found)
    return data, current.number if current is not None else None


def version_rename(*, project_id: int, version: int, name: str) -> dict[str, Any]:
    user = current_user()
    project = project_for(user, project_id)
    renamed = services.version_rename(version=version_for(project, version), user=user, name=name)
    return version_json(renamed, current_id=project.current_version_id)


def version_pin_set(*, project_id: int, version: int, pinned: bool) -> dict[str, Any]:
    user = current_user()
    project = project_for(user, project_id)
    use_case = services.version_pin if pinned else services.version_unpin
    changed = use_case(version=version_for(project, version), user=user)
    return version_json(changed, current_id=project.current_version_id)


def version_save(
    *,
    project_id: int,
    prompt: str,
    sql: str | None,
    name: str | None,
    labels: dict[str, str] | None = None,
    timestamp: str | None = None,
    lsn: str | None = None,
) -> int:
    user = current_user()
    project = project_for(user, project_id)
    if timestamp or lsn:
        if sql or labels:
            raise ToolFailure("invalid", "A version as of a past moment takes no sql or labels.")
        try:
            when = datetime.fromisoformat(timestamp) if timestamp else None
        except ValueError:
            raise ToolFailure("invalid", "timestamp: an ISO 8601 date and time.") from None
        return started(
            lambda: history.version_create_as_of(
                project=project, user=user, timestamp=when, lsn=lsn, name=name or "",
                prompt=prompt,
            ),
            project=project,
        ).pk  # fmt: skip
    return started(
        lambda: services.version_create(
            project=project, user=user, prompt=prompt, sql=sql, name=name, labels=labels
        ),
        project=project,
    ).pk


def version_delete(*, project_id: int, version: int) -> int:
    user = current_user()
    project = project_for(user, project_id)
    target = version_for(project, version)
    return started(lambda: services.version_delete(version=target, user=user), project=project).pk


def versions_compare(*, project_id: int, from_version: int, to_version: int) -> dict[str, Any]:
    project = project_for(current_user(), project_id)
    old, new = version_for(project, from_version), version_for(project, to_version)
    return doorframe.diff_answer(old, new)


def rollback_plan(*, project_id: int, version: int) -> dict[str, Any]:
    """What rolling back to `version` would change in the live database now."""
    project = project_for(current_user(), project_id)
    return doorframe.plan_answer(project, version_for(project, version))


def rollback_start(*, project_id: int, version: int) -> tuple[int, dict[str, Any]]:
    """Start the rollback; also return what it drops (read from the live database first)."""
    user = current_user()
    project = project_for(user, project_id)
    target = version_for(project, version)
    permissions.require(user, project, "rollback")
    diff = lifecycle.rollback_diff(project=project, version=target)
    plan = {"summary": diff.summary or diff.unavailable, "changes": diff.changes}
    job = started(
        lambda: services.version_rollback(project=project, version=target, user=user),
        project=project,
    )
    return job.pk, plan


def tables_restore_start(
    *, project_id: int, version: int, tables: list[str], include_dependencies: bool
) -> tuple[int, list[dict[str, str]]]:
    """Start restoring `tables` of `version`; also return what changes per table (the
    live manifest against the version's, read first)."""
    user = current_user()
    project = project_for(user, project_id)
    target = version_for(project, version)
    permissions.require(user, project, "tables_restore")
    chosen = tables_validate(target, tables)
    try:  # the one bounded live read of every plan
        live = project_live_manifest(project)
    except (psycopg.Error, EngineError):
        live = None
    changes = [
        {"table": label, "changes": summary}
        for label, summary in tables_changes(live, target, chosen)
    ]
    job = started(
        lambda: services.version_tables_restore(
            version=target, user=user, tables=chosen, include_dependencies=include_dependencies
        ),
        project=project,
    )
    return job.pk, changes


def undo_start(*, project_id: int) -> tuple[int, dict[str, Any]]:
    """Start the undo of the last rollback; also return what it changes (read first)."""
    user = current_user()
    project = project_for(user, project_id)
    permissions.require(user, project, "rollback")
    target = services.undo_version(project=project)
    if target is None:
        raise NothingToUndo(NOTHING_TO_UNDO)
    diff = lifecycle.rollback_diff(project=project, version=target)
    plan = {"summary": diff.summary or diff.unavailable, "changes": diff.changes}
    job = started(lambda: services.rollback_undo(project=project, user=user), project=project)
    return job.pk, plan
