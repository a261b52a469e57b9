"""The project's reader: one login role per project that can only read, for `run_sql` and
`describe_schema` (see `engines/sql_read.py` for how a read runs on it).

The reader owns nothing and belongs to no role; it is granted CONNECT on a database of the
project when a read needs it (database grants are not copied by a rollback's `CREATE
DATABASE … TEMPLATE`), and USAGE on the schemas and SELECT on the tables by their owner,
the project's role, with default privileges so the agent's next tables are readable too.
`default_transaction_read_only`, a statement timeout and a connection limit come on top.
It is stored in `readonly_roles` under the key `sql-reader:<project id>`, so it lives as
long as its project (snapshots hold its grants) and is dropped with it.

An "exclusive" grant is for a version's read copy: the project's role loses CONNECT on it
(its sessions end) and the database defaults to read-only, so nobody but the reader and
the engine reaches it — the copy cannot be written.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from . import names as ids
from . import readonly
from . import sql as db
from .records import RoleRow
from .rows import LocalRows


def reader_key(project_id: str) -> str:
    return f"sql-reader:{project_id}"


def _uri(name: str, password: str, host: str, port: int, dbname: str) -> str:
    host = f"[{host}]" if ":" in host else host
    return (
        f"postgresql://{quote(name, safe='')}:{quote(password, safe='')}@{host}:{port}/"
        f"{quote(dbname, safe='')}"
    )


class SqlReaderMixin(LocalRows):
    supports_sql_reads = True

    def sql_reader_uri(
        self,
        project_id: str,
        branch_id: str | None = None,
        *,
        grant: bool = False,
        exclusive: bool = False,
    ) -> str:
        with self._reading() as conn:
            self._project_row(conn, project_id)
            row = (
                self._branch_row(conn, project_id, branch_id)
                if branch_id
                else self._default_branch_row(conn, project_id)
            )
            dbname = row.dbname
            name, password = self._reader_ensure(conn, project_id)
            if grant or exclusive:
                self._reader_grant(conn, project_id, dbname, name, exclusive=exclusive)
        return _uri(name, password, self.host, self.port, dbname)

    def sql_owner_uri(self, project_id: str, branch_id: str) -> str:
        with self._reading() as conn:
            self._project_row(conn, project_id)
            dbname = self._branch_row(conn, project_id, branch_id).dbname
            role, password = self._role(conn, project_id)
            # A branch made without an endpoint is not connectable until opened.
            db.allow_connections(conn, dbname, True)
        return _uri(role, password, self.host, self.port, dbname)

    def _reader_ensure(self, conn: db.Conn, project_id: str) -> RoleRow:
        key = reader_key(project_id)
        known = readonly.role_of(conn, key)
        if known is not None:
            return known
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))
            known = readonly.role_of(conn, key)
            if known is None:
                name = readonly.role_prefix(self.names) + ids._suffix(12)
                password = ids.password()
                conn.execute(
                    "INSERT INTO readonly_roles (branch_id, project_id, name, password) "
                    "VALUES (%s, %s, %s, %s)",
                    (key, project_id, name, password),
                )
                readonly._create_role(conn, name, password)
                known = RoleRow(name, password)
        return known

    def _reader_grant(
        self, conn: db.Conn, project_id: str, dbname: str, reader: str, *, exclusive: bool
    ) -> None:
        role, password = self._role(conn, project_id)
        ident = sql.Identifier(dbname)
        # Concurrent GRANTs on one object fail ("tuple concurrently updated"): one at a time.
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (reader_key(project_id),))
        try:
            if exclusive:  # a restored branch accepts connections once it is served
                db.allow_connections(conn, dbname, True)
            conn.execute(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(ident, sql.Identifier(reader))
            )
            owner_uri = _uri(role, password, self.host, self.port, dbname)
            with psycopg.connect(owner_uri, autocommit=True, connect_timeout=10) as owner:
                _grant_reading(owner, reader)
            if exclusive:
                conn.execute(
                    sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(ident, sql.Identifier(role))
                )
                conn.execute(
                    sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(
                        ident
                    )
                )
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND usename = %s",
                    (dbname, role),
                )
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (reader_key(project_id),))


def _grant_reading(owner: psycopg.Connection[Any], reader: str) -> None:
    """As the owner: USAGE on its schemas, SELECT on its tables, now and later."""
    who = sql.Identifier(reader)
    for (schema,) in owner.execute(
        readonly.USER_SCHEMAS.replace("ORDER BY 1", "AND pg_has_role(nspowner, 'USAGE') ORDER BY 1")
    ).fetchall():
        ident = sql.Identifier(schema)
        owner.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(ident, who))
        owner.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(ident, who))
        owner.execute(
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
                ident, who
            )
        )
