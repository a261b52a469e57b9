"""The engine of an engine connection, built once per process and per server it reaches.

- embedded: the team's own server (checkpoints/servers/teamservers.py), started if it is not;
- postgres: a local engine on the server of the stored URL (a role that may create
  databases and roles);
- neon: the Neon engine of the stored API key, org id and API URL.

The secret is opened (checkpoints/security/secretbox.py) only here, only to hand it to the engine.
Cache keys name what an engine reaches without the secret itself (its sha256), so two
teams placed on one external server share one engine.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from psycopg.conninfo import conninfo_to_dict

from checkpoints import engines
from checkpoints.engines.base import Engine
from checkpoints.engines.errors import EngineError
from checkpoints.engines.local.history import wal as history_wal
from checkpoints.models import EngineConnection
from checkpoints.security.secretbox import secret_open
from checkpoints.servers import teamservers
from checkpoints.servers.pgserver_config import read_config

#: The installation's modes (settings.CHECKPOINTS_SERVERS).
SHARED, PER_TEAM, EXTERNAL = "shared", "per-team", "external"
MODES = (SHARED, PER_TEAM, EXTERNAL)


#: Why a project on a Neon connection whose key was removed cannot be reached.
KEY_REMOVED = (
    "This project lives in the Neon account “{name}”, whose API key was removed from the "
    "team: nothing was deleted in Neon. A team owner can give the key again on the team page."
)
INSTALLATION_KEY_OFF = (
    "This project lives on the installation's Neon account, which teams may no longer use "
    "(NEON_KEY_FOR_TEAMS is off, or NEON_API_KEY is unset): ask the administrator."
)


class ConnectionUnusable(EngineError):
    """The connection cannot serve its projects now (its key was removed)."""


def connection_engine(connection: EngineConnection) -> Engine:
    """The engine serving the projects on `connection`, shared per process."""
    why = connection_unusable(connection)
    if why:
        raise ConnectionUnusable(why)
    return engines.engine_cached(_cache_key(connection), lambda: _build(connection))


def team_server_remove(team_id: int) -> bool:
    """The team's embedded server stopped and its folder deleted (no orphan server left
    when a team goes or an admin asks); whether there was one."""
    engines.engine_forget(f"team-server:{team_id}")
    return teamservers.remove(team_servers_root(), team_id)


def connection_unusable(connection: EngineConnection) -> str:
    """Why the projects on `connection` cannot be reached now ("" when they can)."""
    if connection.kind != EngineConnection.Kind.NEON:
        return ""
    if (connection.options or {}).get("installation"):
        key_on = settings.NEON_KEY_FOR_TEAMS and settings.NEON_API_KEY
        return "" if key_on else INSTALLATION_KEY_OFF
    return "" if connection.secret else KEY_REMOVED.format(name=connection.name)


def servers_mode() -> str:
    """Where new projects live; `shared` whenever the installation's engine is Neon."""
    mode = settings.CHECKPOINTS_SERVERS
    if mode not in MODES:
        raise ValueError(f"CHECKPOINTS_SERVERS={mode!r}: use one of {', '.join(MODES)}")
    if settings.CHECKPOINTS_ENGINE != "local":
        return SHARED
    return mode


def team_servers_root():
    return settings.CHECKPOINTS_TEAM_SERVERS_DIR


def server_key(url: str) -> str:
    """`host:port` of a PostgreSQL URL: what may be shown of it, and its load's key."""
    params = conninfo_to_dict(url)
    return f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"


def connection_engine_name(connection: EngineConnection | None) -> str:
    """`local` or `neon`: the engine kind a project on `connection` reports."""
    if connection is None:
        return settings.CHECKPOINTS_ENGINE or "local"
    return "neon" if connection.kind == EngineConnection.Kind.NEON else "local"


def _cache_key(connection: EngineConnection) -> str:
    if connection.kind == EngineConnection.Kind.EMBEDDED:
        return f"team-server:{connection.team_id}"
    options = connection.options or {}
    reaches = "\n".join(
        [_secret(connection), options.get("api_url", ""), options.get("org_id", "")]
    )
    return f"{connection.kind}:{hashlib.sha256(reaches.encode()).hexdigest()}"


def _build(connection: EngineConnection) -> Engine:
    kind = connection.kind
    if kind == EngineConnection.Kind.EMBEDDED:
        root = team_servers_root()
        fast = bool(settings.CHECKPOINTS_TEAM_SERVERS_FAST)
        url = teamservers.ensure_running(root, connection.team_id, fast=fast)
        archive = teamservers.cold_dir(root, connection.team_id)
        config = read_config(teamservers.server_dir(root, connection.team_id))
        superuser = config.url("postgres") if config else None
        history = history_wal.history_dir(teamservers.server_dir(root, connection.team_id))
        return engines.local_engine(
            url, settings, archive_dir=archive, history_dir=history, superuser_url=superuser
        )
    if kind == EngineConnection.Kind.POSTGRES:
        archive = settings.DATA_DIR / "cold" / f"connection-{connection.pk}"
        return engines.local_engine(secret_open(connection.secret), settings, archive_dir=archive)
    if kind == EngineConnection.Kind.NEON:
        from checkpoints.engines.neon import NeonEngine

        options = connection.options or {}
        installation = bool(options.get("installation"))
        return NeonEngine(
            _secret(connection),
            api_url=options.get("api_url") or settings.NEON_API_URL,
            org_id=options.get("org_id") or (settings.NEON_ORG_ID if installation else None),
            snapshot_limit=int(options.get("snapshot_limit", settings.NEON_SNAPSHOT_LIMIT)),
        )
    raise ValueError(f"unknown connection kind {kind!r}")


def _secret(connection: EngineConnection) -> str:
    """The key or URL the connection reaches with: the installation's own NEON_API_KEY
    for the installation's Neon connection, else the connection's sealed secret."""
    if (connection.options or {}).get("installation"):
        return settings.NEON_API_KEY
    return secret_open(connection.secret)
