"""The catalog rows every mutation reads and writes: projects, branches, snapshots,
endpoints, roles, and the operations recorded for each step (Neon's operation log)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg

from ..base import FAILED, FINISHED, RUNNING, Branch, Operation, mask_password
from ..errors import EngineInvalidRequest, EngineLocked, EngineNotFound
from . import catalog as cat
from . import names as ids
from . import sql as db
from .core import LOCKED_MESSAGE, LocalCore
from .records import BranchRow, ProjectRow, RoleRow, ServedBy, SnapshotRow
from .util import one

OpSpec = tuple[str, str | None, str | None]  # (action, branch_id, endpoint_id)


class LocalRows(LocalCore):
    """Catalog reads, the mutation's locked connection, and operation rows."""

    @contextmanager
    def _mutation(self, project_id: str, *, existing: bool = True) -> Iterator[db.Conn]:
        """A control connection holding the project's lock for the whole mutation.

        Parked again only after a mutation that ended cleanly (its lock released there);
        after a failure the session ends, which also ends any server-side work of it."""
        conn = self._parking.take() or self._connect()
        try:
            if not self._try_lock(conn, project_id) and not self._lock_after_warm_up(
                conn, project_id
            ):
                raise EngineLocked(LOCKED_MESSAGE, status=423)
            if existing:
                self._project_row(conn, project_id)
            yield conn
        except BaseException:
            conn.close()  # ends the session: releases the advisory lock
            raise
        self._parking.park(conn)

    def _project_row(self, conn: db.Conn, project_id: str) -> ProjectRow:
        return ProjectRow._make(
            one(
                conn,
                f"SELECT {cat.PROJECT_COLUMNS} FROM projects WHERE id = %s AND state = 'ready'",
                (project_id,),
                f"project {project_id} not found",
            )
        )

    def _branch_row(self, conn: db.Conn, project_id: str, branch_id: str) -> BranchRow:
        return BranchRow._make(
            one(
                conn,
                f"SELECT {cat.BRANCH_COLUMNS} FROM branches b "
                "WHERE b.project_id = %s AND b.id = %s AND b.state = 'ready'",
                (project_id, branch_id),
                f"branch {branch_id} not found in project {project_id}",
            )
        )

    def _default_branch_row(self, conn: db.Conn, project_id: str) -> BranchRow:
        return BranchRow._make(
            one(
                conn,
                f"SELECT {cat.BRANCH_COLUMNS} FROM branches b "
                "WHERE b.project_id = %s AND b.is_default AND b.state = 'ready'",
                (project_id,),
                f"project {project_id} has no default branch",
            )
        )

    def _snapshot_row(self, conn: db.Conn, project_id: str, snapshot_id: str) -> SnapshotRow:
        return SnapshotRow._make(
            one(
                conn,
                f"SELECT {cat.SNAPSHOT_COLUMNS} FROM snapshots s "
                "WHERE s.project_id = %s AND s.id = %s AND s.state = 'ready'",
                (project_id, snapshot_id),
                f"snapshot {snapshot_id} not found in project {project_id}",
            )
        )

    def _endpoint_of(self, conn: db.Conn, branch_id: str) -> ServedBy | None:
        row = conn.execute(
            "SELECT id, dbname FROM endpoints WHERE branch_id = %s", (branch_id,)
        ).fetchone()
        return ServedBy._make(row) if row else None

    def _role(self, conn: db.Conn, project_id: str) -> RoleRow:
        row = conn.execute(
            "SELECT name, password FROM roles WHERE project_id = %s", (project_id,)
        ).fetchone()
        if row is None:
            raise EngineNotFound(f"project {project_id} has no role", status=404)
        return RoleRow._make(row)

    def _branch(
        self, conn: db.Conn, project_id: str, branch_id: str, *, sized: bool = True
    ) -> Branch:
        """The branch; its `logical_size` read from disk unless `sized` is False (it
        walks every file of the database: a millisecond at 100 MB)."""
        row = self._branch_row(conn, project_id, branch_id)
        return cat.branch_from(row, self._size(conn, row.dbname) if sized else None)

    def _size(self, conn: db.Conn, dbname: str) -> int | None:
        try:
            return db.database_size(conn, dbname)
        except psycopg.Error:  # dropped or being created meanwhile
            return None

    def _ops_start(
        self,
        conn: db.Conn,
        project_id: str,
        specs: list[OpSpec],
        *,
        on_crash: str = "undo",
        status: str = RUNNING,
    ) -> list[str]:
        op_ids = []
        for action, branch_id, endpoint_id in specs:
            op_id = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO operations (id, project_id, branch_id, endpoint_id, action, "
                "status, on_crash) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (op_id, project_id, branch_id, endpoint_id, action, status, on_crash),
            )
            op_ids.append(op_id)
        return op_ids

    def _ops_end(
        self, conn: db.Conn, op_ids: list[str], status: str = FINISHED, error: str | None = None
    ) -> None:
        conn.execute(
            "UPDATE operations SET status = %s, error = %s, updated_at = clock_timestamp(), "
            "failures_count = failures_count + %s, total_duration_ms = "
            "(extract(epoch FROM clock_timestamp() - created_at) * 1000)::int "
            "WHERE id = ANY(%s::uuid[])",
            (status, error, 1 if status == FAILED else 0, op_ids),
        )

    def _ops(self, conn: db.Conn, op_ids: list[str]) -> list[Operation]:
        rows = conn.execute(
            f"SELECT {cat.OPERATION_COLUMNS} FROM operations WHERE id = ANY(%s::uuid[])",
            (op_ids,),
        ).fetchall()
        by_id = {op.id: op for op in map(cat.operation_from, rows)}
        return [by_id[op_id] for op_id in op_ids if op_id in by_id]

    def _fail(self, conn: db.Conn, op_ids: list[str], error: BaseException) -> None:
        """Record a failure after the work was undone (best effort: the connection may be
        the reason we failed; recover() then marks the operations)."""
        try:
            with conn.transaction():
                self._ops_end(conn, op_ids, FAILED, mask_password(str(error))[:500] or "failed")
        except psycopg.Error:
            pass

    def _snapshot_intent(
        self,
        conn: db.Conn,
        project_id: str,
        branch: BranchRow,
        name: str | None,
        expires_at: datetime | None,
    ) -> tuple[str, str, list[str]]:
        """Check the branch is a root, commit the snapshot's row (`init`) and operation;
        return the snapshot's id, database name and operation ids."""
        branch_id = branch.id
        if branch.parent_id is not None:
            raise EngineInvalidRequest(
                f"snapshots can only be taken of root branches; branch {branch_id} has "
                f"parent {branch.parent_id}",
                status=400,
            )
        snapshot_id = ids.snapshot_id()
        dbname = self.names.snapshot_db()
        default_name = f"{branch.name} {datetime.now(UTC):%Y-%m-%d %H:%M:%S}"
        with conn.transaction():
            conn.execute(
                "INSERT INTO snapshots (id, project_id, name, source_branch_id, state, "
                "dbname, expires_at) VALUES (%s, %s, %s, %s, 'init', %s, %s)",
                (snapshot_id, project_id, name or default_name, branch_id, dbname, expires_at),
            )
            op_ids = self._ops_start(conn, project_id, [("create_timeline", branch_id, None)])
        return snapshot_id, dbname, op_ids
