"""Connecting to a versioned database without showing the user a swap.

While the local engine swaps a rollback in (or copies the active branch for a snapshot),
the endpoint's database briefly refuses connections, is renamed under a connecting
client, or ends the sessions connected to it. Those errors last milliseconds (a snapshot:
as long as the copy), so `connect` retries them for a short while instead of letting app
code show them. Anything else is raised at once. Error messages never carry the password.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from .base import mask_password

#: Fragments of the errors a swap or a snapshot produces; all are worth a quick retry.
TRANSIENT_MESSAGES = (
    "it seems to have just been dropped or renamed",
    "terminating connection due to administrator command",
    "is not currently accepting connections",
    "connection refused",
    "the database system is starting up",
    "the database system is shutting down",
    "server closed the connection unexpectedly",
)


def is_transient(error: BaseException) -> bool:
    """Whether `error` is one of the short-lived errors of a swap or a snapshot."""
    text = str(error).lower()
    if any(fragment in text for fragment in TRANSIENT_MESSAGES):
        return True
    # A database looked up mid-rename: `database "x" does not exist` (with or without the
    # "just been dropped or renamed" hint).
    return 'database "' in text and "does not exist" in text


def connect(
    uri: str,
    *,
    retry_for: float = 1.0,
    interval: float = 0.005,
    max_interval: float = 0.05,
    **kwargs: Any,
) -> psycopg.Connection[Any]:
    """`psycopg.connect(uri, **kwargs)`, retrying swap errors for up to `retry_for` seconds.

    The default budget covers a swap (milliseconds) and a snapshot of a database of a few
    hundred MB (its copy blocks new connections). Raises `psycopg.OperationalError` with the
    password masked.
    """
    deadline = time.monotonic() + retry_for
    while True:
        try:
            return psycopg.connect(uri, **kwargs)
        except psycopg.OperationalError as error:
            if not is_transient(error) or time.monotonic() >= deadline:
                raise psycopg.OperationalError(mask_password(str(error))) from None
        time.sleep(interval)
        interval = min(interval * 2, max_interval)


def run_sql(uri: str, query: str, params: Any = None, *, retry_for: float = 1.0) -> list[tuple]:
    """Run one statement on a fresh connection (autocommit) and return its rows, if any."""
    with connect(uri, retry_for=retry_for, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []
