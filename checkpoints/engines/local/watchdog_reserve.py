"""Room the watchdog keeps for itself in the server's lock table.

When an agent fills the lock table, the watchdog must still end its sessions, and
`pg_terminate_backend` checks the caller's role memberships in a shared catalog, which
takes a slot of that table. So the watchdog's connection holds a reserve of advisory
locks of its own between rounds, and lets them go when it meets a full table: the room
they free is what the check takes.
"""

from __future__ import annotations

from . import sql as db

#: Slots held back: a membership check and the round's reads take a few each.
RESERVE = 64
_KEY = "checkpoints-watchdog-reserve"


def reserve_take(conn: db.Conn) -> None:
    """Hold the reserve (and no other advisory lock of this session)."""
    conn.execute("SELECT pg_catalog.pg_advisory_unlock_all()")
    conn.execute(
        "SELECT count(pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext(%s), g)) "
        "FROM pg_catalog.generate_series(1, %s) g",
        (_KEY, RESERVE),
    )


def reserve_release(conn: db.Conn) -> None:
    """Give the reserve's slots back to the lock table (a function: it takes none)."""
    conn.execute("SELECT pg_catalog.pg_advisory_unlock_all()")
