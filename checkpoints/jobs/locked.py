"""A job that meets the agent's lock: fail within seconds, saying which table is locked,
by whom and since when, so the operator can end those sessions (the failure offers it).

An engine step against an agent's database runs under a lock timeout; when it gives up
(`LockNotAvailable`, or a statement timeout while it waited for a lock), the job's error
is read here from `pg_locks` + `pg_stat_activity` of the live database: "`contacts` is
locked by a session of this project since 10:32:05". The read logs in as the project's
own role (it sees its own sessions in full) with its own short timeouts."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import psycopg
from django.utils import timezone
from psycopg import errors

from checkpoints import connections
from checkpoints.engines.base import mask_password
from checkpoints.engines.connect import connect_app
from checkpoints.jobs.failures import JobFailed
from checkpoints.lifecycle import manifest as manifests
from checkpoints.models import AgentProject
from checkpoints.queue import job_watchdog

logger = logging.getLogger(__name__)

#: The bounds of a job's own reads of a live database (before a rollback, say); the
#: search path stays the role's: a manifest names column types as the agent sees them.
READ_OPTIONS = "-c lock_timeout=5s -c statement_timeout=120s"
LOCKED_CODE = "locked"
LOCKED_BY = "`{table}` is locked by {whose} since {since} ({mode}, pid {pid})"
LOCKED_UNKNOWN = "A table of the live database is locked by another session"
LOCKED_HINT = (
    "The job gave up waiting for the lock after a few seconds; nothing was changed. "
    "End those sessions (End the project's sessions) or let them finish, then try again."
)

_HOLDERS = """
SELECT c.relname, n.nspname, l.mode, a.pid, a.usename, coalesce(a.xact_start, a.backend_start)
FROM pg_catalog.pg_locks l
JOIN pg_catalog.pg_class c ON c.oid = l.relation
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
WHERE l.granted AND l.locktype = 'relation' AND l.pid <> pg_catalog.pg_backend_pid()
  AND l.database = (SELECT oid FROM pg_catalog.pg_database
                    WHERE datname = pg_catalog.current_database())
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%%'
ORDER BY l.mode = 'AccessExclusiveLock' DESC, l.mode <> 'AccessShareLock' DESC, 6
LIMIT 3
"""


class LiveLocked(JobFailed):
    """An engine step gave up waiting for a lock the agent's sessions hold."""

    code = LOCKED_CODE


def is_lock_wait(exc: BaseException | None) -> bool:
    """Whether `exc` (or what caused it) is a lock timeout, or a statement timeout or
    cancel while waiting for a lock."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, errors.LockNotAvailable):
            return True
        text = str(exc).lower()
        if "lock timeout" in text or "could not obtain lock" in text:
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _since(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%H:%M:%S") if moment else "a while"


def lock_holders(uri: str) -> list[str]:
    """One line per lock another session holds on a table of the database at `uri`."""
    with connect_app(uri, autocommit=True, options=READ_OPTIONS) as conn:
        me = conn.info.user
        rows = conn.execute(_HOLDERS).fetchall()
    lines = []
    for table, schema, mode, pid, user, since in rows:
        name = table if schema == "public" else f"{schema}.{table}"
        whose = (
            "a session of this project" if user == me else f"a session of {user or 'another role'}"
        )
        label = mode.removesuffix("Lock")
        lines.append(
            LOCKED_BY.format(table=name, whose=whose, since=_since(since), mode=label, pid=pid)
        )
    return lines


def locked_reason(uri: str) -> str:
    """The readable reason of a lock wait on the database at `uri`."""
    try:
        holders = lock_holders(uri)
    except psycopg.Error:
        logger.warning("could not read who holds the lock", exc_info=True)
        holders = []
    head = "; ".join(holders) if holders else LOCKED_UNKNOWN
    return f"{head}. {LOCKED_HINT}"


def locked_failure(exc: BaseException, uri: str) -> LiveLocked:
    """`exc` (a lock wait) as the job's readable failure."""
    failure = LiveLocked(locked_reason(uri))
    failure.__cause__ = exc
    return failure


def readable(exc: Exception, project: AgentProject) -> Exception:
    """`exc` as the job's failure: a lock wait as "`contacts` is locked by …", a write
    refused by a project past its disk quota as the quota's message, a full lock table
    (PostgreSQL's "out of shared memory", with its hint to raise a setting) as what fills it."""
    if said := job_watchdog.lock_table_full(exc):
        failure = JobFailed(said)
        failure.__cause__ = exc
        return failure
    if "read-only transaction" in str(exc) and (said := job_watchdog.quota_failure(project)):
        failure = JobFailed(said, code="disk_quota")
        failure.__cause__ = exc
        return failure
    if isinstance(exc, LiveLocked) or not is_lock_wait(exc):
        return exc
    try:
        uri = connections.project_connection_uri(project=project)
    except Exception:
        return exc
    return locked_failure(exc, uri)


def live_manifest(uri: str) -> dict[str, Any] | None:
    """The manifest of the live database at `uri`, read under a lock timeout: the agent's
    lock is the job's `LiveLocked` failure within seconds (a rollback used to wait behind
    it for ever); any other error is None (logged), as `manifest_of_uri`."""
    found = live_manifest_or_reason(uri)
    return found if isinstance(found, dict) else None


def live_manifest_or_reason(uri: str) -> dict[str, Any] | str:
    """As `live_manifest`, but an unreadable database answers why (one line, no password)."""
    try:
        with connect_app(uri, options=READ_OPTIONS) as conn:
            conn.read_only = True
            return manifests.manifest_read(conn)
    except psycopg.Error as exc:
        if is_lock_wait(exc):
            raise locked_failure(exc, uri) from exc
        logger.exception("could not read a manifest")
        lines = str(exc).strip().splitlines()
        return mask_password(lines[0] if lines else type(exc).__name__)
