"""Use cases on a project: start it (the demo or an empty one), delete it, start over,
rotate its password."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from checkpoints import connections, tasks
from checkpoints.activity import activity_record
from checkpoints.engines.base import mask_password
from checkpoints.engines.errors import EngineError, EngineNotFound
from checkpoints.errors import NAME_REQUIRED, NOT_STARTED, ServiceError
from checkpoints.models import Activity, AgentProject, Job, Team
from checkpoints.queue.housekeeping import housekeeping_yield
from checkpoints.rules import permissions, selectors
from checkpoints.servers.engine_connections import connection_engine_name
from checkpoints.services.team_connections import connection_for_new_project
from checkpoints.signals import team_personal_for

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def project_start_demo(
    *, user: User, team: Team | None = None, connection_id: int | str | None = None
) -> Job:
    """Create an agent project for the demo; its job makes the engine project and v0."""
    team = team or team_personal_for(user=user)
    permissions.require(user, team, "project_create")
    number = AgentProject.objects.filter(team=team).count() + 1
    project = _project_new(
        team=team,
        user=user,
        name=f"Contact book {number}" if number > 1 else "Contact book",
        connection_id=connection_id,
    )
    return tasks.job_enqueue(project=project, kind=Job.Kind.START_DEMO, user=user)


@transaction.atomic
def project_create(
    *, user: User, name: str, team: Team | None = None, connection_id: int | str | None = None
) -> Job:
    """Create an agent project; its job makes the engine project and saves the empty v0.

    It lives on `connection_id` (one of the team's connections), else on the team's
    default (services/connections.py: per the installation's mode)."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ServiceError(NAME_REQUIRED)
    team = team or team_personal_for(user=user)
    permissions.require(user, team, "project_create")
    project = _project_new(team=team, user=user, name=name, connection_id=connection_id)
    return tasks.job_enqueue(project=project, kind=Job.Kind.CREATE_PROJECT, user=user)


def _project_new(
    *, team: Team, user: User, name: str, connection_id: int | str | None
) -> AgentProject:
    connection = connection_for_new_project(team=team, connection_id=connection_id)
    return AgentProject.objects.create(
        team=team,
        created_by=user,
        name=name,
        connection=connection,
        engine_name=connection_engine_name(connection),
    )


def project_delete(*, project: AgentProject, user: User) -> None:
    """Delete the engine project (every branch and snapshot) and the project's records.

    Only a team owner may; refused while a job runs on the project."""
    permissions.require(user, project, "project_delete")
    if selectors.job_active(project=project) is not None and not housekeeping_yield(project):
        raise tasks.project_busy(project)
    if project.engine_project_id:
        try:
            connections.engine_for(project=project).project_delete(project.engine_project_id)
        except EngineNotFound:
            pass
    project.delete()


def project_start_over(*, project: AgentProject, user: User) -> Job:
    """Delete the engine project and every version, then begin again at v0."""
    permissions.require(user, project, "start_over")
    return tasks.job_enqueue(project=project, kind=Job.Kind.START_OVER, user=user)


def project_password_rotate(
    *, project: AgentProject, user: User | None, actor: User | None = None, because: str = ""
) -> None:
    """A new password for the project's role (owners; `user=None`: the command line or a
    team change, then `actor` is recorded): the old one stops working at once, open
    sessions end; the connection string changes in its password only. Recorded in the
    Activity log (never the password), with `because` (why) if given."""
    if user is not None:
        permissions.require(user, project, "password_rotate")
    if not project.engine_project_id:
        raise ServiceError(NOT_STARTED)
    started = timezone.now()
    engine = connections.engine_for(project=project)
    try:
        engine.role_password_reset(project.engine_project_id)
    except EngineError as error:
        raise ServiceError(f"The password was not rotated: {mask_password(str(error))}") from error
    connections.connections_refresh(project=project, engine=engine)  # pages show the stored one
    activity_record(
        project=project,
        actor=user or actor,
        kind=Activity.Kind.ROTATE,
        duration_ms=int((timezone.now() - started).total_seconds() * 1000),
        detail=f"{because}New password for the connection string; the old one stopped "
        "working and its open sessions ended.",
    )
