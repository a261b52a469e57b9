"""Engines: one interface (`base.Engine`), two implementations (`local`, `neon`).

`get_engine()` returns the installation's engine, one per name per process (engines open a
connection or request per call, so one instance serves every thread); `engine_cached()`
one per engine connection (checkpoints/servers/engine_connections.py builds them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Engine
    from .local.session import SessionLimits
    from .neon import NeonEngine

_engines: dict[str, Engine] = {}
_lock = threading.Lock()
#: One lock per key being built: a team server starting for one key stalls no other.
_building: dict[str, threading.Lock] = {}


def get_engine(name: str | None = None) -> Engine:
    """The engine called `name` (default: settings.CHECKPOINTS_ENGINE, else "local")."""
    from django.conf import settings

    name = name or settings.CHECKPOINTS_ENGINE
    with _lock:
        engine = _engines.get(name)
        if engine is None:
            engine = _engines[name] = _build(name, settings)
        return engine


def engine_cached(key: str, build: Callable[[], Engine]) -> Engine:
    """The engine cached under `key`, built once per process by `build` (which may start
    a server): keys name what the engine reaches, e.g. `team-server:7`."""
    with _lock:
        engine = _engines.get(key)
        if engine is not None:
            return engine
        building = _building.setdefault(key, threading.Lock())
    with building:
        with _lock:
            engine = _engines.get(key)
        if engine is None:
            engine = build()
            with _lock:
                _engines[key] = engine
        return engine


def engine_forget(key: str) -> None:
    """Close and forget the engine cached under `key` (its server is going away)."""
    with _lock:
        engine = _engines.pop(key, None)
    if engine is not None:
        engine.close()


def reset_engines() -> None:
    """Forget cached engines (tests, or after settings change)."""
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.close()


def _build(name: str, settings) -> Engine:
    if name == "local":
        # The cold tier's archives (default: in the app's data folder, outside PostgreSQL's).
        return local_engine(
            local_server_url(settings),
            settings,
            archive_dir=settings.CHECKPOINTS_COLD_DIR,
            superuser_url=local_superuser_url(settings),
        )
    if name == "neon":
        return neon_from_settings(settings)
    raise ValueError(f"unknown engine {name!r}: use 'local' or 'neon'")


def session_limits(settings, role_statement_timeout: str) -> SessionLimits:
    """The local engine's bounds on its sessions (CHECKPOINTS_ENGINE_LOCK_TIMEOUT,
    CHECKPOINTS_ENGINE_STATEMENT_TIMEOUT); jobs' sessions on its databases take the same
    lock timeout and the project role's statement timeout (`connect.APP_TIMEOUTS`)."""
    from .connect import APP_TIMEOUTS
    from .local.session import SessionLimits

    session = SessionLimits(
        lock_timeout=str(settings.CHECKPOINTS_ENGINE_LOCK_TIMEOUT),
        statement_timeout=str(settings.CHECKPOINTS_ENGINE_STATEMENT_TIMEOUT),
    )
    APP_TIMEOUTS.update(lock_timeout=session.lock_timeout, statement_timeout=role_statement_timeout)
    return session


def local_engine(
    server_url: str,
    settings,
    *,
    archive_dir: Path,
    history_dir: Path | None = None,
    superuser_url: str | None = None,
) -> Engine:
    """A local engine on the server of `server_url` with the installation's settings
    (`history_dir`: the server's WAL archive and base backups, when it keeps them;
    `superuser_url`: that server's superuser, to install the statement recorder)."""
    from .local import LocalEngine
    from .local.contain import RoleLimits

    warm = int(settings.CHECKPOINTS_WARM_COPIES)
    limits = RoleLimits(
        connection_limit=int(settings.CHECKPOINTS_ROLE_CONNECTION_LIMIT),
        statement_timeout=str(settings.CHECKPOINTS_ROLE_STATEMENT_TIMEOUT),
        idle_in_transaction_timeout=str(settings.CHECKPOINTS_ROLE_IDLE_IN_TRANSACTION_TIMEOUT),
    )
    session = session_limits(settings, limits.statement_timeout)
    return LocalEngine(
        server_url,
        warm_copies=warm,
        limits=limits,
        session_limits=session,
        archive_dir=archive_dir,
        superuser_url=superuser_url,
        history_dir=history_dir,
    )


def neon_from_settings(settings=None) -> NeonEngine:
    """The Neon engine of Django settings NEON_API_KEY, NEON_API_URL, NEON_ORG_ID,
    NEON_SNAPSHOT_LIMIT; ImproperlyConfigured without a key."""
    from django.core.exceptions import ImproperlyConfigured

    from .neon import NeonEngine, NeonNotConfigured  # imported only when chosen

    if settings is None:
        from django.conf import settings
    try:
        return NeonEngine.from_settings(settings=settings)
    except NeonNotConfigured as exc:
        raise ImproperlyConfigured(str(exc)) from None


def local_server_url(settings) -> str:
    """settings.CHECKPOINTS_LOCAL_SERVER_URL, else the embedded server's superuser URL."""
    url = settings.CHECKPOINTS_LOCAL_SERVER_URL
    if url:
        return url
    from checkpoints.servers.pgserver import read_config

    config = read_config(settings.DATA_DIR / "postgres")
    if config is None:
        raise RuntimeError(
            "the local engine has no PostgreSQL server: set CHECKPOINTS_LOCAL_SERVER_URL "
            "or start the embedded one"
        )
    return config.url("postgres")


def local_superuser_url(settings) -> str | None:
    """The superuser of the local engine's server, which installs the statement recorder
    (events): CHECKPOINTS_LOCAL_SUPERUSER_URL, else the embedded server's own when the
    engine runs there; None on another server (the recorder is then not offered)."""
    if settings.CHECKPOINTS_LOCAL_SUPERUSER_URL:
        return str(settings.CHECKPOINTS_LOCAL_SUPERUSER_URL)
    from psycopg.conninfo import conninfo_to_dict

    from checkpoints.servers.pgserver import read_config

    config = read_config(settings.DATA_DIR / "postgres")
    url = settings.CHECKPOINTS_LOCAL_SERVER_URL
    if config is None or not url:
        return None
    params = conninfo_to_dict(url)
    local = str(params.get("host") or "") in ("127.0.0.1", "localhost")
    return config.url("postgres") if local and str(params.get("port")) == str(config.port) else None
