"""Restore (the rollback): the snapshot copied (or its warm copy taken) into a new
branch, then the crash-safe swap. The renames and the catalog rows commit in ONE
transaction: at every instant the endpoint's name belongs to one complete database, the
old one or the new one."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from ..base import KeepLive, RestoreResult
from ..errors import EngineInvalidRequest, EngineNotFound
from . import contain
from . import names as ids
from . import sql as db
from .events import EventsMixin
from .keep import Keeping
from .records import BranchRow, ServedBy, SnapshotRow
from .roles import RolesMixin
from .rows import OpSpec
from .snapshots import SnapshotsMixin
from .swap import SwapMixin
from .util import quietly

log = logging.getLogger(__name__)


@dataclass
class _Restore:
    """What a restore recorded before its copy: the new branch and how it is filled."""

    branch_id: str
    temp_db: str
    warm: bool  # a ready warm copy becomes the new branch (no copy)
    touched: str | None  # a warm copy someone changed or opened: dropped, not used
    op_ids: list[str]
    finalize: bool  # swap the new branch in for the target (`finalize_restore`)
    keeping: Keeping | None = None  # the live database kept as a snapshot (`keep.py`)


class RestoreMixin(EventsMixin, SnapshotsMixin, RolesMixin, SwapMixin):
    def snapshot_restore(
        self,
        project_id: str,
        snapshot_id: str,
        *,
        target_branch_id: str | None = None,
        finalize_restore: bool = False,
        name: str | None = None,
        keep_live: KeepLive | None = None,
    ) -> RestoreResult:
        if keep_live is not None and not finalize_restore:
            raise EngineInvalidRequest("keep_live needs finalize_restore", status=400)
        with self._mutation(project_id) as conn:
            snap = self._snapshot_row(conn, project_id, snapshot_id)
            target = self._restore_target(conn, project_id, snap, target_branch_id)
            role, _ = self._role(conn, project_id)
            endpoint = self._endpoint_of(conn, target.id) if finalize_restore else None
            if endpoint:  # the live database's records, before a copy replaces it
                self._events_keep(conn, project_id, endpoint.dbname)
            plan = self._restore_intent(conn, project_id, snap, target.id, endpoint, name)
            plan.finalize = finalize_restore
            plan.keeping = Keeping(keep_live) if keep_live else None
            if endpoint and plan.touched:
                quietly(db.drop_database, conn, plan.touched)
            repaired = self._restore_run(conn, project_id, snap, target, role, endpoint, plan)
            result = RestoreResult(
                # Like Neon's answer to a restore: the new branch, its size not known yet.
                branch=self._branch(conn, project_id, plan.branch_id, sized=False),
                operations=self._ops(conn, plan.op_ids),
                orphan_branch_id=target.id if finalize_restore else None,
                repaired=tuple(repaired) if finalize_restore else (),
            )
            result = self._with_kept(conn, project_id, result, plan.keeping)
        if plan.warm and self.warm_copies:
            self.warm_up(project_id, background=True)  # a fresh warm copy for next time
        return result

    def _restore_target(
        self, conn: db.Conn, project_id: str, snap: SnapshotRow, target_branch_id: str | None
    ) -> BranchRow:
        """The branch row a restore replaces: the one asked for, else the snapshot's source."""
        target_id = target_branch_id or snap.source_branch_id
        if target_id is None:
            raise EngineInvalidRequest(
                "cannot determine the target branch: pass target_branch_id", status=400
            )
        try:
            return self._branch_row(conn, project_id, target_id)
        except EngineNotFound:
            if target_branch_id is None:
                raise EngineInvalidRequest(
                    f"the snapshot's source branch {target_id} no longer exists: "
                    "pass target_branch_id",
                    status=400,
                ) from None
            raise

    def _restore_intent(
        self,
        conn: db.Conn,
        project_id: str,
        snap: SnapshotRow,
        target_id: str,
        endpoint: ServedBy | None,
        name: str | None,
    ) -> _Restore:
        """Commit the new branch (`init`) and the operations; claim a warm copy if any."""
        branch_id = ids.branch_id()
        temp_db = self.names.branch_db()
        specs: list[OpSpec] = [
            ("timeline_unarchive", target_id, None),
            ("create_branch", branch_id, None),
        ]
        if endpoint:
            specs += [
                ("start_compute", branch_id, endpoint.id),
                ("suspend_compute", target_id, endpoint.id),
            ]
        with conn.transaction():
            warm, touched = self._claim_warm(conn, snap.id) if endpoint else (None, None)
            temp_db = warm or temp_db
            conn.execute(
                "INSERT INTO branches (id, project_id, name, state, dbname, restore_status, "
                "restored_from, restored_as) VALUES (%s, %s, %s, 'init', %s, 'restored', "
                "%s, %s)",
                (
                    branch_id,
                    project_id,
                    name or f"{snap.name} (restored)",
                    temp_db,
                    snap.id,
                    target_id,
                ),
            )
            op_ids = self._ops_start(conn, project_id, specs)
        return _Restore(branch_id, temp_db, bool(warm), touched, op_ids, finalize=False)

    def _claim_warm(self, conn: db.Conn, snapshot_id: str) -> tuple[str | None, str | None]:
        """In the restore's transaction: take the snapshot's ready warm copy off the
        catalog; return (the copy to use, the copy touched and to drop instead)."""
        # A ready warm copy becomes the new branch: no copy, only the swap.
        warm = conn.execute(
            "DELETE FROM warm_copies WHERE snapshot_id = %s AND state = 'ready' RETURNING dbname",
            (snapshot_id,),
        ).fetchone()
        if warm is None:
            return None, None
        (warm_db,) = warm
        if contain.untouched(conn, warm_db):
            return warm_db, None
        # Someone changed or opened it: copy the snapshot instead.
        log.warning("warm copy %s was touched; not used", warm_db)
        return None, warm_db

    def _restore_run(
        self,
        conn: db.Conn,
        project_id: str,
        snap: SnapshotRow,
        target: BranchRow,
        role: str,
        endpoint: ServedBy | None,
        plan: _Restore,
    ) -> list[str]:
        """Fill the new branch and, with an endpoint, swap it in; undo on failure unless
        the swap committed. Returns what the role repair after the swap changed."""
        swapped = False
        repaired: list[str] = []
        try:
            cold = None if plan.warm else self._cold.archives.source(conn, snap.id)
            if cold is not None:  # the archive loaded into the new branch
                self._cold.load(conn, project_id, plan.temp_db, *cold)
            elif not plan.warm:
                db.copy_database(conn, plan.temp_db, template=snap.dbname)
            contain.grant_branch(conn, plan.temp_db, role)
            if plan.finalize:  # a hot or warm copy holds what its snapshot's database held
                copied_at = None if cold is not None else snap.created_at
                self._events_prepare(conn, project_id, plan.temp_db, copied_at=copied_at)
            self._fault("after_branch_created")
            if not plan.finalize:
                with conn.transaction():
                    conn.execute(
                        "UPDATE branches SET state = 'ready' WHERE id = %s", (plan.branch_id,)
                    )
                    self._ops_end(conn, plan.op_ids)
            else:
                swapped = self._finalize(
                    conn, project_id, target, plan.branch_id, plan.temp_db, endpoint,
                    plan.op_ids, keeping=plan.keeping,
                )  # fmt: skip
                self._fault("after_swap")
                self._keep_finish(conn, project_id, target.id, plan)
                repaired = self._role_state(conn, project_id)
        except BaseException as error:
            if swapped:
                raise  # the rollback is done and recorded; nothing to undo
            if endpoint:
                quietly(db.allow_connections, conn, endpoint.dbname, True)
            self._undo_branch(conn, plan.branch_id, plan.temp_db)
            self._fail(conn, plan.op_ids, error)
            raise
        return repaired

    def _with_kept(
        self, conn: db.Conn, project_id: str, result: RestoreResult, keeping: Keeping | None
    ) -> RestoreResult:
        kept = self._kept_snapshot(conn, project_id, keeping)
        if kept is None or keeping is None:
            return result
        # Renamed, the orphan became `kept`: there is none to delete.
        orphan = result.orphan_branch_id if keeping.by_copy else None
        return replace(result, kept=kept, kept_writes=keeping.writes, orphan_branch_id=orphan)

    def _keep_finish(self, conn: db.Conn, project_id: str, target_id: str, plan: _Restore) -> None:
        """After the swap: the replaced branch gone (its database is the kept
        snapshot's), or the kept snapshot copied from the orphan."""
        if plan.keeping is None:
            return
        gone = self._kept_after_swap(conn, project_id, target_id, plan.branch_id, plan.keeping)
        if gone is not None:
            self._finish_branch_delete(conn, target_id, gone)
