"""Read-only roles of the local engine: one login role per branch that may only read it.

A share link's view connects with such a role, so it cannot write by construction, not by
hiding buttons: the role owns nothing and is granted only CONNECT on the branch's database,
USAGE on its schemas and SELECT on its tables (PUBLIC already lost CONNECT and TEMPORARY
on every engine database, and PostgreSQL 15+ gives PUBLIC no CREATE on `public`).
`default_transaction_read_only`, a statement timeout and a connection limit come on top.

Roles are named `ro_<engine prefix><suffix>`: they do not start with the engine's prefix,
so `LocalEngine.recover()` (which drops prefixed roles the catalog does not know) leaves
them alone; this module drops them with their branch. Their passwords are kept in the
control database like the projects' (`readonly_roles`), so the engine can hand out the
connection string again.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ..errors import EngineNotFound
from . import names as ids
from . import sql as db
from .records import RoleRow

SCHEMA = """
CREATE TABLE IF NOT EXISTS readonly_roles (
    branch_id text PRIMARY KEY,
    project_id text NOT NULL REFERENCES projects ON DELETE CASCADE,
    name text NOT NULL UNIQUE,
    password text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""
#: A public link must not take the server's connections or run long queries.
CONNECTION_LIMIT = 10
STATEMENT_TIMEOUT = "5s"
#: Schemas of the app (the system ones are readable by everyone already).
USER_SCHEMAS = (
    "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
    "AND nspname NOT IN ('information_schema', 'checkpoints_events') ORDER BY 1"
)


def role_prefix(names: ids.Names) -> str:
    return "ro_" + names.prefix


def role_of(conn: db.Conn, branch_id: str) -> RoleRow | None:
    row = conn.execute(
        "SELECT name, password FROM readonly_roles WHERE branch_id = %s", (branch_id,)
    ).fetchone()
    return RoleRow._make(row) if row else None


def ensure(
    conn: db.Conn,
    names: ids.Names,
    *,
    project_id: str,
    branch_id: str,
    dbname: str,
    owner_uri: str,
    options: str = "",
) -> None:
    """Create the branch's read-only role if it has none, then grant it reading.

    `conn` is the engine's control connection (it may CREATEROLE, and it owns the branch's
    database, so it grants CONNECT); the schema and table grants go through `owner_uri`,
    the connection of the role that owns the branch's objects (with the engine's pinned
    `options`: the owner is the agent's role, its defaults are the agent's)."""
    known = role_of(conn, branch_id)
    if known is None:
        name = role_prefix(names) + ids._suffix(12)
        password = ids.password()
        # Intent first: a crash after this leaves a row whose role `drop_for_branch` drops.
        conn.execute(
            "INSERT INTO readonly_roles (branch_id, project_id, name, password) "
            "VALUES (%s, %s, %s, %s)",
            (branch_id, project_id, name, password),
        )
        _create_role(conn, name, password)
    else:
        name = known.name
    # The engine owns the database (containment): only it may grant CONNECT on it.
    conn.execute(
        sql.SQL("GRANT CONNECT ON DATABASE {db} TO {who}").format(
            db=sql.Identifier(dbname), who=sql.Identifier(name)
        )
    )
    # The schemas' and tables' owner grants reading on its own objects.
    owner_info = make_conninfo(owner_uri, options=options) if options else owner_uri
    with psycopg.connect(owner_info, autocommit=True, connect_timeout=10) as owner:
        _grant_reading(owner, name)


def _create_role(conn: db.Conn, name: str, password: str) -> None:
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    if not exists:
        conn.execute("SET createrole_self_grant = ''")  # the engine needs ADMIN only
        conn.execute(
            sql.SQL(
                "CREATE ROLE {name} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                "NOINHERIT NOBYPASSRLS CONNECTION LIMIT {limit} PASSWORD {password}"
            ).format(
                name=sql.Identifier(name),
                limit=sql.Literal(CONNECTION_LIMIT),
                password=sql.Literal(db.scram_verifier(password)),
            )
        )
    for setting, value in (
        ("default_transaction_read_only", "on"),
        ("statement_timeout", STATEMENT_TIMEOUT),
    ):
        conn.execute(
            sql.SQL("ALTER ROLE {name} SET {setting} = {value}").format(
                name=sql.Identifier(name), setting=sql.Identifier(setting), value=sql.Literal(value)
            )
        )


def _grant_reading(owner: psycopg.Connection[Any], role: str) -> None:
    who = sql.Identifier(role)
    for (schema,) in owner.execute(USER_SCHEMAS).fetchall():
        ident = sql.Identifier(schema)
        owner.execute(sql.SQL("GRANT USAGE ON SCHEMA {s} TO {who}").format(s=ident, who=who))
        owner.execute(
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {who}").format(s=ident, who=who)
        )
        # A SECURITY DEFINER function of the app could write on the reader's behalf: this
        # branch serves only the share, so nobody else needs PUBLIC's EXECUTE here.
        owner.execute(
            sql.SQL("REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA {s} FROM PUBLIC").format(s=ident)
        )


def connection_uri(conn: db.Conn, *, branch_id: str, host: str, port: int, dbname: str) -> str:
    known = role_of(conn, branch_id)
    if known is None:
        raise EngineNotFound(f"branch {branch_id} has no read-only role", status=404)
    name, password = known
    host = f"[{host}]" if ":" in host else host
    return (
        f"postgresql://{quote(name, safe='')}:{quote(password, safe='')}@{host}:{port}/"
        f"{quote(dbname, safe='')}"
    )


def drop_for_branch(conn: db.Conn, branch_id: str) -> None:
    """Drop the branch's read-only role (after its database: the grants went with it)."""
    known = role_of(conn, branch_id)
    if known is not None:
        db.drop_role(conn, known.name)
        conn.execute("DELETE FROM readonly_roles WHERE branch_id = %s", (branch_id,))


def drop_for_project(conn: db.Conn, project_id: str) -> None:
    for (branch_id,) in conn.execute(
        "SELECT branch_id FROM readonly_roles WHERE project_id = %s", (project_id,)
    ).fetchall():
        drop_for_branch(conn, branch_id)
