"""Connections to the versioned app databases (never the Django ORM: those are not ours)."""

from __future__ import annotations

import time

import psycopg

try:  # Retries briefly while a rollback swaps the database under the endpoint.
    from checkpoints.engines.connect import connect as _engine_connect
except ImportError:  # pragma: no cover - until the engines package provides it
    _engine_connect = None

RETRY_FOR = 5.0


def connect(uri: str, **kwargs) -> psycopg.Connection:
    """Open a connection to an app database; retry briefly during a database swap."""
    kwargs.setdefault("connect_timeout", 5)
    if _engine_connect is not None:
        return _engine_connect(uri, **kwargs)
    deadline = time.monotonic() + RETRY_FOR
    while True:
        try:
            return psycopg.connect(uri, **kwargs)
        except psycopg.OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)
