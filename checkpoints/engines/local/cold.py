"""The cold tier: a snapshot database moved into a compressed archive outside
PostgreSQL's data folder (`archive.py`), and back. A cold snapshot restores (rollback,
preview) by loading its archive into the new branch, then the same swap as a hot one.

Every move holds the project's lock (so it never races a rollback to that snapshot) and
records its intent first: `tier` goes `hot -> freezing -> cold` (archive written, then
recorded, then the template dropped) or `cold -> thawing -> hot` (database loaded, then
recorded, then the archive removed). `recover()` undoes a half-done move (`freezing`,
`thawing`) and finishes a recorded one (a cold snapshot whose database is still there,
a hot one whose archive is still there); archives the catalog does not know are dropped
(`cold_archives.py`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from psycopg import sql

from ..errors import EngineError, EngineInvalidRequest, EngineNotSupported
from . import archive, contain
from . import sql as db
from .cold_archives import ColdArchives
from .records import RoleRow, SnapshotRow
from .rows import OpSpec
from .session import SessionLimits
from .util import quietly

log = logging.getLogger(__name__)

#: Steps of a tier move at which `fault_hook(step)` is called.
COLD_STEPS = (
    "freeze_intent_recorded",  # tier 'freezing' committed, no archive yet
    "freeze_archived",  # archive written and renamed into place, not recorded cold
    "freeze_recorded",  # recorded cold, template database not dropped yet
    "thaw_intent_recorded",  # tier 'thawing' committed, database not loaded
    "thaw_loaded",  # database loaded from the archive, not recorded hot
    "thaw_recorded",  # recorded hot, archive not removed yet
)


class ColdHost(Protocol):
    """What the cold tier uses of its engine: the project's lock and a reading
    connection, a snapshot's row, the project's role, the operation log."""

    def _mutation(self, project_id: str) -> AbstractContextManager[db.Conn]: ...
    def _reading(self) -> AbstractContextManager[db.Conn]: ...
    def _snapshot_row(self, conn: db.Conn, project_id: str, snapshot_id: str) -> SnapshotRow: ...
    def _role(self, conn: db.Conn, project_id: str) -> RoleRow: ...
    def _ops_start(self, conn: db.Conn, project_id: str, specs: list[OpSpec]) -> list[str]: ...
    def _ops_end(self, conn: db.Conn, op_ids: list[str]) -> None: ...
    def _fail(self, conn: db.Conn, op_ids: list[str], error: BaseException) -> None: ...


class ColdTier:
    """The local engine's cold tier, an object the engine holds (`engine._cold`); the
    engine's `storage_mode`, `snapshot_freeze`, `snapshot_thaw` and `snapshot_tiers` are
    its `mode`, `freeze`, `thaw` and `tiers`."""

    def __init__(
        self,
        host: ColdHost,
        *,
        server_url: str,
        control_db: str,
        archive_dir: Path | None,
        pg_bin_dir: Path | None,
        reflink: bool,
        session_limits: SessionLimits,
        role_limits: contain.RoleLimits,
        agent_db: Callable[[str], db.Conn],
        fault: Callable[[str], None],
    ) -> None:
        self._host = host
        self._server_url = server_url
        self.archive_dir = archive_dir
        self.pg_bin_dir = pg_bin_dir
        self.reflink = reflink
        self._options = session_limits.options()  # of its sessions on agents' databases
        self._role_limits = role_limits
        self._agent_db = agent_db  # the engine's session on an agent's database
        self._fault = fault  # the engine's fault hook, read at each step
        #: Its archives and their catalog columns, repaired by `recover()`.
        self.archives = ColdArchives(archive_dir / control_db if archive_dir else None)

    @property
    def mode(self) -> str:
        """'reflink' (copies cost almost nothing: all hot), 'tiered' (older versions may go
        cold), or 'hot' (no archive folder or no pg_dump: all hot)."""
        if self.reflink:
            return "reflink"
        return "tiered" if self.archive_dir and self.pg_bin_dir else "hot"

    def freeze(self, project_id: str, snapshot_id: str) -> int:
        """Move a hot snapshot to the cold tier; return the archive's bytes (local only)."""
        if self.mode != "tiered":
            raise EngineNotSupported(f"no cold tier in storage mode {self.mode!r}")
        host = self._host
        with host._mutation(project_id) as conn:
            snap = host._snapshot_row(conn, project_id, snapshot_id)
            tier, _, _, stored = self.archives.tier_row(conn, snapshot_id)
            if tier == "cold":
                return int(stored or 0)
            if conn.execute(
                "SELECT 1 FROM warm_copies WHERE snapshot_id = %s", (snapshot_id,)
            ).fetchone():
                raise EngineInvalidRequest("a snapshot with a warm copy stays hot", status=400)
            path = self.archives.path(project_id, snapshot_id)
            with conn.transaction():
                conn.execute(
                    "UPDATE snapshots SET tier = 'freezing', archive = %s, updated_at = now() "
                    "WHERE id = %s",
                    (str(path), snapshot_id),
                )
                op_ids = host._ops_start(
                    conn, project_id, [("tier_cold", snap.source_branch_id, None)]
                )
            self._fault("freeze_intent_recorded")
            try:
                db.allow_connections(conn, snap.dbname, True)  # the engine's alone: no grants
                checksum, size = self._dump(conn, project_id, snap.dbname, path)
                db.allow_connections(conn, snap.dbname, False)
                self._fault("freeze_archived")
            except BaseException as error:
                self.archives.undo_freeze(conn, snapshot_id, snap.dbname, path)
                host._fail(conn, op_ids, error)
                raise
            with conn.transaction():
                conn.execute(
                    "UPDATE snapshots SET tier = 'cold', checksum = %s, stored_bytes = %s, "
                    "updated_at = now() WHERE id = %s",
                    (checksum, size, snapshot_id),
                )
                host._ops_end(conn, op_ids)
            self._fault("freeze_recorded")
            db.drop_database(conn, snap.dbname)
            return size

    def _dump(self, conn: db.Conn, project_id: str, dbname: str, path: Path) -> tuple[str, int]:
        """The snapshot's database into its archive, dumped as the project's role."""
        role = self._host._role(conn, project_id).name
        return archive.dump(
            self.bin(), self._server_url, dbname, path, role=role, options=self._options
        )

    def thaw(self, project_id: str, snapshot_id: str) -> int:
        """Move a cold snapshot back to the hot tier; return its database's bytes."""
        host = self._host
        with host._mutation(project_id) as conn:
            snap = host._snapshot_row(conn, project_id, snapshot_id)
            tier, path, checksum, _ = self.archives.tier_row(conn, snapshot_id)
            if tier == "hot":
                return int(db.database_size(conn, snap.dbname) or 0)
            assert path is not None and checksum is not None  # recorded when it went cold
            with conn.transaction():
                conn.execute(
                    "UPDATE snapshots SET tier = 'thawing', updated_at = now() WHERE id = %s",
                    (snapshot_id,),
                )
                op_ids = host._ops_start(
                    conn, project_id, [("tier_hot", snap.source_branch_id, None)]
                )
            self._fault("thaw_intent_recorded")
            try:
                self.load(conn, project_id, snap.dbname, Path(path), checksum)
                contain.revoke_branch(conn, snap.dbname, host._role(conn, project_id).name)
                self._fault("thaw_loaded")
            except BaseException as error:
                quietly(db.drop_database, conn, snap.dbname)
                conn.execute("UPDATE snapshots SET tier = 'cold' WHERE id = %s", (snapshot_id,))
                host._fail(conn, op_ids, error)
                raise
            size = int(db.database_size(conn, snap.dbname) or 0)
            with conn.transaction():
                conn.execute(
                    "UPDATE snapshots SET tier = 'hot', archive = NULL, checksum = NULL, "
                    "stored_bytes = %s, updated_at = now() WHERE id = %s",
                    (size, snapshot_id),
                )
                host._ops_end(conn, op_ids)
            self._fault("thaw_recorded")
            archive.remove(Path(path))
            return size

    def bin(self) -> Path:
        """The folder of pg_dump/pg_restore (EngineNotSupported without them)."""
        if self.pg_bin_dir is None:
            raise EngineNotSupported("no pg_dump/pg_restore for the cold tier")
        return self.pg_bin_dir

    def load(self, conn: db.Conn, project_id: str, dbname: str, path: Path, checksum: str) -> None:
        """A new database `dbname` (the engine's) with the archive's content, loaded by
        the project's own role (`archive.restore`), which may connect to it meanwhile;
        closed to connections after, the project's sessions on it ended."""
        role, password = self._host._role(conn, project_id)
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(dbname))
        )
        contain.grant_branch(conn, dbname, role)
        with self._agent_db(dbname) as new:
            contain.give_public_schema(new, role)
        load = functools.partial(
            archive.restore,
            self.bin(),
            self._server_url,
            dbname,
            path,
            checksum,
            options=self._options,
        )
        try:
            load(login=(role, password))
        except EngineError as error:
            if "password authentication failed" not in str(error):
                raise
            # The agent changed its role's password: the engine's is set back first.
            repaired = contain.apply_role_state(conn, role, password, self._role_limits)
            log.warning("role of project %s repaired: %s", project_id, ", ".join(repaired))
            load(login=(role, password))
        db.allow_connections(conn, dbname, False)
        db.end_sessions(conn, dbname)

    def tiers(self, project_id: str) -> dict[str, tuple[str, int | None]]:
        """{snapshot id: (tier, bytes it takes there)} of the project's ready snapshots."""
        with self._host._reading() as conn:
            rows = conn.execute(
                "SELECT s.id, s.tier, COALESCE((SELECT pg_database_size(d.oid) FROM "
                "pg_database d WHERE d.datname = s.dbname AND s.tier = 'hot'), "
                "s.stored_bytes) FROM snapshots s WHERE s.project_id = %s "
                "AND s.state = 'ready'",
                (project_id,),
            ).fetchall()
        return {snapshot_id: (tier, size) for snapshot_id, tier, size in rows}
