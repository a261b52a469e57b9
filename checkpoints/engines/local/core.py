"""The local engine's connections to its PostgreSQL server and its advisory locks.

One mutation per project at a time: a session-level advisory lock, held on the control
connection that also runs the CREATE/DROP DATABASE statements (so a crashed caller's
server-side work ends before anyone else may touch the project); a second caller gets
`EngineLocked`, Neon's 423. A warm-up holds a second per-project lock while it copies and
the project's lock only for brief catalog steps; a mutation that finds the project's lock
held by a warm-up waits those milliseconds instead of `423`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ..base import Engine, mask_password
from ..errors import EngineLocked, EngineTransientError
from . import contain
from . import names as ids
from .parking import Parking
from .session import CONTROL_OPTIONS, SessionLimits
from .sql import Conn

LOCKED_MESSAGE = (
    "project already has running conflicting operations, scheduling of new ones is prohibited"
)
#: How long a mutation waits for a warm-up's brief catalog step (it holds the project's
#: lock for milliseconds); and how long a warm-up waits for a mutation or another warm-up.
WARM_STEP_WAIT = 10.0
WARM_LOCK_WAIT = 120.0


def drop_key(project_id: str) -> str:
    """A third advisory lock of a project, held while a deleted branch's database drops."""
    return f"drop:{project_id}"


def warm_key(project_id: str) -> str:
    """The second advisory lock of a project, held by its warm-up while it copies."""
    return f"warm:{project_id}"


class LocalCore(Engine):
    """What every part of the local engine shares: settings, connections, locks."""

    control_db: str
    limits: contain.RoleLimits
    session_limits: SessionLimits
    warm_copies: int
    names: ids.Names
    fault_hook: Callable[[str], None] | None
    host: str
    port: int
    _server_url: str
    _server_conninfo: str
    _control_conninfo: str
    _parking: Parking
    _watch_parking: Parking
    archive_dir: Path | None  # the cold tier's folder (`cold.py`)
    pg_bin_dir: Path | None  # pg_dump and pg_restore

    def _connect(self, conninfo: str | None = None, *, options: str = CONTROL_OPTIONS) -> Conn:
        try:
            # The pid in application_name tells whose sessions these are (after a fork too).
            conninfo = conninfo or self._control_conninfo
            if options:
                conninfo = make_conninfo(conninfo, options=options)
            return psycopg.connect(
                conninfo, autocommit=True, application_name=f"checkpoints-engine:{os.getpid()}"
            )
        except psycopg.OperationalError as error:
            raise EngineTransientError(
                "cannot reach the local engine's PostgreSQL server: "
                + mask_password(str(error)).strip()
            ) from None

    def _db_conninfo(self, dbname: str) -> str:
        return make_conninfo(self._server_url, dbname=dbname)

    def _agent_db(self, dbname: str) -> Conn:
        """The engine's session on an agent's database: search_path pinned to pg_catalog,
        the engine's lock and statement timeouts (`session.py`). Run no agent code here."""
        return self._connect(self._db_conninfo(dbname), options=self.session_limits.options())

    @contextmanager
    def _reading(self) -> Iterator[Conn]:
        """A control connection, the parked one when it is usable; parked again after."""
        conn = self._parking.take() or self._connect()
        try:
            yield conn
        except BaseException:
            conn.close()
            raise
        self._parking.park(conn)

    @contextmanager
    def _watching(self) -> Iterator[Conn]:
        """The watchdog's control connection, kept between its rounds apart from
        `_reading`'s: jobs and pages take that one, and when an agent fills the lock
        table, one of them failing closes it while no new connection can start."""
        conn = self._watch_parking.take() or self._connect()
        try:
            yield conn
        finally:
            self._watch_parking.park(conn)  # closed instead if the round left it unclean

    def _fault(self, step: str) -> None:
        if self.fault_hook is not None:
            self.fault_hook(step)

    def _try_lock(self, conn: Conn, project_id: str) -> bool:
        row = conn.execute(
            "SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))",
            (self.control_db, project_id),
        ).fetchone()
        return bool(row and row[0])

    def _lock_after_warm_up(self, conn: Conn, project_id: str) -> bool:
        """Take the project's lock if only a warm-up holds it (for a brief catalog step):
        poll until it is free. False as soon as anyone else holds it."""
        deadline = time.monotonic() + WARM_STEP_WAIT
        interval = 0.001
        while time.monotonic() < deadline:
            # One read of pg_locks (two would be two moments: a warm-up seen holding the
            # project's lock in the first could be gone, its warm lock with it, in the second).
            holder = conn.execute(
                "SELECT bool_and(warm) FROM (SELECT bool_or(objid = hashtext(%s)::oid) AS warm, "
                "  bool_or(objid = hashtext(%s)::oid) AS project FROM pg_locks "
                "  WHERE locktype = 'advisory' AND granted AND objsubid = 2 "
                "  AND classid = hashtext(%s)::oid GROUP BY pid) held WHERE project",
                (warm_key(project_id), project_id, self.control_db),
            ).fetchone()
            if holder is not None and holder[0] is False:
                return False  # held by a mutation, not a warm-up
            if self._try_lock(conn, project_id):
                return True
            time.sleep(interval)
            interval = min(interval * 2, 0.01)
        return False

    def _unlock(self, conn: Conn, project_id: str) -> None:
        conn.execute(
            "SELECT pg_advisory_unlock(hashtext(%s), hashtext(%s))", (self.control_db, project_id)
        )

    def _lock_waiting(self, conn: Conn, key: str, timeout: float) -> bool:
        """Take an advisory lock of this engine, waiting up to `timeout`."""
        conn.execute(
            sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{int(timeout * 1000)}ms"))
        )
        try:
            conn.execute(
                "SELECT pg_advisory_lock(hashtext(%s), hashtext(%s))", (self.control_db, key)
            )
        except psycopg.errors.LockNotAvailable:
            return False
        finally:
            conn.execute("RESET lock_timeout")
        return True

    @contextmanager
    def _held(self, conn: Conn, project_id: str) -> Iterator[None]:
        """The project's lock for a warm-up's brief catalog step (waits for a mutation)."""
        if not self._lock_waiting(conn, project_id, WARM_LOCK_WAIT):
            raise EngineLocked(LOCKED_MESSAGE, status=423)
        try:
            yield
        finally:
            self._unlock(conn, project_id)
