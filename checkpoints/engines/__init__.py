"""Engines: one interface (`base.Engine`), two implementations (`local`, `neon`).

`get_engine()` returns the configured engine, one per name per process (engines open a
connection or request per call, so one instance serves every thread).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Engine
    from .neon import NeonEngine

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def get_engine(name: str | None = None) -> Engine:
    """The engine called `name` (default: settings.CHECKPOINTS_ENGINE, else "local")."""
    from django.conf import settings

    name = name or settings.CHECKPOINTS_ENGINE
    with _lock:
        engine = _engines.get(name)
        if engine is None:
            engine = _engines[name] = _build(name, settings)
        return engine


def reset_engines() -> None:
    """Forget cached engines (tests, or after settings change)."""
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.close()


def _build(name: str, settings) -> Engine:
    if name == "local":
        from .local import LocalEngine
        from .local.contain import RoleLimits

        warm = int(settings.CHECKPOINTS_WARM_COPIES)
        limits = RoleLimits(
            connection_limit=int(settings.CHECKPOINTS_ROLE_CONNECTION_LIMIT),
            statement_timeout=str(settings.CHECKPOINTS_ROLE_STATEMENT_TIMEOUT),
            idle_in_transaction_timeout=str(settings.CHECKPOINTS_ROLE_IDLE_IN_TRANSACTION_TIMEOUT),
        )
        return LocalEngine(
            local_server_url(settings),
            warm_copies=warm,
            limits=limits,
            # The cold tier's archives: in the app's data folder, outside PostgreSQL's.
            archive_dir=settings.CHECKPOINTS_COLD_DIR,
        )
    if name == "neon":
        return neon_from_settings(settings)
    raise ValueError(f"unknown engine {name!r}: use 'local' or 'neon'")


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
    from checkpoints.pgserver import read_config

    config = read_config(settings.DATA_DIR / "postgres")
    if config is None:
        raise RuntimeError(
            "the local engine has no PostgreSQL server: set CHECKPOINTS_LOCAL_SERVER_URL "
            "or start the embedded one"
        )
    return config.url("postgres")
