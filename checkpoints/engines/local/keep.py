"""Keeping the live state at a rollback without copying it: the swap renames the live
database it replaces to a snapshot's name and records that snapshot in the same
transaction (`swap.py`), so the "Before rollback" version costs a rename, whatever the
size, and the app is interrupted once (by the swap), not by a copy first.

The kept database is made a snapshot like any other: owned by the engine, not
connectable (the swap blocked it already), no grant beyond the engine's. The replaced
branch's row is left `deleting` with a database name that was never created, and
deleted right after the swap (`recover()` finishes it after a crash). Where the branch
has roles of its own (a preview's login, a read-only role), whose grants would live on
in the kept database, the swap leaves the ordinary orphan instead and the kept snapshot
is a template copy of it, made after the swap (nobody is connected to an orphan).
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ..base import KeepLive, Snapshot
from . import catalog as cat
from . import contain
from . import names as ids
from . import sql as db
from .records import SnapshotRow
from .rows import LocalRows

#: Rows written in a database so far (inserted, updated, deleted, catalogs' too).
_WRITES = (
    "SELECT d.tup_inserted + d.tup_updated + d.tup_deleted FROM pg_stat_database d "
    "WHERE d.datname = %s"
)


@dataclass
class Keeping:
    """A rollback's request to keep the live state, and what the swap did with it."""

    keep: KeepLive
    snapshot_id: str | None = None
    writes: int | None = None
    by_copy: bool = False  # the swap left an orphan: the snapshot is copied from it


class KeepMixin(LocalRows):
    def live_writes(self, project_id: str) -> int | None:
        """Rows written in the project's live database so far (PostgreSQL's statistics;
        a session's count is flushed at the latest when it ends)."""
        with self._reading() as conn:
            row = conn.execute(
                "SELECT e.dbname FROM endpoints e JOIN branches b ON b.id = e.branch_id "
                "WHERE e.project_id = %s AND b.is_default",
                (project_id,),
            ).fetchone()
            return self._writes_of(conn, row[0]) if row else None

    def _writes_of(self, conn: db.Conn, dbname: str) -> int | None:
        conn.execute("SELECT pg_catalog.pg_stat_clear_snapshot()")
        row = conn.execute(_WRITES, (dbname,)).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def _keep_renamable(self, conn: db.Conn, target_id: str) -> bool:
        """No role of the branch's own has grants in its database."""
        return (
            conn.execute(
                "SELECT 1 FROM branch_roles WHERE branch_id = %s UNION ALL "
                "SELECT 1 FROM readonly_roles WHERE branch_id = %s",
                (target_id, target_id),
            ).fetchone()
            is None
        )

    def _keep_rows(
        self,
        conn: db.Conn,
        project_id: str,
        target_id: str,
        branch_id: str,
        kept_db: str,
        keeping: Keeping,
    ) -> None:
        """Inside the swap's transaction, the live database renamed `kept_db`: record it
        as a ready snapshot of the new branch, the engine's alone; the replaced branch
        is left `deleting` (its children now the new branch's)."""
        snapshot_id = ids.snapshot_id()
        conn.execute(
            "INSERT INTO snapshots (id, project_id, name, source_branch_id, state, dbname, "
            "expires_at) VALUES (%s, %s, %s, %s, 'ready', %s, %s)",
            (snapshot_id, project_id, keeping.keep.name, branch_id, kept_db,
             keeping.keep.expires_at),
        )  # fmt: skip
        conn.execute(
            "UPDATE branches SET parent_id = %s WHERE parent_id = %s", (branch_id, target_id)
        )
        conn.execute("UPDATE branches SET state = 'deleting' WHERE id = %s", (target_id,))
        self._make_immutable(conn, project_id, kept_db)
        keeping.snapshot_id = snapshot_id

    def _make_immutable(self, conn: db.Conn, project_id: str, dbname: str) -> None:
        conn.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER").format(sql.Identifier(dbname))
        )
        db.restrict_access(conn, dbname, None)
        contain.revoke_branch(conn, dbname, self._role(conn, project_id)[0])

    def _kept_after_swap(
        self, conn: db.Conn, project_id: str, target_id: str, branch_id: str, keeping: Keeping
    ) -> str | None:
        """After the swap committed: where the swap left an orphan, the snapshot copied
        from it. Returns the database name of the replaced branch to delete now (there
        is no such database: it is the kept snapshot's), else None."""
        row = conn.execute("SELECT dbname FROM branches WHERE id = %s", (target_id,)).fetchone()
        if row is None:
            return None
        if keeping.snapshot_id is not None:
            return str(row[0])
        if not keeping.by_copy or not db.database_exists(conn, row[0]):
            return None  # the live database was missing: nothing to keep
        kept_db = self.names.snapshot_db()
        snapshot_id = ids.snapshot_id()
        with conn.transaction():
            conn.execute(
                "INSERT INTO snapshots (id, project_id, name, source_branch_id, state, "
                "dbname, expires_at) VALUES (%s, %s, %s, %s, 'init', %s, %s)",
                (snapshot_id, project_id, keeping.keep.name, branch_id, kept_db,
                 keeping.keep.expires_at),
            )  # fmt: skip
        db.copy_database(conn, kept_db, template=row[0])
        self._make_immutable(conn, project_id, kept_db)
        conn.execute("UPDATE snapshots SET state = 'ready' WHERE id = %s", (snapshot_id,))
        keeping.snapshot_id = snapshot_id
        return None

    def _kept_snapshot(
        self, conn: db.Conn, project_id: str, keeping: Keeping | None
    ) -> Snapshot | None:
        if keeping is None or keeping.snapshot_id is None:
            return None
        row: SnapshotRow = self._snapshot_row(conn, project_id, keeping.snapshot_id)
        return cat.snapshot_from(row, self._size(conn, row.dbname))
