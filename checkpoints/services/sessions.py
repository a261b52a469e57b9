"""End a project's database sessions: what an operator does when the agent's session
holds a lock that stops a job ("`contacts` is locked by a session of this project")."""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg
from django.utils import timezone

from checkpoints import connections
from checkpoints.activity import activity_record
from checkpoints.engines.base import mask_password
from checkpoints.engines.errors import EngineError
from checkpoints.errors import NOT_STARTED, ServiceError
from checkpoints.models import Activity, AgentProject
from checkpoints.rules import permissions

if TYPE_CHECKING:
    from django.contrib.auth.models import User

SESSIONS_ENDED = "Ended {count} open session{s} of the project's role: their locks are released."
SESSIONS_NOT_ENDED = "The sessions were not ended: {error}"


def project_sessions_end(*, project: AgentProject, user: User | None) -> int:
    """End every open session of the project's role (operators; `user=None`: the command
    line); the connection string stays the same. Recorded in the Activity log."""
    if user is not None:
        permissions.require(user, project, "sessions_end")
    if not project.engine_project_id:
        raise ServiceError(NOT_STARTED)
    started = timezone.now()
    engine = connections.engine_for(project=project)
    try:
        count = engine.role_sessions_end(project.engine_project_id)
    except (EngineError, psycopg.Error) as error:
        raise ServiceError(SESSIONS_NOT_ENDED.format(error=mask_password(str(error)))) from error
    activity_record(
        project=project,
        actor=user,
        kind=Activity.Kind.SESSIONS_END,
        duration_ms=int((timezone.now() - started).total_seconds() * 1000),
        detail=SESSIONS_ENDED.format(count=count, s="" if count == 1 else "s"),
    )
    return count
