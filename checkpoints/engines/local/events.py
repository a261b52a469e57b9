"""Destructive statements recorded by PostgreSQL in each project's live database, and
protected tables (`events_sql.py` is what gets installed, and why the agent can neither
alter nor evade it).

Event triggers are superuser-only: the engine installs them through the server's
superuser URL (`superuser_url`: the embedded servers', which the installation made); it
never runs agent content there (the install script only reads the catalog and creates
its own objects and the guard triggers). Without one (an external server) the engine
says so (`supports_statement_events` False) instead of pretending.

The records are copied into the engine's control database (`statement_events`) whenever
they are read and before a rollback replaces the live database, so a rollback (the live
database becomes a copy of an older one) loses none. The protected list lives in the
control database too and is written into the live database again after each restore.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ..errors import EngineError, EngineInvalidRequest, EngineNotSupported
from ..statement_events import EVENTS_UNSUPPORTED, ProtectedTable, StatementEvent
from . import events_sql as q
from . import sql as db
from .rows import LocalRows

log = logging.getLogger(__name__)


CATALOG = q.CATALOG
_EVENT_COLUMNS = "id::text, at, role, xid, lsn, command, object_type, object"


class EventsMixin(LocalRows):
    superuser_url: str | None

    def _require_events(self) -> None:
        if not self.superuser_url:
            raise EngineNotSupported(EVENTS_UNSUPPORTED.format(engine="this server"), status=501)

    def _live_dbname(self, conn: db.Conn, project_id: str) -> str:
        self._project_row(conn, project_id)
        row = conn.execute(
            "SELECT dbname FROM endpoints WHERE project_id = %s ORDER BY id LIMIT 1", (project_id,)
        ).fetchone()
        if row is None:
            raise EngineError(f"project {project_id} has no endpoint")
        return str(row[0])

    def _events_ensure(self, dbname: str) -> None:
        """Install the recorder in `dbname` unless it is there (checked as the engine)."""
        if not self.superuser_url:
            return
        with self._agent_db(dbname) as conn:
            installed = conn.execute(q.INSTALLED).fetchone()
            if installed and installed[0]:
                version = conn.execute(q.INSTALLED_VERSION).fetchone()
                if version and version[0] == q.VERSION:
                    return
            engine_role = conn.execute("SELECT current_user::text").fetchone()
        assert engine_role is not None
        conninfo = make_conninfo(self.superuser_url, dbname=dbname)
        with psycopg.connect(conninfo, autocommit=True) as su, su.transaction():
            su.execute("SELECT pg_advisory_xact_lock(hashtext('checkpoints-events-install'))")
            su.execute(q.INSTALL)
            su.execute(sql.SQL(q.GRANT_ENGINE).format(engine=sql.Identifier(engine_role[0])))

    def _events_harvest(self, conn: db.Conn, project_id: str, dbname: str) -> None:
        """Copy the live database's records into the control catalog (idempotent)."""
        with self._agent_db(dbname) as live:
            if not (live.execute(q.INSTALLED).fetchone() or (False,))[0]:
                return
            rows = live.execute(q.RECORDS).fetchall()
        if not rows:
            return
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO statement_events (id, project_id, at, role, xid, lsn, command, "
                "object_type, object) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO NOTHING",
                [(row[0], project_id, *row[1:]) for row in rows],
            )

    def _events_keep(self, conn: db.Conn, project_id: str, dbname: str) -> None:
        """`_events_harvest` that never stops what called it (a rollback of a live
        database that is gone or refuses connections still goes on)."""
        if not self.superuser_url:
            return
        try:
            self._events_harvest(conn, project_id, dbname)
        except (psycopg.Error, EngineError) as error:
            log.warning("destructive statements of %s not copied: %s", project_id, error)

    def _events_installed(self, conn: db.Conn, project_id: str) -> None:
        """The project's live database has the recorder from now on (kept: the first time)."""
        conn.execute(
            "INSERT INTO events_projects (project_id, installed_at) VALUES (%s, now()) "
            "ON CONFLICT (project_id) DO UPDATE SET installed_at = "
            "coalesce(events_projects.installed_at, excluded.installed_at)",
            (project_id,),
        )

    def _events_current(self, conn: db.Conn, project_id: str, copied_at: Any) -> bool:
        """Whether a copy of the live database made at `copied_at` already holds the
        recorder and today's protected list."""
        row = conn.execute(
            "SELECT installed_at <= %s AND coalesce(protect_changed_at <= %s, true) "
            "FROM events_projects WHERE project_id = %s",
            (copied_at, copied_at, project_id),
        ).fetchone()
        return bool(row and row[0])

    def _events_prepare(
        self, conn: db.Conn, project_id: str, dbname: str, *, copied_at: Any = None
    ) -> None:
        """After a restore filled `dbname` (the project's next live database): the recorder
        there (a cold archive carries none) and the project's protected list, unless it is
        a copy (`copied_at`: when its snapshot was taken) that holds both already (checked:
        a snapshot saved by a dump has neither)."""
        if not self.superuser_url:
            return
        current = copied_at is not None and self._events_current(conn, project_id, copied_at)
        row = conn.execute(
            "SELECT datallowconn FROM pg_database WHERE datname = %s", (dbname,)
        ).fetchone()
        closed = bool(row and not row[0])
        if closed:  # a new branch opens to everyone only at the swap: to the engine now
            db.allow_connections(conn, dbname, True)
        try:
            # A save that dumped (an app was connected, quiet.py) carries no recorder.
            if current and self._events_there(dbname):
                return
            self._events_ensure(dbname)
            self._protect_write(conn, project_id, dbname)
        finally:
            if closed:
                db.allow_connections(conn, dbname, False)
        self._events_installed(conn, project_id)

    def _events_there(self, dbname: str) -> bool:
        with self._agent_db(dbname) as live:
            return bool((live.execute(q.INSTALLED).fetchone() or (False,))[0])

    def _protect_write(self, conn: db.Conn, project_id: str, dbname: str) -> None:
        wanted = conn.execute(
            "SELECT schema_name, table_name FROM protected_tables WHERE project_id = %s",
            (project_id,),
        ).fetchall()
        with self._agent_db(dbname) as live, live.transaction():
            live.execute(q.PROTECT_CLEAR)
            live.execute(q.PROTECT_SYNC, ([w[0] for w in wanted], [w[1] for w in wanted]))

    def statement_events(self, project_id: str) -> list[StatementEvent]:
        self._require_events()
        with self._reading() as conn:
            dbname = self._live_dbname(conn, project_id)
            try:
                self._events_ensure(dbname)
                self._events_installed(conn, project_id)
                self._events_harvest(conn, project_id, dbname)
            except psycopg.OperationalError as error:  # the live database is being swapped
                log.warning("events of %s not read now: %s", project_id, error)
            rows = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM statement_events WHERE project_id = %s "
                "ORDER BY at, id",
                (project_id,),
            ).fetchall()
        return [StatementEvent(*row) for row in rows]

    def tables_protected(self, project_id: str) -> list[ProtectedTable]:
        self._require_events()
        with self._reading() as conn:
            return self._protected(conn, project_id, self._live_dbname(conn, project_id))

    def _protected(self, conn: db.Conn, project_id: str, dbname: str) -> list[ProtectedTable]:
        rows = conn.execute(
            "SELECT schema_name, table_name FROM protected_tables WHERE project_id = %s "
            "ORDER BY schema_name, table_name",
            (project_id,),
        ).fetchall()
        with self._agent_db(dbname) as live:
            present = _present(live, rows)
        return [ProtectedTable(s, t, (s, t) in present) for s, t in rows]

    def table_protect(
        self, project_id: str, schema: str, table: str, *, protect: bool
    ) -> list[ProtectedTable]:
        self._require_events()
        with self._mutation(project_id) as conn:
            dbname = self._live_dbname(conn, project_id)
            self._events_ensure(dbname)
            self._events_installed(conn, project_id)
            conn.execute(
                "UPDATE events_projects SET protect_changed_at = now() WHERE project_id = %s",
                (project_id,),
            )
            if protect:
                with self._agent_db(dbname) as live:
                    if (schema, table) not in _present(live, [(schema, table)]):
                        raise EngineInvalidRequest(f"no table {schema}.{table}", status=400)
                conn.execute(
                    "INSERT INTO protected_tables (project_id, schema_name, table_name) "
                    "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    (project_id, schema, table),
                )
            else:
                conn.execute(
                    "DELETE FROM protected_tables WHERE project_id = %s AND schema_name = %s "
                    "AND table_name = %s",
                    (project_id, schema, table),
                )
            self._protect_write(conn, project_id, dbname)
            return self._protected(conn, project_id, dbname)


def _present(live: db.Conn, pairs: list[Any]) -> set[tuple[str, str]]:
    """Which (schema, table) pairs name an ordinary or partitioned table of `live`."""
    if not pairs:
        return set()
    rows = live.execute(
        "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "JOIN ROWS FROM (pg_catalog.unnest(%s::text[]), pg_catalog.unnest(%s::text[])) w (s, t) "
        "ON n.nspname OPERATOR(pg_catalog.=) w.s AND c.relname OPERATOR(pg_catalog.=) w.t "
        "WHERE c.relkind IN ('r', 'p')",
        ([p[0] for p in pairs], [p[1] for p in pairs]),
    ).fetchall()
    return {(r[0], r[1]) for r in rows}
