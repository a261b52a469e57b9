"""The embedded server's least-privilege roles: Django's and the local engine's.

`checkpoints_app` owns the metadata database and nothing else; `checkpoints_engine` may
create databases and roles (the projects'), end their sessions and bound their temporary
files (SET on `temp_file_limit`), but is no superuser. Their passwords are generated once
and kept in the data folder (`roles.json`, mode 600), set as SCRAM verifiers so that no
password ever reaches the server's log. `ensure_roles` runs at every start (idempotent)
and hands over what the superuser made before these roles existed: the metadata database
and its tables to the app's role, every other database and the projects' roles to the
engine's (PostgreSQL 16+: a CREATEROLE role manages only roles it holds with ADMIN OPTION).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from checkpoints.servers.pgserver import (
    SERVER_DATABASES,
    SUPERUSER,
    EmbeddedPostgres,
    ServerConfig,
    read_config,
)

APP_ROLE = "checkpoints_app"
ENGINE_ROLE = "checkpoints_engine"
ROLES_FILE = "roles.json"
_APP_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
_ENGINE_ATTRIBUTES = "LOGIN NOSUPERUSER CREATEDB CREATEROLE NOREPLICATION NOBYPASSRLS"
#: pg_signal_backend: end projects' sessions (swap, snapshot, rotate); pg_read_all_stats:
#: sizes and activity of every database; pg_checkpoint and pg_read_all_settings: the
#: benchmark's checkpoints and data-folder sizes, the reflink probe's data folder.
_ENGINE_MEMBER_OF = (
    "pg_signal_backend",
    "pg_read_all_stats",
    "pg_checkpoint",
    "pg_read_all_settings",
)


@dataclass(frozen=True)
class RolePasswords:
    app: str
    engine: str


def read_passwords(data_dir: Path) -> RolePasswords | None:
    """The two roles' passwords kept under the server's data folder, or None."""
    path = Path(data_dir) / ROLES_FILE
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    return RolePasswords(app=raw[APP_ROLE], engine=raw[ENGINE_ROLE])


#: Whether the local engine connects as ENGINE_ROLE (not the superuser). Tests follow it
#: (tests/postgres_plugin.py); False runs the engine as the superuser, as before.
ENGINE_ROLE_IN_USE = True


def app_url(data_dir: Path, database: str) -> str | None:
    """Django's URL for `database` on the embedded server under `data_dir`, or None."""
    return role_url(data_dir, APP_ROLE, database)


def engine_url(data_dir: Path) -> str | None:
    """The local engine's admin URL on the embedded server under `data_dir`, or None."""
    if not ENGINE_ROLE_IN_USE:
        return None
    return role_url(data_dir, ENGINE_ROLE, "postgres")


def role_url(data_dir: Path, role: str, database: str) -> str | None:
    """A URL as APP_ROLE or ENGINE_ROLE, or None before `ensure_roles` ran there."""
    config, passwords = read_config(data_dir), read_passwords(data_dir)
    if config is None or passwords is None:
        return None
    password = passwords.app if role == APP_ROLE else passwords.engine
    return ServerConfig(port=config.port, password=password).url(database, user=role)


def ensure_roles(server: EmbeddedPostgres, metadata_db: str | None) -> RolePasswords:
    """Both roles with their attributes and passwords, the metadata database (None: the
    operator's own, elsewhere) owned by the app's role, created if missing, and the
    superuser's older objects handed over."""
    passwords = _passwords(server.data_dir)
    keep = (*SERVER_DATABASES, *([metadata_db] if metadata_db else []))
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        _ensure_role(conn, APP_ROLE, passwords.app, _APP_ATTRIBUTES)
        _ensure_role(conn, ENGINE_ROLE, passwords.engine, _ENGINE_ATTRIBUTES)
        engine = sql.Identifier(ENGINE_ROLE)
        for group in _ENGINE_MEMBER_OF:
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), engine))
        # The engine holds the roles it creates with ADMIN and SET, never INHERIT (no
        # automatic self-grant: it gave the engine every project's privileges).
        conn.execute(sql.SQL("ALTER ROLE {} RESET createrole_self_grant").format(engine))
        conn.execute(sql.SQL("GRANT SET ON PARAMETER temp_file_limit TO {}").format(engine))
        # Its admin connection opens `postgres`, which PUBLIC may no longer connect to.
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE postgres TO {}").format(engine))
        if metadata_db:
            _ensure_metadata_db(conn, metadata_db)
        # A superuser engine would take warm copies it does not own for touched ones.
        engine_dbs = _hand_over_databases(conn, exclude=keep) if ENGINE_ROLE_IN_USE else []
        if ENGINE_ROLE_IN_USE:
            _hand_over_roles(conn)
    if metadata_db:
        _hand_over_objects(server, metadata_db, APP_ROLE)
        server.keep_out_of((metadata_db,))
    for name in engine_dbs:
        _hand_over_objects(server, name, ENGINE_ROLE)
    for name in ("postgres", "template1", *engine_dbs):
        _let_engine_read_verifiers(server, name)
    return passwords


def _passwords(data_dir: Path) -> RolePasswords:
    existing = read_passwords(data_dir)
    if existing is not None:
        return existing
    made = RolePasswords(app=secrets.token_urlsafe(24), engine=secrets.token_urlsafe(24))
    path = Path(data_dir) / ROLES_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({APP_ROLE: made.app, ENGINE_ROLE: made.engine}, out, indent=2)
    return made


def _ensure_role(conn: psycopg.Connection, name: str, password: str, attributes: str) -> None:
    if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
        try:
            conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateObject:
            pass  # another launcher (--exec beside `make run`) made it a moment ago
    verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256")
    conn.execute(
        sql.SQL("ALTER ROLE {} " + attributes + " PASSWORD {}").format(
            sql.Identifier(name), sql.Literal(verifier.decode())
        )
    )


def _ensure_metadata_db(conn: psycopg.Connection, name: str) -> None:
    row = conn.execute(
        "SELECT r.rolname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
        "WHERE d.datname = %s",
        (name,),
    ).fetchone()
    ident, owner = sql.Identifier(name), sql.Identifier(APP_ROLE)
    if row is None:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(ident, owner))
    elif row[0] != APP_ROLE:
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(ident, owner))


def _hand_over_databases(conn: psycopg.Connection, *, exclude: tuple[str, ...]) -> list[str]:
    """Every other database the superuser owns becomes the engine's (they are all its
    own on the embedded server); return the connectable ones, to hand over their objects."""
    rows = conn.execute(
        "SELECT datname, datallowconn FROM pg_database "
        "WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = %s) "
        "AND datname <> ALL(%s) AND NOT datistemplate",
        (SUPERUSER, ["template0", *exclude]),
    ).fetchall()
    for name, _ in rows:
        conn.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                sql.Identifier(name), sql.Identifier(ENGINE_ROLE)
            )
        )
    return [name for name, connectable in rows if connectable]


def _hand_over_roles(conn: psycopg.Connection) -> None:
    """The engine administers every project role (also the superuser's) as it holds the
    roles it creates: ADMIN and SET, not INHERIT (docs/roles.md), whoever granted it."""
    engine = sql.Identifier(ENGINE_ROLE)
    for name, grantor in conn.execute(
        "SELECT m.roleid::regrole::text, m.grantor::regrole::text FROM pg_auth_members m "
        "WHERE m.member = %s::regrole AND m.inherit_option AND m.roleid::regrole::text !~ '^pg_'",
        (ENGINE_ROLE,),
    ).fetchall():
        revoke = sql.SQL("REVOKE INHERIT OPTION FOR {} FROM {} GRANTED BY {}")
        conn.execute(revoke.format(sql.SQL(name), engine, sql.SQL(grantor)))
    rows = conn.execute(
        "SELECT r.rolname FROM pg_roles r WHERE NOT r.rolsuper AND r.rolname !~ '^pg_' "
        "AND r.rolname <> ALL(%s) AND NOT EXISTS (SELECT 1 FROM pg_auth_members m "
        "WHERE m.roleid = r.oid AND m.member = %s::regrole AND m.admin_option "
        "AND m.set_option)",
        ([APP_ROLE, ENGINE_ROLE], ENGINE_ROLE),
    ).fetchall()
    for (name,) in rows:
        conn.execute(
            sql.SQL("GRANT {} TO {} WITH ADMIN OPTION, INHERIT FALSE, SET TRUE").format(
                sql.Identifier(name), engine
            )
        )


#: Relations and schemas the superuser owns in one database (tables first: ALTER TABLE
#: also moves their indexes and the sequences of their identity columns).
_SUPERUSER_OBJECTS = """
SELECT kind, name FROM (
  SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
              WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
         c.oid::regclass::text, CASE c.relkind WHEN 'S' THEN 2 ELSE 1 END
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relowner = %(owner)s::regrole AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                    AND d.objid = c.oid AND d.deptype IN ('a', 'i')
                    AND d.refclassid = 'pg_class'::regclass)
  UNION ALL
  SELECT 'SCHEMA', quote_ident(n.nspname), 0 FROM pg_namespace n
  WHERE n.nspowner = %(owner)s::regrole
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
) objects (kind, name, step) ORDER BY step, name
"""


def _let_engine_read_verifiers(server: EmbeddedPostgres, database: str) -> None:
    """The engine compares a project role's stored verifier with its password, to notice
    and report a changed one. pg_authid is shared, but its ACL lives in each database's
    pg_class: granted in template1, it comes with every database the engine creates."""
    with psycopg.connect(server.url(database), autocommit=True) as conn:
        conn.execute(
            sql.SQL("GRANT SELECT ON pg_catalog.pg_authid TO {}").format(
                sql.Identifier(ENGINE_ROLE)
            )
        )


def _hand_over_objects(server: EmbeddedPostgres, database: str, role: str) -> None:
    """Tables, sequences, views and schemas of `database` made by the superuser (an
    installation from before these roles) now belong to `role`."""
    with psycopg.connect(server.url(database), autocommit=True) as conn:
        rows = conn.execute(_SUPERUSER_OBJECTS, {"owner": SUPERUSER}).fetchall()
        with conn.transaction():
            for kind, name in rows:
                conn.execute(
                    sql.SQL("ALTER {} {} OWNER TO {}").format(
                        sql.SQL(kind), sql.SQL(name), sql.Identifier(role)
                    )
                )
