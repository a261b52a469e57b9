"""The local engine: Neon's snapshot semantics on one PostgreSQL server.

- branch = a database; snapshot = a database copied with `CREATE DATABASE … TEMPLATE`,
  not connectable (`ALLOW_CONNECTIONS false`) and owned by the engine's role, so nobody
  can connect to it or change it; endpoint = the stable database name a connection string
  carries, held by the branch it serves.
- each project has its own login role (random password) that owns its branch databases;
  PUBLIC may not connect to them, so a project's connection string opens nothing else.
- the catalog (projects, roles, branches, snapshots, endpoints, operations) lives in the
  control database on the same server: a rollback renames the active database away, the
  new one onto the endpoint's name and moves the catalog rows in ONE transaction.
- one mutation per project at a time (`core`); intent first (`rows`, `recover`); warm
  copies of recent snapshots make a rollback only the rename swap (`warm`, `swap`);
  older snapshots may go cold, into archives outside PostgreSQL (`cold`).

`LocalEngine` composes one mixin per resource or mechanism and holds its warm copies and
its cold tier as objects (`_warm`, `_cold`); the work is synchronous:
operations are returned already `finished`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..errors import EngineError
from . import archive, contain, events, readonly
from . import catalog as cat
from . import names as ids
from . import sql as db
from .cold import ColdTier
from .core import WARM_STEP_WAIT
from .finalize import FinalizeMixin
from .oplog import OperationsMixin
from .parking import Parking
from .recover import RecoverMixin
from .restore import RestoreMixin
from .session import SessionLimits
from .sql_reader import SqlReaderMixin
from .util import quietly
from .warm import WarmCopies


class LocalEngine(SqlReaderMixin, RestoreMixin, FinalizeMixin, RecoverMixin, OperationsMixin):
    """Projects, branches, snapshots and endpoints as databases on one PostgreSQL server."""

    name = "local"
    #: A restore's swap commits (connections allowed again) before `snapshot_restore`
    #: returns: the endpoint serves the restored database at once, no wait needed.
    serves_restore_at_once = True
    supports_warm_copies = True
    #: A rollback keeps the live database it replaces by renaming it a snapshot (`keep`).
    keeps_live_on_swap = True
    supports_readonly_roles = True

    def __init__(
        self,
        server_url: str,
        *,
        control_db: str = "checkpoints_engine",
        fault_hook: Callable[[str], None] | None = None,
        recover: bool = True,
        warm_copies: int = 2,
        limits: contain.RoleLimits | None = None,
        archive_dir: Path | str | None = None,
        pg_bin_dir: Path | str | None = None,
        reflink: bool | None = None,
        session_limits: SessionLimits | None = None,
        superuser_url: str | None = None,
        history_dir: Path | str | None = None,
    ) -> None:
        self.control_db = ids.check_control_db(control_db)
        # The server's superuser, only to install the statement recorder (events.py).
        self.superuser_url = superuser_url
        self.supports_statement_events = bool(superuser_url)
        self.limits = limits or contain.RoleLimits()
        self.session_limits = session_limits or SessionLimits()
        self.warm_copies = max(0, int(warm_copies))
        self._warm = WarmCopies(self)  # warm.py: ready copies of recent snapshots
        self.names = ids.Names(control_db)
        self.fault_hook = fault_hook
        params = conninfo_to_dict(server_url)
        self.host = str(params.get("host") or "localhost")
        self.port = int(params.get("port") or 5432)
        self._server_url = server_url
        self._server_conninfo = make_conninfo(server_url)
        self._control_conninfo = make_conninfo(server_url, dbname=control_db)
        self._parking = Parking()
        self._watch_parking = Parking(keep_locks=True)  # the watchdog's (`_watching`)
        for parking in (self._parking, self._watch_parking):
            weakref.finalize(self, parking.close)
        self.archive_dir = Path(archive_dir) if archive_dir else None
        bin_dir = Path(pg_bin_dir) if pg_bin_dir else archive.default_bin_dir()
        self.pg_bin_dir = bin_dir if bin_dir and (bin_dir / "pg_dump").is_file() else None
        # The server's WAL archive and base backups (engines/local/history), if it keeps any.
        self.history_dir = Path(history_dir) if history_dir else None
        self.supports_point_in_time = self.history_ready()
        self._bootstrap()
        # Tried once at start-up: on a reflink file system every copy is almost free.
        self.reflink = self._probe_reflink() if reflink is None else reflink
        self._cold = self._cold_tier()  # cold.py: older snapshots as archives
        if recover:
            self.recover()

    def __repr__(self) -> str:
        return f"LocalEngine({self.host}:{self.port}, control_db={self.control_db!r})"

    def _bootstrap(self) -> None:
        with self._connect(self._server_conninfo) as conn:
            # Web and worker processes start engines at the same moment: concurrent GRANT/
            # REVOKE on one database fail with "tuple concurrently updated". Serialise.
            conn.execute("SELECT pg_advisory_lock(hashtext('checkpoints-engine-bootstrap'))")
            try:
                if not db.database_exists(conn, self.control_db):
                    conn.execute(
                        sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.control_db))
                    )
                db.restrict_access(conn, self.control_db, None)
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext('checkpoints-engine-bootstrap'))")
        with self._reading() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('checkpoints-engine-schema'))")
            conn.execute(cat.SCHEMA)
            conn.execute(readonly.SCHEMA)
            conn.execute(events.CATALOG)
            conn.execute(
                "INSERT INTO engine_meta VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(cat.SCHEMA_VERSION),),
            )

    def _cold_tier(self) -> ColdTier:
        return ColdTier(
            self,
            server_url=self._server_url,
            control_db=self.control_db,
            archive_dir=self.archive_dir,
            pg_bin_dir=self.pg_bin_dir,
            reflink=self.reflink,
            session_limits=self.session_limits,
            role_limits=self.limits,
            agent_db=self._agent_db,
            fault=self._fault,
        )

    def _probe_reflink(self) -> bool:
        """Whether PostgreSQL's data folder clones files (FICLONE), tried there once;
        False where the engine cannot write there (another machine, another user)."""
        try:
            with self._reading() as conn:
                row = conn.execute("SHOW data_directory").fetchone()
        except psycopg.Error:
            return False
        folder = Path(row[0]) if row else None
        return bool(folder and folder.is_dir() and archive.reflink_supported(folder))

    @property
    def storage_mode(self) -> str:
        return self._cold.mode

    def snapshot_freeze(self, project_id: str, snapshot_id: str) -> int:
        """Move a hot snapshot to the cold tier; return the archive's bytes (local only)."""
        return self._cold.freeze(project_id, snapshot_id)

    def snapshot_thaw(self, project_id: str, snapshot_id: str) -> int:
        """Move a cold snapshot back to the hot tier; return its database's bytes."""
        return self._cold.thaw(project_id, snapshot_id)

    def snapshot_tiers(self, project_id: str) -> dict[str, tuple[str, int | None]]:
        """{snapshot id: (tier, bytes it takes there)} of the project's ready snapshots."""
        return self._cold.tiers(project_id)

    def warm_up(self, project_id: str, *, background: bool = False) -> list[str]:
        return self._warm.up(project_id, background=background)

    def warm_storage(self, project_id: str) -> list[tuple[str, int]]:
        return self._warm.storage(project_id)

    def warm_wait(self, timeout: float | None = None) -> bool:
        """Wait for this engine's background warm-ups; False if some still run."""
        return self._warm.wait(timeout)

    def close(self) -> None:
        self._warm.wait(timeout=WARM_STEP_WAIT)
        super().close()
        self._parking.close()
        self._watch_parking.close()

    def destroy(self) -> None:
        """Drop every project, database and role of this engine, and its control database
        (tests and `reset` tools only)."""
        for project in self.project_list():
            try:
                self.project_delete(project.id)
            except EngineError:
                pass
        with self._connect(self._server_conninfo) as conn:
            prefix = self.names.prefix
            for (dbname,) in conn.execute(
                "SELECT datname FROM pg_database WHERE left(datname, %s) = %s",
                (len(prefix), prefix),
            ).fetchall():
                db.drop_database(conn, dbname)
            for (role,) in conn.execute(
                "SELECT rolname FROM pg_roles WHERE left(rolname, %s) = %s",
                (len(prefix), prefix),
            ).fetchall():
                quietly(db.drop_role, conn, role)
            self._parking.close()
            self._watch_parking.close()
            db.drop_database(conn, self.control_db)
