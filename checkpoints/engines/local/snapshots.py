"""Snapshots: a root branch's database copied (from an MVCC snapshot when the branch is
served, `quiet.py`; else with `CREATE DATABASE … TEMPLATE`), owned by the engine's role
and not connectable, so nobody can open or change it."""

from __future__ import annotations

import logging
from datetime import datetime

import psycopg

from ..base import AsOf, Operation, Snapshot, SnapshotCreated
from . import catalog as cat
from . import sql as db
from .branches import BranchesMixin
from .cold import ColdTier
from .history.asof import AsOfMixin
from .quiet import QuietCopyMixin
from .records import SnapshotRow
from .util import check_name

log = logging.getLogger(__name__)


class SnapshotsMixin(BranchesMixin, QuietCopyMixin, AsOfMixin):
    _cold: ColdTier

    def snapshot_create(
        self,
        project_id: str,
        branch_id: str,
        *,
        name: str | None = None,
        expires_at: datetime | None = None,
        lsn: str | None = None,
        timestamp: datetime | None = None,
    ) -> SnapshotCreated:
        if lsn is not None or timestamp is not None:
            as_of = AsOf(timestamp=timestamp, lsn=lsn)
            return self.snapshot_as_of(
                project_id, branch_id, as_of, name=name, expires_at=expires_at
            )
        with self._mutation(project_id) as conn:
            branch = self._branch_row(conn, project_id, branch_id)
            snapshot_id, dbname, op_ids = self._snapshot_intent(
                conn, project_id, branch, name, expires_at
            )
            try:
                # Owned by the engine's role, not connectable: immutable for the project.
                # Copied from an MVCC snapshot: the app on the branch is not interrupted.
                if not self._copy_quietly(conn, project_id, branch_id, branch.dbname, dbname):
                    self._copy_live(conn, branch_id, branch.dbname, dbname)
                db.restrict_access(conn, dbname, None)
                self._fault("snapshot_copied")
                with conn.transaction():
                    conn.execute(
                        "UPDATE snapshots SET state = 'ready' WHERE id = %s", (snapshot_id,)
                    )
                    self._ops_end(conn, op_ids)
            except BaseException as error:
                self._undo_snapshot(conn, snapshot_id, dbname)
                self._fail(conn, op_ids, error)
                raise
            return SnapshotCreated(
                snapshot=cat.snapshot_from(
                    self._snapshot_row(conn, project_id, snapshot_id), self._size(conn, dbname)
                ),
                operations=self._ops(conn, op_ids),
            )

    def _undo_snapshot(self, conn: db.Conn, snapshot_id: str, dbname: str) -> None:
        try:
            db.drop_database(conn, dbname)
            with conn.transaction():
                conn.execute("DELETE FROM snapshots WHERE id = %s", (snapshot_id,))
        except psycopg.Error:
            log.warning("could not undo snapshot %s; recover() will", snapshot_id)

    def snapshot_list(self, project_id: str) -> list[Snapshot]:
        with self._reading() as conn:
            self._project_row(conn, project_id)
            rows = conn.execute(
                f"SELECT {cat.SNAPSHOT_COLUMNS}, s.tier, COALESCE("
                f"{cat.SIZE_OF.format(col='s.dbname')}, s.stored_bytes) "
                "FROM snapshots s WHERE s.project_id = %s AND s.state = 'ready' "
                "ORDER BY s.created_at, s.id",
                (project_id,),
            ).fetchall()
        tiers = {"freezing": "hot", "thawing": "cold"}
        return [cat.snapshot_from(row[:-2], row[-1], tiers.get(row[-2], row[-2])) for row in rows]

    def snapshot_rename(self, project_id: str, snapshot_id: str, name: str) -> Snapshot:
        name = check_name(name, "snapshot")
        with self._mutation(project_id) as conn:
            row = self._snapshot_row(conn, project_id, snapshot_id)
            conn.execute(
                "UPDATE snapshots SET name = %s, updated_at = now() WHERE id = %s",
                (name, snapshot_id),
            )
            return cat.snapshot_from(
                self._snapshot_row(conn, project_id, snapshot_id), self._size(conn, row.dbname)
            )

    def snapshot_delete(self, project_id: str, snapshot_id: str) -> list[Operation]:
        with self._mutation(project_id) as conn:
            row = self._snapshot_row(conn, project_id, snapshot_id)
            return self._delete_snapshot(conn, project_id, row)

    def _delete_snapshot(self, conn: db.Conn, project_id: str, row: SnapshotRow) -> list[Operation]:
        snapshot_id, dbname = row.id, row.dbname
        with conn.transaction():
            conn.execute(
                "UPDATE snapshots SET state = 'deleting', updated_at = now() WHERE id = %s",
                (snapshot_id,),
            )
            op_ids = self._ops_start(
                conn,
                project_id,
                [("delete_timeline", row.source_branch_id, None)],
                on_crash="complete",
            )
            # Its warm copy goes too (unknown to the catalog from here: recover() drops it).
            warm = conn.execute(
                "DELETE FROM warm_copies WHERE snapshot_id = %s RETURNING dbname", (snapshot_id,)
            ).fetchall()
        db.drop_database(conn, dbname)  # waits for a warm-up copying from it
        for (warm_db,) in warm:
            db.drop_database(conn, warm_db)
        self._cold.archives.drop(conn, snapshot_id)
        with conn.transaction():
            conn.execute("DELETE FROM snapshots WHERE id = %s", (snapshot_id,))
            self._ops_end(conn, op_ids)
        return self._ops(conn, op_ids)

    def snapshots_delete_expired(self, project_id: str) -> list[str]:
        with self._mutation(project_id) as conn:
            rows = conn.execute(
                f"SELECT {cat.SNAPSHOT_COLUMNS} FROM snapshots s WHERE s.project_id = %s "
                "AND s.state = 'ready' AND s.expires_at <= now() ORDER BY s.created_at",
                (project_id,),
            ).fetchall()
            expired = [SnapshotRow._make(row) for row in rows]
            for row in expired:
                self._delete_snapshot(conn, project_id, row)
            return [row.id for row in expired]
