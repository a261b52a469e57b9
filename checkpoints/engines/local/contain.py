"""Containment of a project's role on the local engine: what its SQL may never change.

Every database (branches, snapshots, warm copies) is owned by the engine's role; a project
role only has CONNECT, TEMPORARY and CREATE on its branches and owns the schema objects it
creates (`public` included), so it cannot drop, rename or re-configure a database, nor open
a snapshot or warm copy. What PostgreSQL does let a role change about itself — its password
and its `ALTER ROLE … SET` defaults — is the engine's: `apply_role_state` puts them back
(and the engine's limits: connection limit, statement and idle-in-transaction timeouts),
saying what it had to repair.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from psycopg import sql

from .sql import Conn, scram_verifier


@dataclass(frozen=True)
class RoleLimits:
    """Per-project limits set on every project role (PostgreSQL setting syntax)."""

    connection_limit: int = 20
    statement_timeout: str = "5min"
    idle_in_transaction_timeout: str = "1min"
    #: The temporary files one session may write (sorts, hashes): a superuser-only
    #: setting, so the agent cannot lift it (the engine needs SET on it: pgroles).
    temp_file_limit: str = "2GB"

    def settings(self) -> dict[str, str]:
        return {
            "statement_timeout": self.statement_timeout,
            "idle_in_transaction_session_timeout": self.idle_in_transaction_timeout,
            "temp_file_limit": self.temp_file_limit,
        }


def wanted_settings(conn: Conn, limits: RoleLimits) -> dict[str, str]:
    """The role defaults the engine sets: `temp_file_limit` only where the engine may set
    it (an external server whose administrator did not grant SET on it)."""
    wanted = limits.settings()
    row = conn.execute(
        "SELECT pg_catalog.has_parameter_privilege('temp_file_limit', 'SET')"
    ).fetchone()
    if not (row and row[0]):
        wanted.pop("temp_file_limit")
    return wanted


def verifier_matches(verifier: str | None, password: str) -> bool:
    """Whether the SCRAM-SHA-256 verifier PostgreSQL stores is one of `password`."""
    if not verifier or not verifier.startswith("SCRAM-SHA-256$"):
        return False
    try:
        head, keys = verifier.removeprefix("SCRAM-SHA-256$").split("$", 1)
        iterations, salt = head.split(":", 1)
        stored_key = keys.split(":", 1)[0]
        salted = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), base64.b64decode(salt), int(iterations)
        )
    except ValueError:
        return False
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    expected = base64.b64encode(hashlib.sha256(client_key).digest()).decode()
    return hmac.compare_digest(expected, stored_key)


# pg_authid (the stored verifier) is readable by superusers only: an engine role without
# it cannot see a changed password, so it sets the password again every time.
_ROLE_STATE = """
SELECT CASE WHEN has_table_privilege('pg_catalog.pg_authid', 'SELECT')
            THEN (SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = a.rolname)
            ELSE '?' END,
       a.rolconnlimit,
       coalesce((SELECT array_agg(coalesce(d.datname, '') || ':' || c ORDER BY 1)
                 FROM pg_db_role_setting s LEFT JOIN pg_database d ON d.oid = s.setdatabase,
                      unnest(s.setconfig) c
                 WHERE s.setrole = a.oid), '{}'),
       coalesce((SELECT array_agg(DISTINCT d.datname)
                 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
                 WHERE s.setrole = a.oid), '{}')
FROM pg_roles a WHERE a.rolname = %s
"""


def role_state_differs(
    conn: Conn, role: str, password: str, limits: RoleLimits
) -> tuple[list[str], bool, list[str]]:
    """What differs from the engine's state of the role (one read, no change): the items,
    whether the password could not be seen (no pg_authid), the databases with settings."""
    row = conn.execute(_ROLE_STATE, (role,)).fetchone()
    if row is None:
        return [], False, []
    verifier, conn_limit, settings, per_database = row
    wanted = sorted(f":{key}={value}" for key, value in wanted_settings(conn, limits).items())
    differs = []
    unseen = verifier == "?"
    if not unseen and not verifier_matches(verifier, password):
        differs.append("password")
    if sorted(settings) != wanted:
        differs.append("settings")
    if conn_limit != limits.connection_limit:
        differs.append("connection limit")
    return differs, unseen, list(per_database)


def apply_role_state(
    conn: Conn, role: str, password: str, limits: RoleLimits, *, force: bool = False
) -> list[str]:
    """Make the role's password, settings and connection limit the engine's again (one
    read; statements only for what differs, or all with `force`); return what was
    repaired: "password", "settings", "connection limit" (empty when nothing was off)."""
    repaired, unseen, per_database = role_state_differs(conn, role, password, limits)
    if not repaired and not force and not unseen:
        return []
    ident = sql.Identifier(role)
    with conn.transaction():
        if force or unseen or "password" in repaired:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    ident, sql.Literal(scram_verifier(password))
                )
            )
        # Only a superuser may name SUPERUSER, REPLICATION or BYPASSRLS (even to take them
        # away); an engine that is not one cannot have granted them either.
        superuser = conn.execute("SELECT current_setting('is_superuser') = 'on'").fetchone()
        privileged = "NOSUPERUSER NOREPLICATION NOBYPASSRLS " if superuser and superuser[0] else ""
        conn.execute(
            sql.SQL(
                "ALTER ROLE {} " + privileged + "NOCREATEDB NOCREATEROLE LOGIN CONNECTION LIMIT {}"
            ).format(ident, sql.Literal(limits.connection_limit))
        )
        for dbname in per_database:
            conn.execute(
                sql.SQL("ALTER ROLE {} IN DATABASE {} RESET ALL").format(
                    ident, sql.Identifier(dbname)
                )
            )
        conn.execute(sql.SQL("ALTER ROLE {} RESET ALL").format(ident))
        for key, value in wanted_settings(conn, limits).items():
            conn.execute(
                sql.SQL("ALTER ROLE {} SET {} = {}").format(
                    ident, sql.Identifier(key), sql.Literal(value)
                )
            )
    return repaired


def grant_branch(conn: Conn, dbname: str, role: str) -> None:
    """Only `role` (and the engine) may connect; it may create schemas and temp tables."""
    name = sql.Identifier(dbname)
    conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(name))
    conn.execute(
        sql.SQL("GRANT CONNECT, TEMPORARY, CREATE ON DATABASE {} TO {}").format(
            name, sql.Identifier(role)
        )
    )


def revoke_branch(conn: Conn, dbname: str, role: str) -> None:
    """`role` may no longer connect to `dbname` (a snapshot it loaded): the engine's alone."""
    conn.execute(
        sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(
            sql.Identifier(dbname), sql.Identifier(role)
        )
    )


def give_public_schema(conn: Conn, role: str) -> None:
    """On a connection to a new branch database: `role` owns schema `public` (it belongs
    to the database's owner, the engine, otherwise), so the app creates tables there."""
    if conn.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'public'").fetchone():
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(role)))


def untouched(conn: Conn, dbname: str) -> bool:
    """A warm copy nobody could have changed: the engine's, not connectable, no grants
    beyond the engine's own, nobody on it."""
    row = conn.execute(
        "SELECT d.datdba = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
        "AND NOT d.datallowconn AND d.datacl IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM aclexplode(d.datacl) x WHERE x.grantee <> d.datdba) "
        "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datid = d.oid) "
        "FROM pg_database d WHERE d.datname = %s",
        (dbname,),
    ).fetchone()
    return bool(row and row[0])


def end_role_sessions(conn: Conn, role: str) -> int:
    """Signal every session of `role` to end (a rotated password); return how many."""
    row = conn.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE usename = %s AND backend_type = 'client backend'",
        (role,),
    ).fetchone()
    return int(row[0]) if row else 0


@contextmanager
def privileges_of(conn: Conn, *roles: str) -> Iterator[None]:
    """One transaction of `conn` in which the engine holds `roles`' privileges (INHERIT),
    taken back before it commits: no other session ever sees the engine inherit a
    project's role. Only for catalog statements that run none of the agent's code
    (`REASSIGN OWNED`, `ALTER SCHEMA … OWNER`), which PostgreSQL allows only to a role
    with the privileges of both owners."""
    with conn.transaction():
        for role in roles:
            conn.execute(
                sql.SQL("GRANT {} TO CURRENT_USER WITH INHERIT TRUE").format(sql.Identifier(role))
            )
        yield
        for role in roles:
            conn.execute(
                sql.SQL("GRANT {} TO CURRENT_USER WITH INHERIT FALSE").format(sql.Identifier(role))
            )
