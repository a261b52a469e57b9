"""The crash-safe swap that finishes a rollback: the target's endpoint (its database
name) moves onto the new branch, the new branch into the target's name and settings, the
target away as `<name> (old)`. The renames and the catalog rows commit in one
transaction, so a crash before the commit undoes both."""

from __future__ import annotations

import logging

import psycopg

from . import sql as db
from .keep import Keeping, KeepMixin
from .records import BranchRow

log = logging.getLogger(__name__)


class SwapMixin(KeepMixin):
    def _finalize(
        self,
        conn: db.Conn,
        project_id: str,
        target: BranchRow,
        branch_id: str,
        temp_db: str,
        endpoint: tuple[str, str] | None,
        op_ids: list[str],
        orphan_name: str | None = None,
        keeping: Keeping | None = None,
    ) -> bool:
        """Move the target's endpoint (its database name) onto the new branch, the new
        branch into the target's name and settings, the target away as `orphan_name`
        (default `<name> (old)`).

        The renames and the catalog rows commit in one transaction: at every instant the
        endpoint's name belongs to one complete database, the old one or the new one.
        `keeping`: the live database is renamed a snapshot's instead (`keep.py`)."""
        orphan_name = orphan_name or self._orphan_name(conn, project_id, target.name)
        orphan_db = self.names.branch_db() if endpoint else target.dbname
        new_db = endpoint[1] if endpoint else temp_db
        live = self._block_live(conn, endpoint)
        kept_db = None
        if keeping and live and endpoint:
            keeping.writes = self._writes_of(conn, endpoint[1])  # its sessions have ended
            keeping.by_copy = not self._keep_renamable(conn, target.id)
            kept_db = None if keeping.by_copy else self.names.snapshot_db()
        self._fault("before_swap")
        for attempt in range(3):
            try:
                with conn.transaction():
                    if endpoint:
                        self._swap_names(conn, endpoint[1], temp_db, kept_db or orphan_db, live)
                    self._fault("before_orphan_recorded")
                    self._swap_rows(conn, target, branch_id, orphan_name, orphan_db, new_db)
                    if kept_db and keeping:
                        self._keep_rows(conn, project_id, target.id, branch_id, kept_db, keeping)
                    self._ops_end(conn, op_ids)
                return True
            except psycopg.errors.ObjectInUse:
                if attempt == 2 or not endpoint:
                    raise
                db.end_sessions(conn, endpoint[1])
        return False  # pragma: no cover

    def live_database_missing(self, project_id: str) -> bool:
        """True when the project's endpoint names a database that is gone (dropped behind
        the engine's back): there is no live state to keep, the next rollback rebuilds it."""
        with self._reading() as conn:
            return (
                conn.execute(
                    "SELECT 1 FROM endpoints e WHERE e.project_id = %s AND NOT EXISTS "
                    "(SELECT 1 FROM pg_database d WHERE d.datname = e.dbname)",
                    (project_id,),
                ).fetchone()
                is not None
            )

    def _block_live(self, conn: db.Conn, endpoint: tuple[str, str] | None) -> bool:
        """Block and empty the endpoint's live database; False when there is none."""
        if endpoint is None:
            return False
        # The live database gone (dropped behind the engine's back): the rollback rebuilds it.
        if not db.database_exists(conn, endpoint[1]):
            log.warning("the endpoint's database %s is missing; rebuilding it", endpoint[1])
            return False
        db.allow_connections(conn, endpoint[1], False)
        db.end_sessions(conn, endpoint[1])
        return True

    def _swap_names(
        self, conn: db.Conn, endpoint_db: str, temp_db: str, orphan_db: str, live: bool
    ) -> None:
        """Inside the swap's transaction: the live database away, the new one onto its name."""
        if live:
            # Catch a straggler that slipped in before connections were blocked.
            db.terminate_sessions(conn, endpoint_db)
            db.rename_database(conn, endpoint_db, orphan_db)
        db.rename_database(conn, temp_db, endpoint_db)
        db.allow_connections(conn, endpoint_db, True)

    def _swap_rows(
        self,
        conn: db.Conn,
        target: BranchRow,
        branch_id: str,
        orphan_name: str,
        orphan_db: str,
        new_db: str,
    ) -> None:
        """Inside the swap's transaction: the catalog follows the renames."""
        target_id, target_name, is_default = target.id, target.name, target.is_default
        conn.execute(
            "UPDATE branches SET name = %s, is_default = false, dbname = %s, "
            "updated_at = now() WHERE id = %s",
            (orphan_name, orphan_db, target_id),
        )
        conn.execute(
            "UPDATE branches SET name = %s, is_default = %s, dbname = %s, "
            "state = 'ready', restore_status = 'finalized', updated_at = now() "
            "WHERE id = %s",
            (target_name, is_default, new_db, branch_id),
        )
        conn.execute(
            "UPDATE endpoints SET branch_id = %s, updated_at = now() WHERE branch_id = %s",
            (branch_id, target_id),
        )

    def _orphan_name(self, conn: db.Conn, project_id: str, name: str) -> str:
        taken = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM branches WHERE project_id = %s", (project_id,)
            ).fetchall()
        }
        candidate, n = f"{name} (old)", 2
        while candidate in taken:
            candidate, n = f"{name} (old {n})", n + 1
        return candidate
