"""Recovery: `recover()` undoes or finishes what a crashed engine left, using the intent
the catalog recorded before any database was created or dropped."""

from __future__ import annotations

import logging

from ..base import BUSY_STATUSES
from . import contain
from . import sql as db
from .branches import BranchesMixin
from .cold import ColdTier
from .cold_archives import COLD_CANDIDATES
from .core import drop_key
from .history.asof import AsOfMixin
from .legacy import LegacyMixin
from .projects import ProjectsMixin
from .quiet import QuietCopyMixin
from .roles import RolesMixin
from .util import quietly
from .warm import WarmCopies

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted: the engine stopped during this operation"

_CANDIDATES = (
    "SELECT p.id FROM projects p WHERE p.state <> 'ready' "
    "OR EXISTS (SELECT 1 FROM branches b WHERE b.project_id = p.id "
    "           AND b.state <> 'ready') "
    "OR EXISTS (SELECT 1 FROM snapshots s WHERE s.project_id = p.id "
    "           AND s.state <> 'ready') "
    "OR EXISTS (SELECT 1 FROM warm_copies w WHERE w.project_id = p.id "
    "           AND w.state <> 'ready') "
    "OR EXISTS (SELECT 1 FROM operations o WHERE o.project_id = p.id "
    "           AND o.status = ANY(%s)) "
    "OR EXISTS (SELECT 1 FROM endpoints e JOIN pg_database d "
    "           ON d.datname = e.dbname WHERE e.project_id = p.id "
    "           AND NOT d.datallowconn) "
    "OR EXISTS (SELECT 1 FROM endpoints e WHERE e.project_id = p.id AND NOT EXISTS "
    "           (SELECT 1 FROM pg_database d WHERE d.datname = e.dbname)) " + COLD_CANDIDATES
)


class RecoverMixin(
    ProjectsMixin,
    BranchesMixin,
    QuietCopyMixin,
    AsOfMixin,
    RolesMixin,
    LegacyMixin,
):
    _warm: WarmCopies
    _cold: ColdTier

    def recover(self) -> dict[str, int]:
        """Repair what crashed engines left; safe while other processes work.

        Only projects whose lock this process can take are touched (a project someone is
        working on is theirs). For each: a project left `init` (creation interrupted) or
        `deleting` is removed completely; branches/snapshots left `deleting` are deleted
        (their operations `finished`); those left `init` (a copy the caller never got) are
        dropped (their operations `failed`); endpoints' databases accept connections again
        (a crash while they were blocked for a swap or a copy). Then databases and roles
        with this engine's prefix that the catalog does not know are dropped: the catalog
        records intent before anything is created and renames commit with their rows, so
        those are leftovers, found in one consistent snapshot of catalog and pg_database.
        Warm copies left `init` are dropped unless a live warm-up holds the project's
        warm-up lock.
        """
        summary = {
            "projects": 0,
            "skipped_locked": 0,
            "dropped_databases": 0,
            "dropped_archives": 0,
            "roles_repaired": 0,
            "scratch_reaped": self.history_reap(),
        }
        with self._reading() as conn:
            candidates = [
                project_id
                for (project_id,) in conn.execute(_CANDIDATES, (list(BUSY_STATUSES),)).fetchall()
            ]
            for project_id in candidates:
                if not self._try_lock(conn, project_id):
                    summary["skipped_locked"] += 1
                    continue
                try:
                    self._repair(conn, project_id)
                    summary["projects"] += 1
                finally:
                    self._unlock(conn, project_id)
            summary["dropped_databases"] = self._drop_unknown(conn)
            summary["dropped_archives"] = self._cold.archives.drop_unknown(conn)
            summary["dropped_archives"] += self._drop_saving_leftovers(conn)
            summary["roles_repaired"] = self._repair_roles(conn)
            self._contain_legacy(conn)
        if summary["projects"] or summary["dropped_databases"] or summary["roles_repaired"]:
            log.info("local engine recovered: %s", summary)
        return summary

    def _repair(self, conn: db.Conn, project_id: str) -> None:
        found = conn.execute("SELECT state FROM projects WHERE id = %s", (project_id,)).fetchone()
        if found is None:
            return
        (state,) = found
        if state in ("init", "deleting"):
            self._remove_project(conn, project_id)
            return
        for branch_id, dbname, bstate in conn.execute(
            "SELECT id, dbname, state FROM branches WHERE project_id = %s AND state <> 'ready'",
            (project_id,),
        ).fetchall():
            if bstate == "deleting":
                if self._try_lock(conn, drop_key(project_id)):  # else a live delete's
                    try:
                        self._finish_branch_delete(conn, branch_id, dbname)
                    finally:
                        self._unlock(conn, drop_key(project_id))
            else:
                self._undo_branch(conn, branch_id, dbname)
        for snapshot_id, dbname in conn.execute(
            "SELECT id, dbname FROM snapshots WHERE project_id = %s AND state <> 'ready'",
            (project_id,),
        ).fetchall():
            db.drop_database(conn, dbname)
            self._cold.archives.drop(conn, snapshot_id)
            with conn.transaction():
                conn.execute("DELETE FROM snapshots WHERE id = %s", (snapshot_id,))
        self._cold.archives.repair(conn, project_id)
        self._warm.repair(conn, project_id)
        for (dbname,) in conn.execute(
            "SELECT e.dbname FROM endpoints e JOIN pg_database d ON d.datname = e.dbname "
            "WHERE e.project_id = %s AND NOT d.datallowconn",
            (project_id,),
        ).fetchall():
            db.allow_connections(conn, dbname, True)
        self._rebuild_missing_live(conn, project_id)
        conn.execute(
            "UPDATE operations SET "
            "status = CASE on_crash WHEN 'complete' THEN 'finished' ELSE 'failed' END, "
            "error = CASE on_crash WHEN 'complete' THEN NULL ELSE %s END, "
            "failures_count = failures_count + CASE on_crash WHEN 'complete' THEN 0 ELSE 1 END, "
            "updated_at = clock_timestamp() WHERE project_id = %s AND status = ANY(%s)",
            (INTERRUPTED + "; undone on restart", project_id, list(BUSY_STATUSES)),
        )

    def _rebuild_missing_live(self, conn: db.Conn, project_id: str) -> None:
        """An endpoint whose database is gone (dropped behind the engine's back) gets it
        back from its branch's current version: the branch's newest snapshot, else the one
        it was restored from. Filled under another name and renamed: a crash midway leaves
        a database the catalog does not know, which recovery drops."""
        for branch_id, live_db, source in conn.execute(
            "SELECT e.branch_id, e.dbname, coalesce((SELECT s.id FROM snapshots s "
            "  WHERE s.source_branch_id = e.branch_id AND s.state = 'ready' "
            "  ORDER BY s.created_at DESC, s.id DESC LIMIT 1), b.restored_from) "
            "FROM endpoints e JOIN branches b ON b.id = e.branch_id "
            "WHERE e.project_id = %s AND NOT EXISTS "
            "(SELECT 1 FROM pg_database d WHERE d.datname = e.dbname)",
            (project_id,),
        ).fetchall():
            snap = conn.execute(
                "SELECT dbname FROM snapshots WHERE id = %s AND state = 'ready'", (source,)
            ).fetchone()
            if snap is None:
                log.warning(
                    "live database %s is missing and has no version to rebuild it from", live_db
                )
                continue
            log.warning("rebuilding the missing live database %s of branch %s", live_db, branch_id)
            temp_db = self.names.branch_db()
            cold = self._cold.archives.source(conn, source)
            if cold is not None:
                self._cold.load(conn, project_id, temp_db, *cold)
            else:
                (template,) = snap
                db.copy_database(conn, temp_db, template=template)
            contain.grant_branch(conn, temp_db, self._role(conn, project_id).name)
            db.rename_database(conn, temp_db, live_db)
            db.allow_connections(conn, live_db, True)

    def _repair_roles(self, conn: db.Conn) -> int:
        """Every project role's password, settings and limit back to the engine's. Only the
        roles found changed take their project's lock (briefly): every process start runs
        this, and a lock held for nothing would refuse a concurrent mutation."""
        repaired = 0
        for project_id, role, password in conn.execute(
            "SELECT p.id, r.name, r.password FROM projects p JOIN roles r "
            "ON r.project_id = p.id WHERE p.state = 'ready' UNION ALL "
            "SELECT p.id, b.name, b.password FROM projects p JOIN branch_roles b "
            "ON b.project_id = p.id WHERE p.state = 'ready'"
        ).fetchall():
            if not contain.role_state_differs(conn, role, password, self.limits)[0]:
                continue
            if not self._try_lock(conn, project_id):
                continue
            try:
                repaired += bool(self._role_state(conn, project_id))
            finally:
                self._unlock(conn, project_id)
        return repaired

    def _drop_unknown(self, conn: db.Conn) -> int:
        prefix = self.names.prefix
        unknown = conn.execute(
            "SELECT datname FROM pg_database WHERE left(datname, %s) = %s "
            "AND datname NOT IN (SELECT dbname FROM branches UNION ALL "
            "SELECT dbname FROM snapshots UNION ALL SELECT dbname FROM warm_copies)",
            (len(prefix), prefix),
        ).fetchall()
        for (dbname,) in unknown:
            log.warning("dropping database %s unknown to the local engine's catalog", dbname)
            quietly(db.drop_database, conn, dbname)
        roles = conn.execute(
            "SELECT rolname FROM pg_roles WHERE left(rolname, %s) = %s "
            "AND rolname NOT IN (SELECT name FROM roles UNION ALL SELECT name FROM branch_roles)",
            (len(prefix), prefix),
        ).fetchall()
        for (role,) in roles:
            quietly(db.drop_role, conn, role)
        return len(unknown)
