"""Use case: an existing PostgreSQL database as v0 of a new project, on any of the team's
connections (its local server, a PostgreSQL server, a Neon account).

The source is read with `pg_dump` here, before anything is made: an unreachable or
refusing source gets a clear message and leaves nothing behind. The job then loads the
dump as the new project's own role (engines/dump.py) and saves v0. The source URL holds
a password: it is used once and never stored, shown or logged (only host:port/database)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction

from checkpoints import tasks
from checkpoints.engines import dump
from checkpoints.engines.errors import EngineError
from checkpoints.errors import NAME_REQUIRED, ServiceError
from checkpoints.models import AgentProject, Job, Team
from checkpoints.rules import permissions
from checkpoints.servers.engine_connections import connection_engine_name, connection_unusable
from checkpoints.services.team_connections import connection_for_new_project

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def database_import(
    *, user: User, team: Team, name: str, source_url: str, connection_id: int | str | None = None
) -> Job:
    """Read the source now; a project whose job loads it and saves v0."""
    permissions.require(user, team, "project_create")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ServiceError(NAME_REQUIRED)
    connection = connection_for_new_project(team=team, connection_id=connection_id)
    if connection is not None and connection_unusable(connection):
        raise ServiceError(connection_unusable(connection))
    folder = Path(settings.DATA_DIR) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.dump"
    try:
        where = dump.source_where(source_url)
        dump.dump(source_url, path)
    except EngineError as error:
        path.unlink(missing_ok=True)
        raise ServiceError(error.message) from None
    try:
        with transaction.atomic():
            project = AgentProject.objects.create(
                team=team,
                created_by=user,
                name=name,
                connection=connection,
                engine_name=connection_engine_name(connection),
            )
            request = {"dump": str(path), "source": where}
            return tasks.job_enqueue(
                project=project, kind=Job.Kind.IMPORT_DATABASE, user=user, request=request
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
