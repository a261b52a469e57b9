"""The local engine's versions as of a past moment: the project's database recovered in a
scratch instance (`recovery`), dumped from there as the project's own role, and recorded
as a cold snapshot (its archive in the cold tier's folder): from then on a version like
any other, which a rollback or a preview loads as the project's role too.

The heavy part (recovery, dump) holds no lock; only recording the snapshot takes the
project's, for a moment. Intent first, as everywhere: the snapshot's row (`init`, its
archive's path) is committed before the archive moves into place, so `recover()` removes
a half-recorded one; the scratch instance and its dump go with their folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import psycopg

from ...errors import EngineError, EngineInvalidRequest, EngineNotSupported
from ...types import AsOf, SnapshotCreated
from .. import archive
from .. import catalog as cat
from .. import sql as db
from ..cold import ColdTier
from ..records import BranchRow
from ..rows import LocalRows
from . import basebackup, reaping, recovery, wal

NO_HISTORY = (
    "versions as of a past moment need the server's history (WAL archiving): the local "
    "engine has it on its embedded servers only"
)
NO_DATABASE = "the project had no database at that moment"


class AsOfMixin(LocalRows):
    history_dir: Path | None
    _cold: ColdTier

    def history_ready(self) -> bool:
        """Whether this engine's server archives its WAL into a history it can read."""
        return bool(
            self.history_dir is not None
            and self.archive_dir is not None
            and self.pg_bin_dir is not None
            and (self.history_dir / wal.WAL_DIR).is_dir()
        )

    def _history(self) -> tuple[Path, Path]:
        if not self.history_ready():
            raise EngineNotSupported(NO_HISTORY)
        assert self.history_dir is not None and self.pg_bin_dir is not None
        return self.history_dir, self.pg_bin_dir

    def history_reap(self) -> int:
        """Scratch instances and half-made backups that crashed processes left."""
        if self.history_dir is None or self.pg_bin_dir is None:
            return 0
        basebackup.reap(self.history_dir)
        return reaping.reap(self.pg_bin_dir, self.history_dir)

    def history_span(self) -> tuple[datetime | None, int, int]:
        """(the oldest moment a version can be made as of, WAL bytes, base-backup bytes)."""
        if self.history_dir is None:
            return None, 0, 0
        found = basebackup.backups(self.history_dir)
        return (
            found[0].finished_at if found else None,
            wal.folder_bytes(self.history_dir / wal.WAL_DIR),
            sum(b.bytes for b in found),
        )

    def snapshot_as_of(
        self,
        project_id: str,
        branch_id: str,
        as_of: AsOf,
        *,
        name: str | None = None,
        expires_at: datetime | None = None,
        inspect: Callable[[str], None] | None = None,
    ) -> SnapshotCreated:
        """A snapshot of the root branch as it was at `as_of` (see the module)."""
        history, bin_dir = self._history()
        with self._reading() as conn:
            branch = self._branch_row(conn, project_id, branch_id)
            role = self._role(conn, project_id)[0]
            segment = self._close_segment(conn)
        wal.wait_archived(history, segment)
        dbname = branch.dbname
        try:
            with recovery.scratch_instance(
                bin_dir,
                history,
                as_of,
                run_as=reaping.owner(history / wal.WAL_DIR),
                fault=self._fault,
            ) as scratch:
                if not _database_there(scratch, dbname):
                    raise EngineInvalidRequest(NO_DATABASE, status=400)
                if inspect is not None:
                    inspect(scratch.url(dbname, role))
                part = scratch.folder / "version.dump"
                checksum, size = archive.dump(
                    bin_dir,
                    scratch.url(dbname, role),
                    dbname,
                    part,
                    role=role,
                    options=self.session_limits.options(),
                )
                self._fault("as_of_dumped")
                return self._as_of_record(
                    project_id, branch, name, expires_at, (part, checksum, size)
                )
        except recovery.NotInWindow as error:
            raise EngineInvalidRequest(str(error), status=400) from None
        except (RuntimeError, TimeoutError, psycopg.Error) as error:
            raise EngineError(f"recovery failed: {error}") from None

    def _close_segment(self, conn: db.Conn) -> str:
        """Commit a mark (its time is later than any past target) and close the current
        WAL segment, so the archive holds everything up to now; the segment's name."""
        conn.execute(
            "INSERT INTO engine_meta VALUES ('history_mark', clock_timestamp()::text) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        )
        row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
        assert row is not None
        return str(row[0])

    def _as_of_record(
        self,
        project_id: str,
        branch: BranchRow,
        name: str | None,
        expires_at: datetime | None,
        dumped: tuple[Path, str, int],
    ) -> SnapshotCreated:
        part, checksum, size = dumped
        with self._mutation(project_id) as conn:
            snapshot_id, _, op_ids = self._snapshot_intent(
                conn, project_id, branch, name, expires_at
            )
            path = self._cold.archives.path(project_id, snapshot_id)
            try:
                conn.execute(
                    "UPDATE snapshots SET tier = 'cold', archive = %s, checksum = %s, "
                    "stored_bytes = %s WHERE id = %s",
                    (str(path), checksum, size, snapshot_id),
                )
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                shutil.move(part, path)
                self._fault("as_of_archived")
                with conn.transaction():
                    conn.execute(
                        "UPDATE snapshots SET state = 'ready' WHERE id = %s", (snapshot_id,)
                    )
                    self._ops_end(conn, op_ids)
            except BaseException as error:
                archive.remove(path)
                conn.execute("DELETE FROM snapshots WHERE id = %s", (snapshot_id,))
                self._fail(conn, op_ids, error)
                raise
            return SnapshotCreated(
                snapshot=cat.snapshot_from(
                    self._snapshot_row(conn, project_id, snapshot_id), size, "cold"
                ),
                operations=self._ops(conn, op_ids),
            )


def _database_there(scratch: recovery.Scratch, dbname: str) -> bool:
    with psycopg.connect(scratch.url("postgres", "postgres"), autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
    return row is not None
