"""Connections to the versioned app databases (never the Django ORM: those are not ours)."""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg

# Retries briefly while a rollback swaps the database under the endpoint.
from checkpoints.engines.connect import APP_RETRY_FOR as RETRY_FOR
from checkpoints.engines.connect import connect_app as connect
from checkpoints.engines.connect import is_transient

__all__ = ["RETRY_FOR", "connect", "is_transient", "read_with_retry"]


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
