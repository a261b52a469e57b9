"""Use case: move a project to another of its team's connections (owners). The work is
the PROJECT_MOVE job (checkpoints/jobs/project_move.py): every version goes across as far
as the destination allows, the live database last; the connection string changes once,
when the project switches; until then the project stays whole where it was."""

from __future__ import annotations

from typing import TYPE_CHECKING

from checkpoints import tasks
from checkpoints.errors import NOT_STARTED, ServiceError
from checkpoints.models import AgentProject, EngineConnection, Job
from checkpoints.rules import permissions
from checkpoints.servers.engine_connections import connection_unusable
from checkpoints.services.neon_accounts import snapshot_limit_of

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MOVE_UNKNOWN = "There is no such connection in team “{team}”."
MOVE_SAME = "The project already lives on “{name}”."
MOVE_UNUSABLE = "Cannot move through “{name}”: {why}"
MOVE_STARTED = (
    "Moving to “{name}”: the versions go across first, the live database last. "
    "The connection string changes once, when the move is done."
)


def move_destinations(*, project: AgentProject) -> list[EngineConnection]:
    """The team's connections the project could move to (every one but its own)."""
    return list(project.team.connections.exclude(pk=project.connection_id or 0))


def project_move(*, project: AgentProject, user: User, connection_id: int | str | None) -> Job:
    """Queue the move of `project` onto `connection_id` (a connection of its team)."""
    permissions.require(user, project, "project_move")
    if not project.engine_project_id:
        raise ServiceError(NOT_STARTED)
    try:
        connection = project.team.connections.get(pk=int(str(connection_id)))
    except (ValueError, TypeError, EngineConnection.DoesNotExist):
        raise ServiceError(MOVE_UNKNOWN.format(team=project.team.name)) from None
    if connection.pk == project.connection_id:
        raise ServiceError(MOVE_SAME.format(name=connection.name))
    for end in (project.connection, connection):  # a Neon account whose key was removed
        why = connection_unusable(end) if end is not None else ""
        if end is not None and why:
            raise ServiceError(MOVE_UNUSABLE.format(name=end.name, why=why))
    request = {"to_connection": connection.pk, "to_name": connection.name}
    if connection.kind == EngineConnection.Kind.NEON:
        request["snapshot_limit"] = snapshot_limit_of(connection)[0]
    return tasks.job_enqueue(
        project=project, kind=Job.Kind.PROJECT_MOVE, user=user, request=request
    )
