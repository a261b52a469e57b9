"""Connecting to a versioned database without showing the user a swap.

While the local engine swaps a rollback in (or copies the active branch for a snapshot),
the endpoint's database briefly refuses connections, is renamed under a connecting
client, or ends the sessions connected to it. Those errors last milliseconds (a snapshot
blocks new connections for as long as its copy), so `connect` retries them for a short
while instead of letting app code show them. Anything else is raised at once. Error messages never carry the password.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

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


def is_blocked(error: BaseException) -> bool:
    """The database refuses connections for now: a snapshot is copying it."""
    return "is not currently accepting connections" in str(error).lower()


def connect(
    uri: str,
    *,
    retry_for: float = 0.5,
    blocked_for: float = 5.0,
    interval: float = 0.005,
    max_interval: float = 0.05,
    **kwargs: Any,
) -> psycopg.Connection[Any]:
    """`psycopg.connect(uri, **kwargs)`, retrying the short-lived errors of a swap.

    Swap errors (renamed database, session ended, refused) are retried for up to
    `retry_for` seconds: a swap takes milliseconds. A database that is "not currently
    accepting connections" is retried for up to `blocked_for`: a snapshot blocks new
    connections for as long as its copy takes (about 0.5-2 s at 100 MB). Raises
    `psycopg.OperationalError` with the password masked.
    """
    started = time.monotonic()
    while True:
        try:
            return psycopg.connect(uri, **kwargs)
        except psycopg.OperationalError as error:
            budget = blocked_for if is_blocked(error) else retry_for
            if not is_transient(error) or time.monotonic() - started >= budget:
                raise psycopg.OperationalError(mask_password(str(error))) from None
        time.sleep(interval)
        interval = min(interval * 2, max_interval)


def run_sql(
    uri: str, query: str, params: Any = None, *, retry_for: float = 0.5, blocked_for: float = 5.0
) -> list[tuple]:
    """Run one statement on a fresh connection (autocommit) and return its rows, if any."""
    with connect(uri, retry_for=retry_for, blocked_for=blocked_for, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


#: How long an app-side connection retries a swap's refusals before giving up.
APP_RETRY_FOR = 5.0
#: The lock and statement timeouts of every session jobs open on a versioned database
#: (manifests, verification, table restore, a prompt's SQL). They travel in the startup
#: packet, which outranks an `ALTER ROLE … SET` of the agent's, so a job that meets the
#: agent's lock fails within seconds instead of parking a worker. The local engine's
#: factory (`engines.engine_for`) sets them from CHECKPOINTS_ENGINE_LOCK_TIMEOUT and
#: CHECKPOINTS_ROLE_STATEMENT_TIMEOUT; empty, nothing is added (Neon's pooler may refuse
#: startup options).
APP_TIMEOUTS: dict[str, str] = {}


#: Tighter bounds for the sessions opened inside `bounded_reads` (this thread or task).
_bounds: ContextVar[dict[str, str] | None] = ContextVar("checkpoints_app_bounds", default=None)


@contextmanager
def bounded_reads(**timeouts: str) -> Iterator[None]:
    """Every session `connect_app` opens inside the block carries `timeouts` (e.g.
    `lock_timeout="1s"`) over APP_TIMEOUTS: a page's read of an app database (the App
    tab) gives up within a second behind the agent's lock instead of holding a web
    thread (the caller says why)."""
    token = _bounds.set({**(_bounds.get() or {}), **timeouts})
    try:
        yield
    finally:
        _bounds.reset(token)


def app_options() -> str:
    """libpq `options` of an app-side session: APP_TIMEOUTS and any `bounded_reads`."""
    timeouts = {**APP_TIMEOUTS, **(_bounds.get() or {})}
    return " ".join(f"-c {name}={value}" for name, value in timeouts.items())


def connect_app(uri: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A connection to a versioned app database, as app code and jobs open it (bounded
    by APP_TIMEOUTS unless the caller passes its own `options`)."""
    kwargs.setdefault("connect_timeout", 5)
    if "options" not in kwargs and (APP_TIMEOUTS or _bounds.get()):  # after the URI's own
        try:
            own = conninfo_to_dict(uri).get("options")
        except psycopg.Error:
            own = None  # `connect` says what is wrong with it, password masked
        kwargs["options"] = f"{own} {app_options()}" if own else app_options()
    return connect(uri, retry_for=APP_RETRY_FOR, **kwargs)
