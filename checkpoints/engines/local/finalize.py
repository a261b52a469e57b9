"""Finalizing a restore apart (Neon's `finalize_restore` call): a branch restored without
finalizing takes the target's endpoint and name through the same crash-safe swap as a
one-step rollback, and the target is renamed as the caller asks."""

from __future__ import annotations

from ..base import Operation
from ..errors import EngineInvalidRequest
from . import sql as db
from .roles import RolesMixin
from .rows import OpSpec
from .swap import SwapMixin
from .util import check_name, quietly

NOT_ELIGIBLE = (
    "branch {branch_id} cannot be finalized: only a branch restored from a snapshot "
    "without finalizing, and not finalized yet, can be"
)


class FinalizeMixin(RolesMixin, SwapMixin):
    def branch_finalize_restore(
        self, project_id: str, branch_id: str, *, old_name: str | None = None
    ) -> list[Operation]:
        """Swap the restored branch in for the branch it was restored as; the replaced
        branch is renamed `old_name` (None: `<name> (old)`)."""
        with self._mutation(project_id) as conn:
            branch = self._branch_row(conn, project_id, branch_id)
            if branch.restore_status != "restored" or not branch.restored_as:
                raise EngineInvalidRequest(NOT_ELIGIBLE.format(branch_id=branch_id), status=400)
            target = self._branch_row(conn, project_id, branch.restored_as)
            if old_name is not None:
                old_name = check_name(old_name, "branch")
                self._check_free_name(conn, project_id, old_name)
            endpoint = self._endpoint_of(conn, target.id)
            specs: list[OpSpec] = []
            if endpoint:
                specs = [
                    ("start_compute", branch_id, endpoint.id),
                    ("suspend_compute", target.id, endpoint.id),
                ]
            with conn.transaction():
                op_ids = self._ops_start(conn, project_id, specs)
            try:
                self._finalize(
                    conn, project_id, target, branch_id, branch.dbname, endpoint, op_ids, old_name
                )
            except BaseException as error:
                # The swap's transaction rolled back: the target serves, as before.
                if endpoint:
                    quietly(db.allow_connections, conn, endpoint.dbname, True)
                self._fail(conn, op_ids, error)
                raise
            self._role_state(conn, project_id)
            return self._ops(conn, op_ids)

    def _check_free_name(self, conn: db.Conn, project_id: str, name: str) -> None:
        taken = conn.execute(
            "SELECT 1 FROM branches WHERE project_id = %s AND name = %s", (project_id, name)
        ).fetchone()
        if taken:
            raise EngineInvalidRequest(f"branch {name!r} already exists", status=409)
