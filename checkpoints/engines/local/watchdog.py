"""What one project may take of the PostgreSQL server every team shares, watched from the
engine's side (the workers run `watch_round` every few seconds, `checkpoints.queue.job_watchdog`).

- Advisory locks. A session advisory lock outlives its transaction, so no timeout ends
  it, and every lock takes a slot of the server's one lock table (about 64 per
  connection): one role could fill it and every other team's connection then fails with
  "out of shared memory". A project role (or a preview's role) holding more than the cap
  has its sessions ended, which releases them all.
- Disk. A project's live database past its quota turns read-only: `ALTER DATABASE … SET
  default_transaction_read_only` (the database is the engine's, the agent cannot ALTER
  it, and every new session starts read-only; its sessions are ended so none keeps
  writing). What the agent can undo: a session may `SET default_transaction_read_only =
  off` for itself. So a read-only live database that still grows (by more than a margin)
  has its role's sessions ended again at every round it grew: a writer lives at most one
  round. Revoking CONNECT instead would hold longer but also shut out the way back (a
  rollback reads the live database as the project's role). Under the quota, or after a
  rollback to a smaller version (a new database), it is writable again.
- CPU. A role whose running sessions used more than a few seconds of CPU together has
  them run at the lowest priority (`watchdog_cpu.py`), on a server of this machine.
- Roles. A project's or preview's role whose own SQL changed its password or defaults
  is put back at once (`watchdog_roles.py`).

The advisory query reads `pg_lock_status()` and `pg_stat_get_activity()` only (no table,
so no lock-table slot), from the watchdog's own control connection (`_watching`), kept
between rounds so it exists when the lock table is full and no new connection can start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from psycopg import sql

from . import contain, watchdog_cpu, watchdog_roles
from . import sql as db
from .watchdog_reserve import reserve_release, reserve_take

log = logging.getLogger(__name__)
_ELECTION = "checkpoints-engine-watchdog"
#: The live databases the watchdog made read-only, with their size then (by oid: a
#: rollback's new database under the same name is another one).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS watchdog_read_only (datoid oid PRIMARY KEY, size bigint NOT NULL);
DELETE FROM watchdog_read_only WHERE datoid NOT IN (SELECT oid FROM pg_catalog.pg_database);
"""
#: How much a read-only database may still grow (in-flight writes) before its sessions end.
GROWTH_MARGIN = 0.05

#: Only functions, no relation: it runs when the lock table is full (a shared catalog
#: such as pg_authid takes a slot of it for every read; these functions take none).
_ADVISORY = """
SELECT s.usesysid, count(*)
FROM pg_catalog.pg_lock_status() l
JOIN pg_catalog.pg_stat_get_activity(NULL) s ON s.pid = l.pid
WHERE l.locktype = 'advisory' AND s.usesysid = ANY (%s::oid[])
GROUP BY 1
HAVING count(*) > %s
"""
#: Each session's end is waited for (up to 5 s): its locks are gone when the round's
#: Activity entry needs a connection of its own.
_END = """
SELECT count(pg_catalog.pg_terminate_backend(s.pid, 5000))
FROM pg_catalog.pg_stat_get_activity(NULL) s
WHERE s.usesysid = %s AND s.backend_type = 'client backend'
"""
#: The project roles (and previews' roles) by oid, read every round while it can be:
#: when the lock table is full, the last round's answer names them.
_ROLES = """
SELECT a.oid, r.project_id, r.name
FROM (SELECT project_id, name FROM roles UNION ALL SELECT project_id, name FROM branch_roles) r
JOIN pg_catalog.pg_roles a ON a.rolname = r.name
"""
#: Per server (host:port): role oid -> (project id, role name).
_known_roles: dict[str, dict[int, tuple[str, str]]] = {}

_LIVE = """
SELECT e.project_id, e.dbname, r.name, pg_catalog.pg_database_size(d.oid),
       (SELECT w.size FROM watchdog_read_only w WHERE w.datoid = d.oid),
       d.oid
FROM endpoints e
JOIN branches b ON b.id = e.branch_id AND b.is_default
JOIN roles r ON r.project_id = e.project_id
JOIN pg_catalog.pg_database d ON d.datname = e.dbname
"""


@dataclass(frozen=True)
class Overrun:
    """What the watchdog did to one project: `what` is "advisory locks" (`amount` held,
    `ended` sessions), "read-only", "still growing" or "writable" (`amount`: bytes),
    "cpu" (`amount` sessions lowered, `limit` CPU seconds), "role repaired" or "preview
    role repaired" (`detail`: what)."""

    project_id: str
    role: str
    what: str
    amount: int
    limit: float
    ended: int = 0
    detail: str = ""


def watch_round(
    engine: object, *, advisory_cap: int, quota_bytes: int, cpu_seconds: float = 0.0
) -> list[Overrun]:
    """One round on one control connection, by one watcher at a time (an advisory lock
    of the engine's elects it; the others return at once): what it did. With the lock
    table full, only the advisory locks are looked at, by whoever gets there."""
    key = f"{engine.host}:{engine.port}"  # type: ignore[attr-defined]
    with engine._watching() as conn:  # type: ignore[attr-defined]
        try:
            known = {oid: (p, n) for oid, p, n in conn.execute(_ROLES).fetchall()}
            _known_roles[key] = known
            row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (_ELECTION,))
        except psycopg.errors.OutOfMemory:
            reserve_release(conn)  # the room ending the sessions takes (`watchdog_reserve`)
            try:
                return advisory_overruns(conn, advisory_cap, _known_roles.get(key, {}))
            except psycopg.errors.OutOfMemory:  # another watcher's check took the room first
                log.warning("watchdog round on %s: the lock table is still full", key)
                return []
        if not row.fetchone()[0]:
            reserve_take(conn)
            return []
        try:
            found = advisory_overruns(conn, advisory_cap, known)
            steps = (
                lambda: disk_quota_apply(conn, quota_bytes),
                lambda: cpu_overruns(conn, known, cpu_seconds),
                lambda: role_repairs(conn, key, engine.limits),  # type: ignore[attr-defined]
            )
            for step in steps:  # one failing (the lock table full again) keeps the rest
                try:
                    found += step()
                except psycopg.Error as error:
                    log.warning("watchdog round on %s: a step failed: %s", key, error)
            return found
        finally:
            reserve_take(conn)  # the election's lock let go with the rest


def advisory_overruns(conn: db.Conn, cap: int, known: dict[int, tuple[str, str]]) -> list[Overrun]:
    """End the sessions of every project role holding more than `cap` advisory locks."""
    if cap <= 0 or not known:
        return []
    found = []
    for oid, held in conn.execute(_ADVISORY, (list(known), cap)).fetchall():
        project_id, role = known[oid]
        row = conn.execute(_END, (oid,)).fetchone()
        ended = int(row[0]) if row else 0
        found.append(Overrun(project_id, role, "advisory locks", int(held), cap, ended))
    return found


def cpu_overruns(
    conn: db.Conn, known: dict[int, tuple[str, str]], cpu_seconds: float
) -> list[Overrun]:
    """Sessions past `cpu_seconds` of CPU lowered to the lowest priority, per role."""
    lowered = watchdog_cpu.cpu_demote(conn, known, cpu_seconds)
    return [Overrun(*known[oid], "cpu", count, cpu_seconds) for oid, count in lowered.items()]


def role_repairs(conn: db.Conn, key: str, limits: contain.RoleLimits) -> list[Overrun]:
    """Roles whose own SQL changed their state, put back."""
    return [
        Overrun(project_id, role, f"{'preview ' if preview else ''}role repaired", 0, 0,
                detail=", ".join(what))
        for project_id, role, preview, what in watchdog_roles.roles_repair(conn, key, limits)
    ]  # fmt: skip


def disk_quota_apply(conn: db.Conn, quota_bytes: int) -> list[Overrun]:
    """Turn live databases past `quota_bytes` read-only (and shut out a role whose read-
    only database still grew); lift both under it. Returns what changed."""
    if quota_bytes <= 0:
        return []
    changed = []
    conn.execute(_SCHEMA)
    for project_id, dbname, role, size, since, oid in conn.execute(_LIVE).fetchall():
        step = _disk_step(conn, dbname, role, size, quota_bytes, since, oid)
        if step:
            changed.append(Overrun(project_id, role, step, int(size), quota_bytes))
    return changed


def _disk_step(
    conn: db.Conn,
    dbname: str,
    role: str,
    size: int,
    quota: int,
    since: int | None,
    oid: int,
) -> str:
    """`since`: the size when the database turned read-only (kept in the engine's
    catalog), None while writable."""
    name = sql.Identifier(dbname)
    if size <= quota:
        if since is None:
            return ""
        conn.execute(sql.SQL("ALTER DATABASE {} RESET default_transaction_read_only").format(name))
        conn.execute("DELETE FROM watchdog_read_only WHERE datoid = %s", (oid,))
        return "writable"
    if since is None:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(name)
        )
        conn.execute("INSERT INTO watchdog_read_only VALUES (%s, %s)", (oid, size))
        contain.end_role_sessions(conn, role)
        return "read-only"
    if size > since * (1 + GROWTH_MARGIN):
        # A session lifted read-only for itself: it ends, and so does the next one.
        conn.execute("UPDATE watchdog_read_only SET size = %s WHERE datoid = %s", (size, oid))
        contain.end_role_sessions(conn, role)
        return "still growing"
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


_READ_ONLY = """
SELECT w.size FROM watchdog_read_only w
JOIN pg_catalog.pg_database d ON d.oid = w.datoid
JOIN endpoints e ON e.dbname = d.datname
JOIN branches b ON b.id = e.branch_id AND b.is_default
WHERE e.project_id = %s
"""


def read_only_size(engine: object, project_id: str) -> int | None:
    """The size at which the watchdog turned the project's live database read-only
    (None: it did not, or it is writable again). One indexed read of the engine's catalog."""
    with engine._reading() as conn:  # type: ignore[attr-defined]
        row = conn.execute("SELECT pg_catalog.to_regclass('watchdog_read_only')").fetchone()
        if not row or row[0] is None:
            return None
        found = conn.execute(_READ_ONLY, (project_id,)).fetchone()
    return int(found[0]) if found else None
