"""The cold tier: a snapshot database moved into a compressed archive outside
PostgreSQL's data folder (`archive.py`), and back. A cold snapshot restores (rollback,
preview) by loading its archive into the new branch, then the same swap as a hot one.

Every move holds the project's lock (so it never races a rollback to that snapshot) and
records its intent first: `tier` goes `hot -> freezing -> cold` (archive written, then
recorded, then the template dropped) or `cold -> thawing -> hot` (database loaded, then
recorded, then the archive removed). `recover()` undoes a half-done move (`freezing`,
`thawing`) and finishes a recorded one (a cold snapshot whose database is still there,
a hot one whose archive is still there); archives the catalog does not know are dropped.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from psycopg import sql

from ..errors import EngineError, EngineInvalidRequest, EngineNotSupported
from . import archive, contain
from . import sql as db
from .records import TierRow
from .rows import LocalRows
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


class ColdMixin(LocalRows):
    archive_dir: Path | None
    pg_bin_dir: Path | None
    reflink: bool

    @property
    def storage_mode(self) -> str:
        """'reflink' (copies cost almost nothing: all hot), 'tiered' (older versions may go
        cold), or 'hot' (no archive folder or no pg_dump: all hot)."""
        if self.reflink:
            return "reflink"
        return "tiered" if self.archive_dir and self.pg_bin_dir else "hot"

    def _archive_path(self, project_id: str, snapshot_id: str) -> Path:
        assert self.archive_dir is not None
        return self.archive_dir / self.control_db / project_id / f"{snapshot_id}.dump"

    def _tier_row(self, conn: db.Conn, snapshot_id: str) -> TierRow:
        row = conn.execute(
            "SELECT tier, archive, checksum, stored_bytes FROM snapshots WHERE id = %s",
            (snapshot_id,),
        ).fetchone()
        assert row is not None
        return TierRow._make(row)

    def snapshot_freeze(self, project_id: str, snapshot_id: str) -> int:
        """Move a hot snapshot to the cold tier; return the archive's bytes (local only)."""
        if self.storage_mode != "tiered":
            raise EngineNotSupported(f"no cold tier in storage mode {self.storage_mode!r}")
        with self._mutation(project_id) as conn:
            snap = self._snapshot_row(conn, project_id, snapshot_id)
            tier, _, _, stored = self._tier_row(conn, snapshot_id)
            if tier == "cold":
                return int(stored or 0)
            if conn.execute(
                "SELECT 1 FROM warm_copies WHERE snapshot_id = %s", (snapshot_id,)
            ).fetchone():
                raise EngineInvalidRequest("a snapshot with a warm copy stays hot", status=400)
            path = self._archive_path(project_id, snapshot_id)
            with conn.transaction():
                conn.execute(
                    "UPDATE snapshots SET tier = 'freezing', archive = %s, updated_at = now() "
                    "WHERE id = %s",
                    (str(path), snapshot_id),
                )
                op_ids = self._ops_start(
                    conn, project_id, [("tier_cold", snap.source_branch_id, None)]
                )
            self._fault("freeze_intent_recorded")
            try:
                db.allow_connections(conn, snap.dbname, True)  # the engine's alone: no grants
                checksum, size = archive.dump(
                    self._bin(),
                    self._server_url,
                    snap.dbname,
                    path,
                    role=self._role(conn, project_id).name,
                    options=self.session_limits.options(),
                )
                db.allow_connections(conn, snap.dbname, False)
                self._fault("freeze_archived")
            except BaseException as error:
                self._freeze_undo(conn, snapshot_id, snap.dbname, path)
                self._fail(conn, op_ids, error)
                raise
            with conn.transaction():
                conn.execute(
                    "UPDATE snapshots SET tier = 'cold', checksum = %s, stored_bytes = %s, "
                    "updated_at = now() WHERE id = %s",
                    (checksum, size, snapshot_id),
                )
                self._ops_end(conn, op_ids)
            self._fault("freeze_recorded")
            db.drop_database(conn, snap.dbname)
            return size

    def _freeze_undo(self, conn: db.Conn, snapshot_id: str, dbname: str, path: Path) -> None:
        archive.remove(path)
        quietly(db.allow_connections, conn, dbname, False)
        conn.execute(
            "UPDATE snapshots SET tier = 'hot', archive = NULL, checksum = NULL WHERE id = %s",
            (snapshot_id,),
        )

    def snapshot_thaw(self, project_id: str, snapshot_id: str) -> int:
        """Move a cold snapshot back to the hot tier; return its database's bytes."""
        with self._mutation(project_id) as conn:
            snap = self._snapshot_row(conn, project_id, snapshot_id)
            tier, path, checksum, _ = self._tier_row(conn, snapshot_id)
            if tier == "hot":
                return int(db.database_size(conn, snap.dbname) or 0)
            assert path is not None and checksum is not None  # recorded when it went cold
            with conn.transaction():
                conn.execute(
                    "UPDATE snapshots SET tier = 'thawing', updated_at = now() WHERE id = %s",
                    (snapshot_id,),
                )
                op_ids = self._ops_start(
                    conn, project_id, [("tier_hot", snap.source_branch_id, None)]
                )
            self._fault("thaw_intent_recorded")
            try:
                self._load_archive(conn, project_id, snap.dbname, Path(path), checksum)
                contain.revoke_branch(conn, snap.dbname, self._role(conn, project_id).name)
                self._fault("thaw_loaded")
            except BaseException as error:
                quietly(db.drop_database, conn, snap.dbname)
                conn.execute("UPDATE snapshots SET tier = 'cold' WHERE id = %s", (snapshot_id,))
                self._fail(conn, op_ids, error)
                raise
            size = int(db.database_size(conn, snap.dbname) or 0)
            with conn.transaction():
                conn.execute(
                    "UPDATE snapshots SET tier = 'hot', archive = NULL, checksum = NULL, "
                    "stored_bytes = %s, updated_at = now() WHERE id = %s",
                    (size, snapshot_id),
                )
                self._ops_end(conn, op_ids)
            self._fault("thaw_recorded")
            archive.remove(Path(path))
            return size

    def _bin(self) -> Path:
        if self.pg_bin_dir is None:
            raise EngineNotSupported("no pg_dump/pg_restore for the cold tier")
        return self.pg_bin_dir

    def _cold_source(self, conn: db.Conn, snapshot_id: str) -> tuple[Path, str] | None:
        """(archive, sha256) of a cold snapshot; None for a hot one."""
        tier, path, checksum, _ = self._tier_row(conn, snapshot_id)
        if tier != "cold":
            return None
        assert path is not None and checksum is not None  # recorded when it went cold
        return Path(path), checksum

    def _load_archive(
        self, conn: db.Conn, project_id: str, dbname: str, path: Path, checksum: str
    ) -> None:
        """A new database `dbname` (the engine's) with the archive's content, loaded by
        the project's own role (`archive.restore`), which may connect to it meanwhile;
        closed to connections after, the project's sessions on it ended."""
        role, password = self._role(conn, project_id)
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(dbname))
        )
        contain.grant_branch(conn, dbname, role)
        with self._agent_db(dbname) as new:
            contain.give_public_schema(new, role)
        load = functools.partial(
            archive.restore,
            self._bin(),
            self._server_url,
            dbname,
            path,
            checksum,
            options=self.session_limits.options(),
        )
        try:
            load(login=(role, password))
        except EngineError as error:
            if "password authentication failed" not in str(error):
                raise
            # The agent changed its role's password: the engine's is set back first.
            repaired = contain.apply_role_state(conn, role, password, self.limits)
            log.warning("role of project %s repaired: %s", project_id, ", ".join(repaired))
            load(login=(role, password))
        db.allow_connections(conn, dbname, False)
        db.end_sessions(conn, dbname)

    def snapshot_tiers(self, project_id: str) -> dict[str, tuple[str, int | None]]:
        """{snapshot id: (tier, bytes it takes there)} of the project's ready snapshots."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT s.id, s.tier, COALESCE((SELECT pg_database_size(d.oid) FROM "
                "pg_database d WHERE d.datname = s.dbname AND s.tier = 'hot'), "
                "s.stored_bytes) FROM snapshots s WHERE s.project_id = %s "
                "AND s.state = 'ready'",
                (project_id,),
            ).fetchall()
        return {snapshot_id: (tier, size) for snapshot_id, tier, size in rows}
