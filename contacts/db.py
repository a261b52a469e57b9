"""Connections to the versioned app databases (never the Django ORM: those are not ours)."""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg

try:  # Retries briefly while a rollback swaps the database under the endpoint.
    from checkpoints.engines.connect import connect as _engine_connect
    from checkpoints.engines.connect import is_transient
except ImportError:  # pragma: no cover - until the engines package provides it
    _engine_connect = None

    def is_transient(error: BaseException) -> bool:
        return False


RETRY_FOR = 5.0


def connect(uri: str, **kwargs) -> psycopg.Connection:
    """Open a connection to an app database; retry briefly during a database swap."""
    kwargs.setdefault("connect_timeout", 5)
    if _engine_connect is not None:
        return _engine_connect(uri, retry_for=RETRY_FOR, **kwargs)
    deadline = time.monotonic() + RETRY_FOR
    while True:
        try:
            return psycopg.connect(uri, **kwargs)
        except psycopg.OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)


def read_with_retry[T](read: Callable[[], T], *, retry_for: float = RETRY_FOR) -> T:
    """Run a read; if a swap or a snapshot ends our session mid-query, run it again.

    Taking a snapshot or rolling back ends the sessions on the active database
    ("terminating connection due to administrator command"): a page rendered at that
    moment just reads again. Only for reads: a write is never repeated.
    """
    deadline = time.monotonic() + retry_for
    while True:
        try:
            return read()
        except psycopg.OperationalError as error:
            if not is_transient(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)
