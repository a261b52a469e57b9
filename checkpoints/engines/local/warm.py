"""Warm copies: after a snapshot, `warm_up()` (the app calls it in the background) keeps
a ready, non-connectable copy of the project's `warm_copies` most recent snapshots, so a
rollback to one of them is only the rename swap. A warm-up holds its own per-project lock
while copying and the project's lock only for brief catalog steps."""

from __future__ import annotations

import logging
import threading
import time

from ..base import mask_password
from ..errors import EngineNotFound
from . import catalog as cat
from . import sql as db
from .core import WARM_LOCK_WAIT, warm_key
from .records import WarmTodo
from .rows import LocalRows
from .util import quietly

log = logging.getLogger(__name__)


class WarmCopies:
    """The local engine's warm copies, an object the engine holds (`engine._warm`): it
    uses the engine's connections, locks and catalog rows; the engine's `warm_up`,
    `warm_storage` and `warm_wait` are its `up`, `storage` and `wait`."""

    def __init__(self, engine: LocalRows) -> None:
        self._engine = engine
        self._threads: list[threading.Thread] = []
        self._threads_lock = threading.Lock()

    def up(self, project_id: str, *, background: bool = False) -> list[str]:
        """Make warm copies of the project's `warm_copies` most recent snapshots (and drop
        those of older ones); return the snapshot ids warmed now (local only).

        `background=True` runs it in a daemon thread and returns at once (the app calls it
        after recording a version; the engine after a rollback consumed a warm copy).
        Intent first: a warm copy is recorded `init` before its copy starts and `ready`
        after; a crash in between leaves a row `recover()` drops with its database. Warm
        copies are owned by the engine's role and not connectable, and are no branches."""
        if background:
            thread = threading.Thread(
                target=self._up_logged, args=(project_id,), name="warm-up", daemon=True
            )
            with self._threads_lock:
                self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()
            return []
        warmed: list[str] = []
        engine = self._engine
        conn = engine._connect()
        try:
            # One warm-up per project at a time: wait for one already running.
            if not engine._lock_waiting(conn, warm_key(project_id), WARM_LOCK_WAIT):
                return warmed
            self._drop_leftovers(conn, project_id)  # init rows: a crashed warm-up's
            while True:
                with engine._held(conn, project_id):
                    todo, stale = self._plan(conn, project_id)
                for dbname in stale:
                    db.drop_database(conn, dbname)
                if todo is None:
                    return warmed
                if self._copy(conn, project_id, todo):
                    warmed.append(todo.snapshot_id)
        finally:
            conn.close()  # releases the warm-up lock

    def _copy(self, conn: db.Conn, project_id: str, todo: WarmTodo) -> bool:
        """Copy one snapshot into its warm copy (recorded `init`) and record it ready;
        False when its snapshot was deleted meanwhile (the copy is dropped)."""
        snapshot_db, warm_db = todo.snapshot_db, todo.warm_db
        engine = self._engine
        try:
            engine._fault("warm_intent_recorded")
            # The engine's and not connectable: nobody can open or change it.
            db.copy_database(conn, warm_db, template=snapshot_db)
            db.restrict_access(conn, warm_db, None)
            self._prime(conn, warm_db)
            engine._fault("warm_copied")
        except BaseException:
            quietly(db.drop_database, conn, warm_db)
            quietly(conn.execute, "DELETE FROM warm_copies WHERE dbname = %s", (warm_db,))
            raise
        with engine._held(conn, project_id):
            ready = conn.execute(
                "UPDATE warm_copies SET state = 'ready' WHERE dbname = %s "
                "AND state = 'init' RETURNING snapshot_id",
                (warm_db,),
            ).fetchone()
        if ready is None:  # its snapshot was deleted meanwhile
            db.drop_database(conn, warm_db)
            return False
        return True

    def _prime(self, conn: db.Conn, warm_db: str) -> None:
        """Open the warm copy once as its owner, the engine (nobody else may connect: no
        grants), so PostgreSQL writes its relation-cache file: the app's first connection
        after the rollback starts about 3.5 ms sooner. Closed again before it is ready."""
        db.allow_connections(conn, warm_db, True)
        try:
            with self._engine._agent_db(warm_db):
                pass
        finally:
            db.allow_connections(conn, warm_db, False)
            db.end_sessions(conn, warm_db)  # our backend gone before the copy is ready

    def _up_logged(self, project_id: str) -> None:
        try:
            self.up(project_id)
        except EngineNotFound:
            pass
        except Exception as error:  # a background thread: nobody else would see it
            log.warning("warm-up of project %s failed: %s", project_id, mask_password(str(error)))

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for this engine's background warm-ups; False if some still run."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._threads_lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)

    def storage(self, project_id: str) -> list[tuple[str, int]]:
        """(snapshot id, bytes) of the project's ready warm copies, newest snapshot first."""
        with self._engine._reading() as conn:
            self._engine._project_row(conn, project_id)
            rows = conn.execute(
                f"SELECT w.snapshot_id, {cat.SIZE_OF.format(col='w.dbname')} "
                "FROM warm_copies w JOIN snapshots s ON s.id = w.snapshot_id "
                "WHERE w.project_id = %s AND w.state = 'ready' "
                "ORDER BY s.created_at DESC, s.id DESC",
                (project_id,),
            ).fetchall()
        return [(snapshot_id, int(size or 0)) for snapshot_id, size in rows]

    def _plan(self, conn: db.Conn, project_id: str) -> tuple[WarmTodo | None, list[str]]:
        """Under the project's lock: claim the warm copies no longer wanted (returned to
        be dropped) and record the intent for the next one to make, if any."""
        if (
            conn.execute(
                "SELECT 1 FROM projects WHERE id = %s AND state = 'ready'", (project_id,)
            ).fetchone()
            is None
        ):
            return None, []
        wanted = conn.execute(
            "SELECT id, dbname FROM snapshots WHERE project_id = %s AND state = 'ready' "
            "AND tier = 'hot' ORDER BY created_at DESC, id DESC LIMIT %s",
            (project_id, self._engine.warm_copies),
        ).fetchall()
        with conn.transaction():
            stale = conn.execute(
                "DELETE FROM warm_copies WHERE project_id = %s AND state = 'ready' "
                "AND NOT (snapshot_id = ANY(%s)) RETURNING dbname",
                (project_id, [snapshot_id for snapshot_id, _ in wanted]),
            ).fetchall()
            have = {
                snapshot_id
                for (snapshot_id,) in conn.execute(
                    "SELECT snapshot_id FROM warm_copies WHERE project_id = %s", (project_id,)
                ).fetchall()
            }
            dropped = [dbname for (dbname,) in stale]
            found = next(((sid, sdb) for sid, sdb in wanted if sid not in have), None)
            if found is None:
                return None, dropped
            warm_db = self._engine.names.warm_db()
            role = self._engine._role(conn, project_id).name
            todo = WarmTodo(*found, warm_db=warm_db, role=role)
            conn.execute(
                "INSERT INTO warm_copies (snapshot_id, project_id, state, dbname) "
                "VALUES (%s, %s, 'init', %s)",
                (todo.snapshot_id, project_id, warm_db),
            )
        return todo, dropped

    def _drop_leftovers(self, conn: db.Conn, project_id: str) -> None:
        """With the warm-up lock held: `init` warm copies are a crashed warm-up's."""
        for (dbname,) in conn.execute(
            "SELECT dbname FROM warm_copies WHERE project_id = %s AND state = 'init'",
            (project_id,),
        ).fetchall():
            db.drop_database(conn, dbname)
            conn.execute("DELETE FROM warm_copies WHERE dbname = %s", (dbname,))

    def repair(self, conn: db.Conn, project_id: str) -> None:
        """recover()'s part: drop the `init` warm copies no live warm-up is making."""
        if not self._engine._try_lock(conn, warm_key(project_id)):
            return  # a live warm-up is copying: its `init` row is not a leftover
        try:
            self._drop_leftovers(conn, project_id)
        finally:
            self._engine._unlock(conn, warm_key(project_id))
