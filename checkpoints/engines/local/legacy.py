"""Once per server: databases made before containment belonged to the project's role.
The engine takes them over (schema `public` passes to the role, which owned it through
the database), and drops such warm copies (a warm-up makes them again)."""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from ..base import mask_password
from . import contain
from . import sql as db
from .rows import LocalRows

log = logging.getLogger(__name__)

_UNCONTAINED = (
    "SELECT x.kind, x.dbname, r.name, x.project_id, d.datallowconn FROM ("
    "  SELECT 'branch' AS kind, dbname, project_id FROM branches WHERE state = 'ready' "
    "  UNION ALL SELECT 'snapshot', dbname, project_id FROM snapshots "
    "  WHERE state = 'ready' "
    "  UNION ALL SELECT 'warm', dbname, project_id FROM warm_copies) x "
    "JOIN roles r ON r.project_id = x.project_id "
    "JOIN pg_database d ON d.datname = x.dbname "
    "WHERE d.datdba <> (SELECT oid FROM pg_roles WHERE rolname = current_user) "
    "OR x.kind = 'snapshot'"
)


class LegacyMixin(LocalRows):
    def _contain_legacy(self, conn: db.Conn) -> None:
        """Take over every database made before containment (see the module docstring);
        recorded done only when none was left out (a project locked, an error)."""
        if conn.execute("SELECT 1 FROM engine_meta WHERE key = 'contained'").fetchone():
            return
        complete = True
        for kind, dbname, role, project_id, allowed in conn.execute(_UNCONTAINED).fetchall():
            if not self._try_lock(conn, project_id):
                complete = False
                continue
            try:
                self._take_over(conn, kind, dbname, role, allowed)
            except psycopg.Error as error:
                complete = False
                log.warning("could not take over %s: %s", dbname, mask_password(str(error)))
            finally:
                self._unlock(conn, project_id)
        if complete:
            conn.execute("INSERT INTO engine_meta VALUES ('contained', '1') ON CONFLICT DO NOTHING")

    def _take_over(self, conn: db.Conn, kind: str, dbname: str, role: str, allowed: bool) -> None:
        if kind == "warm":
            conn.execute("DELETE FROM warm_copies WHERE dbname = %s", (dbname,))
            db.drop_database(conn, dbname)
            return
        conn.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER").format(sql.Identifier(dbname))
        )
        if not allowed:
            db.allow_connections(conn, dbname, True)
        try:
            with self._agent_db(dbname) as inner:
                owner = inner.execute(
                    "SELECT pg_catalog.pg_get_userbyid(nspowner) FROM pg_catalog.pg_namespace "
                    "WHERE nspname = 'public'"
                ).fetchone()
                if owner and owner[0] == "pg_database_owner":
                    contain.give_public_schema(inner, role)
        finally:
            if not allowed:
                db.allow_connections(conn, dbname, False)
        if kind == "branch":
            contain.grant_branch(conn, dbname, role)
