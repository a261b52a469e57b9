"""Use cases on engine connections: where a team's new project lives, adding a PostgreSQL
server as a connection, and an admin pinning a team to one of the installation's servers.

The installation's mode (settings.CHECKPOINTS_SERVERS) decides a team's first default:
`shared` keeps every project on the installation's own engine (no connection), `per-team`
gives the team its own embedded server, `external` places the team on the least loaded of
CHECKPOINTS_EXTERNAL_SERVERS (most projects first, then most teams, then list order).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count
from psycopg.conninfo import conninfo_to_dict

from checkpoints.engines.base import mask_password
from checkpoints.errors import ServiceError
from checkpoints.models import AgentProject, EngineConnection, Team
from checkpoints.rules import permissions
from checkpoints.security.secretbox import secret_seal
from checkpoints.servers.engine_connections import (
    EXTERNAL,
    PER_TEAM,
    connection_unusable,
    server_key,
    servers_mode,
    team_server_remove,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

CONNECTION_UNKNOWN = "There is no such connection in team “{team}”."
CONNECTION_URL_INVALID = "Give a postgresql:// URL of a role that may create databases and roles."
NO_EXTERNAL_SERVERS = "CHECKPOINTS_SERVERS=external needs CHECKPOINTS_EXTERNAL_SERVERS."
SERVER_UNKNOWN = "No server {server} in CHECKPOINTS_EXTERNAL_SERVERS (known: {known})."
CONNECTION_UNREACHABLE = "Could not connect to {server}: {why}"
CONNECTION_UNDERPRIVILEGED = (
    "The role {role} on {server} may not create databases and roles: give it CREATEDB and "
    "CREATEROLE (or use another role)."
)
CONNECTION_IN_USE = "“{name}” still holds {count} project(s): move or delete them first."
CONNECTION_REMOVED = "Connection “{name}” removed."
TEAM_HAS_PROJECTS = "Team “{team}” still has {count} project(s) on its embedded server."
EMBEDDED_NAME = "This team's server"


def connection_for_new_project(
    *, team: Team, connection_id: int | str | None = None
) -> EngineConnection | None:
    """The connection a new project of `team` lives on: the chosen one (a connection of the
    team, else ServiceError), or the team's default (made on first use; None: shared)."""
    if connection_id in (None, ""):
        return connection_default(team=team)
    try:
        chosen = team.connections.get(pk=int(connection_id))
    except (ValueError, TypeError, EngineConnection.DoesNotExist):
        raise ServiceError(CONNECTION_UNKNOWN.format(team=team.name)) from None
    why = connection_unusable(chosen)  # a Neon account whose key was removed
    if why:
        raise ServiceError(why)
    return chosen


def connection_default(*, team: Team) -> EngineConnection | None:
    """The team's default connection, made now per the installation's mode if it has none."""
    existing = team.connections.filter(is_default=True).first()
    if existing is not None:
        return existing
    mode = servers_mode()
    if mode == PER_TEAM:
        made = EngineConnection(team=team, kind=EngineConnection.Kind.EMBEDDED, name=EMBEDDED_NAME)
    elif mode == EXTERNAL:
        url = placement_choose()
        made = _postgres(team, url, name=f"Server {server_key(url)}")
    else:
        return None
    made.is_default = True
    try:
        with transaction.atomic():
            made.save()
    except IntegrityError:  # a second first project of the team, at the same moment
        return team.connections.get(is_default=True)
    return made


def placement_choose() -> str:
    """The URL of the least loaded external server: fewest projects, then fewest teams."""
    urls = list(settings.CHECKPOINTS_EXTERNAL_SERVERS)
    if not urls:
        raise ServiceError(NO_EXTERNAL_SERVERS)
    load = {
        row["server"]: (row["project_count"], row["team_count"])
        for row in EngineConnection.objects.filter(kind=EngineConnection.Kind.POSTGRES)
        .values("server")
        .annotate(project_count=Count("projects"), team_count=Count("team", distinct=True))
    }
    return min(urls, key=lambda url: (*load.get(server_key(url), (0, 0)), urls.index(url)))


@transaction.atomic
def team_server_pin(*, team: Team, server: str) -> EngineConnection:
    """An admin's choice (the command line): the team's new projects go to `server`
    (host:port of one of CHECKPOINTS_EXTERNAL_SERVERS); its existing projects stay."""
    urls = {server_key(url): url for url in settings.CHECKPOINTS_EXTERNAL_SERVERS}
    if server not in urls:
        known = ", ".join(urls) or "none"
        raise ServiceError(SERVER_UNKNOWN.format(server=server, known=known))
    team.connections.filter(is_default=True).update(is_default=False)
    made = _postgres(team, urls[server], name=f"Server {server}")
    made.options = {"pinned": True}
    made.is_default = True
    made.save()
    return made


def connection_create_postgres(
    *, user: User, team: Team, name: str, url: str, default: bool = False
) -> EngineConnection:
    """A PostgreSQL server as a connection of `team` (owners): the URL is kept encrypted."""
    permissions.require(user, team, "connections_manage")
    url = (url or "").strip()
    if not url.startswith(("postgresql://", "postgres://")):
        raise ServiceError(CONNECTION_URL_INVALID)
    try:
        made = _postgres(team, url, name=(name or "").strip()[:200] or f"Server {server_key(url)}")
    except Exception:  # an unparsable URL: its text may hold the password, never echo it
        raise ServiceError(CONNECTION_URL_INVALID) from None
    connection_check(url)
    with transaction.atomic():
        if default:
            team.connections.filter(is_default=True).update(is_default=False)
        made.is_default = default
        made.save()
    return made


def connections_of(*, team: Team) -> list[EngineConnection]:
    """The team's connections with how many live projects each holds."""
    return list(team.connections.annotate(project_count=Count("projects")))


def _postgres(team: Team, url: str, *, name: str) -> EngineConnection:
    return EngineConnection(
        team=team,
        kind=EngineConnection.Kind.POSTGRES,
        name=name,
        server=server_key(url),
        secret=secret_seal(url),
    )


def connection_check(url: str) -> None:
    """One connection to the server of `url`: it answers and its role may create databases
    and roles; else a readable ServiceError (never the password)."""
    server = server_key(url)
    password = str(conninfo_to_dict(url).get("password") or "")
    try:
        with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
            row = conn.execute(
                "SELECT current_user, rolsuper OR (rolcreatedb AND rolcreaterole) "
                "FROM pg_catalog.pg_roles WHERE rolname = current_user"
            ).fetchone()
    except psycopg.Error as error:
        why = mask_password(" ".join(str(error).split())[:300])
        if password:
            why = why.replace(password, "********")
        raise ServiceError(CONNECTION_UNREACHABLE.format(server=server, why=why)) from None
    if row is None or not row[1]:
        role = row[0] if row else "?"
        raise ServiceError(CONNECTION_UNDERPRIVILEGED.format(role=role, server=server))


def connection_remove(*, user: User, connection: EngineConnection) -> str:
    """Remove a connection of the team that holds no project (owners); an embedded one
    takes its server with it (stopped, its folder deleted). The notice to show."""
    permissions.require(user, connection.team, "connections_manage")
    count = connection.projects.count()
    if count:
        raise ServiceError(CONNECTION_IN_USE.format(name=connection.name, count=count))
    embedded = connection.kind == EngineConnection.Kind.EMBEDDED
    connection.delete()
    if embedded:
        team_id = connection.team_id
        transaction.on_commit(lambda: team_server_remove(team_id))
    return CONNECTION_REMOVED.format(name=connection.name)


def team_server_retire(*, team: Team) -> bool:
    """An admin's ask (the command line): the team's embedded server stopped and its
    folder deleted, refused while a project lives there. Whether there was one."""
    embedded = team.connections.filter(kind=EngineConnection.Kind.EMBEDDED)
    count = AgentProject.objects.filter(connection__in=embedded).count()
    if count:
        raise ServiceError(TEAM_HAS_PROJECTS.format(team=team.name, count=count))
    embedded.delete()
    return team_server_remove(team.pk)
