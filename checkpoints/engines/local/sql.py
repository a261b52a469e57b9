"""Server-level SQL the local engine runs: copies, drops, renames, grants, ending sessions.

Database and role names never reach SQL as text: always `psycopg.sql.Identifier`.
All functions take an autocommit connection to the control database (CREATE/DROP DATABASE
cannot run in a transaction block); renames and grants may also run inside one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

import psycopg
from psycopg import sql

from ..errors import EngineTransientError
from .strategy import copy_strategy

Conn = psycopg.Connection[Any]


def database_exists(conn: Conn, name: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
    )


def database_size(conn: Conn, name: str) -> int | None:
    row = conn.execute(
        "SELECT pg_database_size(oid) FROM pg_database WHERE datname = %s", (name,)
    ).fetchone()
    return row[0] if row else None


def try_clone_copies(conn: Conn) -> bool:
    """Ask PostgreSQL 18 to copy files with the kernel's clone/copy_file_range (O(1) on
    file systems with reflinks). False where the setting is unknown or unsupported."""
    try:
        conn.execute("SET file_copy_method = clone")
    except psycopg.Error:
        return False
    return True


def wal_since_checkpoint(conn: Conn) -> int | None:
    """Bytes of WAL since the last checkpoint began: about what a checkpoint now would
    flush (the insert position: with asynchronous commits the write position lags). None where the role may not read the control file (not a superuser)."""
    try:
        row = conn.execute(
            "SELECT pg_current_wal_insert_lsn() - redo_lsn FROM pg_control_checkpoint()"
        ).fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row and row[0] is not None else None


def sessions_on(conn: Conn, name: str) -> int:
    """How many sessions are connected to database `name` (any role's)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE datname = %s", (name,)
    ).fetchone()
    return int(row[0]) if row else 0


def copy_database(
    conn: Conn,
    name: str,
    *,
    template: str,
    owner: str | None = None,
    allow_connections: bool = False,
    clone: bool = True,
) -> None:
    """CREATE DATABASE name TEMPLATE template with the faster strategy (`copy_strategy`:
    WAL_LOG for small templates and right after heavy writes; FILE_COPY, with
    `file_copy_method = clone` where the server supports it, for the rest). The copy gets no
    database-level grants (PostgreSQL does not copy them): call `restrict_access` next."""
    size = database_size(conn, template) or 0
    strategy = copy_strategy(size, wal_since_checkpoint(conn) if size else None)
    if strategy == "FILE_COPY" and clone:
        try_clone_copies(conn)
    query = sql.SQL("CREATE DATABASE {name} TEMPLATE {template} STRATEGY {strategy}").format(
        name=sql.Identifier(name), template=sql.Identifier(template), strategy=sql.SQL(strategy)
    )
    if owner:
        query += sql.SQL(" OWNER {owner}").format(owner=sql.Identifier(owner))
    query += sql.SQL(" ALLOW_CONNECTIONS {allow}").format(
        allow=sql.SQL("true" if allow_connections else "false")
    )
    conn.execute(query)


def create_empty_database(conn: Conn, name: str, *, owner: str | None = None) -> None:
    query = sql.SQL("CREATE DATABASE {name} TEMPLATE template1").format(name=sql.Identifier(name))
    if owner:
        query += sql.SQL(" OWNER {owner}").format(owner=sql.Identifier(owner))
    conn.execute(query)


def restrict_access(conn: Conn, name: str, role: str | None) -> None:
    """Only `role` (and superusers) may connect: REVOKE from PUBLIC, GRANT to the role."""
    conn.execute(
        sql.SQL("REVOKE ALL ON DATABASE {name} FROM PUBLIC").format(name=sql.Identifier(name))
    )
    if role:
        conn.execute(
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {name} TO {role}").format(
                name=sql.Identifier(name), role=sql.Identifier(role)
            )
        )


def allow_connections(conn: Conn, name: str, allow: bool) -> None:
    conn.execute(
        sql.SQL("ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}").format(
            name=sql.Identifier(name), allow=sql.SQL("true" if allow else "false")
        )
    )


def rename_database(conn: Conn, old: str, new: str) -> None:
    conn.execute(
        sql.SQL("ALTER DATABASE {old} RENAME TO {new}").format(
            old=sql.Identifier(old), new=sql.Identifier(new)
        )
    )


def drop_database(conn: Conn, name: str) -> None:
    conn.execute(
        sql.SQL("DROP DATABASE IF EXISTS {name} WITH (FORCE)").format(name=sql.Identifier(name))
    )


def scram_verifier(password: str, *, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677).

    Roles are created with the verifier, never the clear password, so the password cannot
    reach the server log even if the statement fails and is logged."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def create_role(conn: Conn, name: str, password: str) -> None:
    """A login role for one project (`password`: ASCII, as `names.password` makes).

    The engine holds it with ADMIN (PostgreSQL gives its creator that) and SET, never
    INHERIT: it may `SET ROLE` to it and give it objects (`ALTER … OWNER TO`), but its own
    sessions have none of the role's privileges (docs/roles.md). `createrole_self_grant`
    (an operator may have set it) is off for this statement."""
    conn.execute("SET createrole_self_grant = ''")  # for the rest of this session too
    conn.execute(
        sql.SQL(
            "CREATE ROLE {name} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
            "PASSWORD {password}"
        ).format(name=sql.Identifier(name), password=sql.Literal(scram_verifier(password)))
    )
    conn.execute(
        sql.SQL("GRANT {name} TO CURRENT_USER WITH INHERIT FALSE, SET TRUE").format(
            name=sql.Identifier(name)
        )
    )


def drop_role(conn: Conn, name: str) -> None:
    conn.execute(sql.SQL("DROP ROLE IF EXISTS {name}").format(name=sql.Identifier(name)))


def terminate_sessions(conn: Conn, name: str) -> int:
    """Signal every other client session on database `name` to end; return how many were
    seen. Autovacuum workers are left to the server: it ends them itself for a rename or a
    drop, and only a superuser (or pg_signal_autovacuum_worker) may signal them."""
    row = conn.execute(
        "SELECT count(*), count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
        (name,),
    ).fetchone()
    return int(row[0]) if row else 0


def end_sessions(conn: Conn, name: str, *, timeout: float = 10.0) -> None:
    """End every session on `name` and wait until they are gone.

    Call it after `allow_connections(name, False)`, outside a transaction block (each
    autocommit statement sees a fresh pg_stat_activity). Terminates, then watches at a
    millisecond interval; done after two consecutive empty looks, so a client that passed
    the connection check just before connections were blocked is caught as well.
    """
    deadline = time.monotonic() + timeout
    empty_looks = 0
    interval = 0.0005
    while empty_looks < 2:
        if terminate_sessions(conn, name):
            empty_looks = 0
        else:
            empty_looks += 1
        if time.monotonic() > deadline:
            raise EngineTransientError(
                f"sessions on a database did not end within {timeout:.0f}s; try again"
            )
        time.sleep(interval)
        interval = min(interval * 2, 0.01)
