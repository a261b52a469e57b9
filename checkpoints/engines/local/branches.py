"""Branches: a database each. Child branches copy their parent's data now; deleting one
records the intent (`deleting`) before its database is dropped."""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from ..base import Branch, Operation
from ..errors import EngineInvalidRequest, EngineLocked
from . import catalog as cat
from . import contain, readonly
from . import names as ids
from . import sql as db
from .core import LOCKED_MESSAGE, WARM_STEP_WAIT, drop_key
from .records import BranchRow
from .rows import LocalRows, OpSpec
from .util import check_name

log = logging.getLogger(__name__)


class BranchesMixin(LocalRows):
    def branch_list(self, project_id: str) -> list[Branch]:
        with self._reading() as conn:
            self._project_row(conn, project_id)
            rows = conn.execute(
                f"SELECT {cat.BRANCH_COLUMNS}, {cat.SIZE_OF.format(col='b.dbname')} "
                "FROM branches b WHERE b.project_id = %s AND b.state <> 'deleting' "
                "ORDER BY b.created_at, b.id",
                (project_id,),
            ).fetchall()
        return [cat.branch_from(branch, size) for *branch, size in rows]

    def branch_get(self, project_id: str, branch_id: str) -> Branch:
        with self._reading() as conn:
            self._project_row(conn, project_id)
            return self._branch(conn, project_id, branch_id)

    def branch_rename(self, project_id: str, branch_id: str, name: str) -> Branch:
        name = check_name(name, "branch")
        with self._mutation(project_id) as conn:
            self._branch_row(conn, project_id, branch_id)
            conn.execute(
                "UPDATE branches SET name = %s, updated_at = now() WHERE id = %s",
                (name, branch_id),
            )
            return self._branch(conn, project_id, branch_id)

    def branch_create(
        self, project_id: str, *, parent_id: str | None = None, name: str | None = None
    ) -> Branch:
        """A child branch copying its parent's data now (local only; no endpoint)."""
        with self._mutation(project_id) as conn:
            parent = (
                self._branch_row(conn, project_id, parent_id)
                if parent_id
                else self._default_branch_row(conn, project_id)
            )
            role, _ = self._role(conn, project_id)
            branch_id = ids.branch_id()
            dbname = self.names.branch_db()
            with conn.transaction():
                conn.execute(
                    "INSERT INTO branches (id, project_id, name, parent_id, state, dbname) "
                    "VALUES (%s, %s, %s, %s, 'init', %s)",
                    (branch_id, project_id, name or branch_id, parent.id, dbname),
                )
                op_ids = self._ops_start(conn, project_id, [("create_branch", branch_id, None)])
            try:
                self._copy_live(conn, parent.id, parent.dbname, dbname)
                contain.grant_branch(conn, dbname, role)
                with conn.transaction():
                    conn.execute("UPDATE branches SET state = 'ready' WHERE id = %s", (branch_id,))
                    self._ops_end(conn, op_ids)
            except BaseException as error:
                self._undo_branch(conn, branch_id, dbname)
                self._fail(conn, op_ids, error)
                raise
            return self._branch(conn, project_id, branch_id)

    def branch_delete(self, project_id: str, branch_id: str) -> list[Operation]:
        with self._mutation(project_id) as conn:
            row = self._branch_row(conn, project_id, branch_id)
            self._check_deletable(conn, branch_id, row)
            endpoint = self._endpoint_of(conn, branch_id)
            specs: list[OpSpec] = []
            if endpoint:
                specs.append(("suspend_compute", branch_id, endpoint.id))
            specs.append(("delete_timeline", branch_id, None))
            with conn.transaction():
                conn.execute(
                    "UPDATE branches SET state = 'deleting', updated_at = now() WHERE id = %s",
                    (branch_id,),
                )
                op_ids = self._ops_start(conn, project_id, specs, on_crash="complete")
        # The project's lock released: DROP DATABASE forces a checkpoint (seconds under
        # load), which the project's next mutation (a rollback right after a rollback
        # deletes its orphan) must not wait for. No mutation uses a `deleting` branch, and
        # recover() leaves it alone while this connection holds its drop lock.
        with self._reading() as conn:
            if not self._lock_waiting(conn, drop_key(project_id), WARM_STEP_WAIT):
                raise EngineLocked(LOCKED_MESSAGE, status=423)
            self._fault("delete_intent_recorded")
            self._finish_branch_delete(conn, branch_id, row.dbname)
            with conn.transaction():
                self._ops_end(conn, op_ids)
            return self._ops(conn, op_ids)

    def _check_deletable(self, conn: db.Conn, branch_id: str, row: BranchRow) -> None:
        if row.is_default:
            raise EngineInvalidRequest(
                f"branch {branch_id} is the project's default branch and cannot be deleted",
                status=400,
            )
        child = conn.execute(
            "SELECT id FROM branches WHERE parent_id = %s LIMIT 1", (branch_id,)
        ).fetchone()
        if child:
            raise EngineInvalidRequest(
                f"branch {branch_id} has child branches (e.g. {child[0]}); delete them first",
                status=400,
            )

    def _finish_branch_delete(self, conn: db.Conn, branch_id: str, dbname: str) -> None:
        db.drop_database(conn, dbname)
        readonly.drop_for_branch(conn, branch_id)
        with conn.transaction():
            for (role,) in conn.execute(
                "DELETE FROM branch_roles WHERE branch_id = %s RETURNING name", (branch_id,)
            ).fetchall():
                db.drop_role(conn, role)
            conn.execute("DELETE FROM endpoints WHERE branch_id = %s", (branch_id,))
            conn.execute("DELETE FROM branches WHERE id = %s", (branch_id,))

    def _undo_branch(self, conn: db.Conn, branch_id: str, dbname: str) -> None:
        try:
            db.drop_database(conn, dbname)
            with conn.transaction():
                conn.execute("DELETE FROM branches WHERE id = %s AND state = 'init'", (branch_id,))
        except psycopg.Error:
            log.warning("could not undo branch %s; recover() will", branch_id)

    def _copy_live(
        self, conn: db.Conn, branch_id: str, source_db: str, target_db: str, **kw: Any
    ) -> None:
        """Copy a branch's database, ending its sessions for the copy when it has an
        endpoint (PostgreSQL refuses to copy a database others are connected to)."""
        served = self._endpoint_of(conn, branch_id) is not None
        try:
            if served:
                db.allow_connections(conn, source_db, False)
                db.end_sessions(conn, source_db)
                self._fault("copy_sessions_ended")
            db.copy_database(conn, target_db, template=source_db, **kw)
        finally:
            if served:
                db.allow_connections(conn, source_db, True)
