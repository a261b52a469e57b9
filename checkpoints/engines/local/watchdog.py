"""What one project may take of the PostgreSQL server every team shares, watched from the
engine's side (the workers run `watch_round` every few seconds, `checkpoints.job_watchdog`).

- Advisory locks. A session advisory lock outlives its transaction, so no timeout ends
  it, and every lock takes a slot of the server's one lock table (about 64 per
  connection): one role could fill it and every other team's connection then fails with
  "out of shared memory". A project role (or a preview's role) holding more than the cap
  has its sessions ended, which releases them all.
- Disk. A project's live database past its quota turns read-only: `ALTER DATABASE … SET
  default_transaction_read_only` (the database is the engine's, the agent cannot ALTER
  it, and every new session starts read-only; its sessions are ended so none keeps
  writing). A session can still `SET default_transaction_read_only = off` for itself, so
  a live database that keeps growing past the hard limit (the quota plus a margin) loses
  the role's CONNECT as well, until it is back under the quota (a rollback to a smaller
  version gives a new database with the grant). Under the quota both are lifted.

The queries read `pg_lock_status()` and `pg_stat_get_activity()` directly, qualified,
from the engine's control connection (parked, so it exists when the lock table is full).
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from . import contain
from . import sql as db

_ELECTION = "checkpoints-engine-watchdog"
#: Beyond the quota, how much more a read-only database may grow before CONNECT goes.
HARD_MARGIN = 0.10

_ADVISORY = """
SELECT r.project_id, r.name, count(*)
FROM pg_catalog.pg_lock_status() l
JOIN pg_catalog.pg_stat_get_activity(NULL) s ON s.pid = l.pid
JOIN (SELECT project_id, name FROM roles
      UNION ALL SELECT project_id, name FROM branch_roles) r
  ON r.name = (SELECT rolname FROM pg_catalog.pg_roles WHERE oid = s.usesysid)
WHERE l.locktype = 'advisory'
GROUP BY 1, 2
HAVING count(*) > %s
"""

_LIVE = """
SELECT e.project_id, e.dbname, r.name, pg_catalog.pg_database_size(d.oid),
       EXISTS (SELECT 1 FROM pg_catalog.pg_db_role_setting s
               WHERE s.setdatabase = d.oid AND s.setrole = 0
                 AND 'default_transaction_read_only=on' = ANY (s.setconfig)),
       pg_catalog.has_database_privilege(r.name, d.oid, 'CONNECT')
FROM endpoints e
JOIN branches b ON b.id = e.branch_id AND b.is_default
JOIN roles r ON r.project_id = e.project_id
JOIN pg_catalog.pg_database d ON d.datname = e.dbname
"""


@dataclass(frozen=True)
class Overrun:
    """What the watchdog did to one project: `what` is "advisory locks" (`amount` held,
    `ended` sessions), "read-only", "no connections" or "writable" (`amount`: bytes)."""

    project_id: str
    role: str
    what: str
    amount: int
    limit: int
    ended: int = 0


def watch_round(engine: object, *, advisory_cap: int, quota_bytes: int) -> list[Overrun]:
    """One round on one control connection, by one watcher at a time (an advisory lock
    of the engine's elects it; the others return at once): what it did."""
    with engine._reading() as conn:  # type: ignore[attr-defined]
        row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (_ELECTION,)).fetchone()
        if not (row and row[0]):
            return []
        try:
            return advisory_overruns(conn, advisory_cap) + disk_quota_apply(conn, quota_bytes)
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (_ELECTION,))


def advisory_overruns(conn: db.Conn, cap: int) -> list[Overrun]:
    """End the sessions of every project role holding more than `cap` advisory locks."""
    if cap <= 0:
        return []
    found = []
    for project_id, role, held in conn.execute(_ADVISORY, (cap,)).fetchall():
        ended = contain.end_role_sessions(conn, role)
        found.append(Overrun(project_id, role, "advisory locks", int(held), cap, ended))
    return found


def disk_quota_apply(conn: db.Conn, quota_bytes: int) -> list[Overrun]:
    """Turn live databases past `quota_bytes` read-only (and, past the hard limit, shut
    their role out); lift both under it. Returns what changed."""
    if quota_bytes <= 0:
        return []
    hard = int(quota_bytes * (1 + HARD_MARGIN))
    changed = []
    for project_id, dbname, role, size, read_only, can_connect in conn.execute(_LIVE).fetchall():
        step = _disk_step(conn, dbname, role, size, quota_bytes, hard, read_only, can_connect)
        if step:
            changed.append(Overrun(project_id, role, step, int(size), quota_bytes))
    return changed


def _disk_step(
    conn: db.Conn,
    dbname: str,
    role: str,
    size: int,
    quota: int,
    hard: int,
    read_only: bool,
    can_connect: bool,
) -> str:
    name, who = sql.Identifier(dbname), sql.Identifier(role)
    if size <= quota:
        if not (read_only or not can_connect):
            return ""
        conn.execute(sql.SQL("ALTER DATABASE {} RESET default_transaction_read_only").format(name))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(name, who))
        return "writable"
    if size > hard and can_connect:
        conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(name, who))
        contain.end_role_sessions(conn, role)
        return "no connections"
    if not read_only:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(name)
        )
        contain.end_role_sessions(conn, role)
        return "read-only"
    return ""


def live_size(engine: object, project_id: str) -> int | None:
    """The size of the project's live database in bytes (None: not found)."""
    with engine._reading() as conn:  # type: ignore[attr-defined]
        row = conn.execute(
            "SELECT pg_catalog.pg_database_size(e.dbname) FROM endpoints e "
            "JOIN branches b ON b.id = e.branch_id AND b.is_default WHERE e.project_id = %s",
            (project_id,),
        ).fetchone()
    return int(row[0]) if row else None
