"""Quiet copies: a save of a served branch never interrupts its app.

`CREATE DATABASE … TEMPLATE` copies only a database nobody is connected to, so a save
by template blocks the live database and ends the app's sessions. A served branch is
saved instead from an MVCC snapshot of it: `pg_dump` (as the project's role, `--role`;
it runs none of the database's code and takes ACCESS SHARE locks, which conflict with
no read or write of the app) into a temporary archive (not flushed to the disk: it is
read back at once, and a crash discards it), loaded into the snapshot's new
database by the project's own role, exactly as a cold snapshot is thawed (`cold.py`).
The app keeps reading and writing the whole time; the save takes longer than a template
copy. With nobody connected the save is a template copy after all (the fastest; an app
connecting meanwhile waits for it, it is not refused). A table the agent holds ACCESS EXCLUSIVE fails the save within the engine's lock
timeout (a lock timeout the jobs explain, `jobs/locked.py`).

The temporary archive lives in `<archive folder>/<control db>/.saving/` (a temporary
folder when the engine has no archive folder), named after the snapshot's database,
which is recorded (`init`) before the dump starts: `recover()` removes the files of
snapshots no longer being made.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import psycopg

from . import archive, contain
from . import sql as db
from .cold import ColdTier
from .rows import LocalRows

log = logging.getLogger(__name__)

#: pg_dump's archive for a save is read once, right away: no compression (the fastest).
SAVE_COMPRESSION = "none"


class QuietCopyMixin(LocalRows):
    _cold: ColdTier

    def _saving_dir(self) -> Path:
        if self.archive_dir is not None:
            return self.archive_dir / self.control_db / ".saving"
        return Path(tempfile.gettempdir()) / f"checkpoints-saving-{self.control_db}"

    def _copy_quietly(
        self, conn: db.Conn, project_id: str, branch_id: str, source_db: str, target_db: str
    ) -> bool:
        """Copy the branch's database into the new `target_db` (the engine's, not
        connectable) without ending a session on it. False (nothing done) for a branch
        nobody is served on (no endpoint), or an engine without pg_dump: copy it by
        template then."""
        if self.pg_bin_dir is None or self._endpoint_of(conn, branch_id) is None:
            return False
        if self._copy_if_unattended(conn, source_db, target_db):
            return True
        role, _ = self._role(conn, project_id)
        folder = self._saving_dir()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = folder / f"{target_db}.dump"
        try:
            checksum, _ = archive.dump(
                self.pg_bin_dir,
                self._server_url,
                source_db,
                path,
                role=role,
                options=self.session_limits.options(),
                compression=SAVE_COMPRESSION,
                lock_wait=self.session_limits.lock_timeout,
                timeout=self.session_limits.statement_seconds(),
                durable=False,
            )
            self._fault("snapshot_dumped")
            self._cold.load(conn, project_id, target_db, path, checksum)
            contain.revoke_branch(conn, target_db, role)
        finally:
            archive.remove(path)
        return True

    def _copy_if_unattended(self, conn: db.Conn, source_db: str, target_db: str) -> bool:
        """Nobody connected: copy by template, the fastest (an app connecting meanwhile
        waits for the copy; it is not refused). Someone connected: False, dump instead
        (PostgreSQL would refuse the template copy, after retrying for ~5 s)."""
        if db.sessions_on(conn, source_db):
            return False
        try:
            db.copy_database(conn, target_db, template=source_db)
        except psycopg.errors.ObjectInUse:
            return False  # an app connected in between: copy it quietly after all
        return True

    def _drop_saving_leftovers(self, conn: db.Conn) -> int:
        """Temporary save archives of snapshots no longer being made (`init`): a crashed
        save's. Those of a save in progress (its row `init`) stay."""
        folder = self._saving_dir()
        if not folder.is_dir():
            return 0
        saving = {
            row[0]
            for row in conn.execute("SELECT dbname FROM snapshots WHERE state = 'init'").fetchall()
        }
        dropped = 0
        for path in folder.glob("*.dump*"):
            if path.name.split(".", 1)[0] not in saving:
                log.warning("removing a crashed save's archive %s", path.name)
                path.unlink(missing_ok=True)
                dropped += 1
        return dropped
