"""One idle control connection kept for the engine's next call.

A new connection costs about 4.5 ms here (a backend start and SCRAM), a third of a warm
rollback; a reused one costs nothing. Only a connection left clean is parked: idle (no
transaction), its session-level advisory locks released, in the process that opened it.
One the server has ended meanwhile (a restart, a terminated backend) is seen on its
socket, which turns readable, and never handed out.
"""

from __future__ import annotations

import os
import select
import threading

from psycopg.pq import TransactionStatus

from .sql import Conn

#: Connections parked before a fork: the child must not close them (closing sends the
#: server a Terminate and would end the parent's session); they stay referenced here.
_inherited: list[Conn] = []


class Parking:
    """At most one idle connection, handed to one caller at a time (thread-safe)."""

    def __init__(self, *, keep_locks: bool = False) -> None:
        self._keep_locks = keep_locks  # its advisory locks stay (the watchdog's reserve)
        self._lock = threading.Lock()
        self._conn: Conn | None = None
        self._pid = os.getpid()

    def take(self) -> Conn | None:
        """The parked connection if it is still usable, else None."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is None:
                return None
            if self._pid != os.getpid():
                _inherited.append(conn)
                self._pid = os.getpid()
                return None
        if conn.closed or _readable(conn):
            conn.close()
            return None
        return conn

    def park(self, conn: Conn) -> None:
        """Keep `conn` for the next caller, or close it if it is not clean or one is kept."""
        if not self._clean(conn):
            conn.close()
            return
        with self._lock:
            if self._conn is None and self._pid == os.getpid():
                self._conn = conn
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            conn.close()

    def _clean(self, conn: Conn) -> bool:
        if conn.closed or conn.info.transaction_status != TransactionStatus.IDLE:
            return False
        if self._keep_locks:
            return True
        try:
            conn.execute("SELECT pg_advisory_unlock_all()")
        except Exception:
            return False
        return True


def _readable(conn: Conn) -> bool:
    """An idle connection whose socket has something to read: the server ended it."""
    try:
        ready, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(ready)
