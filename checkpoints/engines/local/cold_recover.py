"""Repairing the cold tier after a crash (called by `recover()` under the project's lock),
and archives removed with their snapshots."""

from __future__ import annotations

import logging
from pathlib import Path

from . import archive
from . import sql as db
from .cold import ColdMixin

log = logging.getLogger(__name__)

#: Projects with a tier move to repair (joined into recover()'s candidates).
COLD_CANDIDATES = (
    "OR EXISTS (SELECT 1 FROM snapshots s WHERE s.project_id = p.id "
    "           AND s.tier IN ('freezing', 'thawing')) "
    "OR EXISTS (SELECT 1 FROM snapshots s JOIN pg_database d ON d.datname = s.dbname "
    "           WHERE s.project_id = p.id AND s.tier = 'cold') "
    "OR EXISTS (SELECT 1 FROM snapshots s WHERE s.project_id = p.id "
    "           AND s.tier = 'hot' AND s.archive IS NOT NULL)"
)


class ColdRecoverMixin(ColdMixin):
    def _repair_cold(self, conn: db.Conn, project_id: str) -> None:
        rows = conn.execute(
            "SELECT id, dbname, tier, archive, checksum FROM snapshots "
            "WHERE project_id = %s AND state = 'ready' AND archive IS NOT NULL",
            (project_id,),
        ).fetchall()
        for snapshot_id, dbname, tier, path, checksum in rows:
            if tier == "freezing":  # undo: the template is still whole
                archive.remove(Path(path))
                if db.database_exists(conn, dbname):
                    db.allow_connections(conn, dbname, False)
                self._set_tier(conn, snapshot_id, "hot")
            elif tier == "thawing":  # undo: the archive is still whole
                db.drop_database(conn, dbname)
                self._set_tier(conn, snapshot_id, "cold")
            elif tier == "cold" and db.database_exists(conn, dbname):
                self._finish_freeze(conn, snapshot_id, dbname, Path(path), checksum)
            elif tier == "hot":  # recorded hot: the archive is a leftover
                archive.remove(Path(path))
                self._set_tier(conn, snapshot_id, "hot")

    def _finish_freeze(
        self, conn: db.Conn, snapshot_id: str, dbname: str, path: Path, checksum: str
    ) -> None:
        """Recorded cold, template still there: drop it if the archive is whole, else
        keep the template and go back to hot."""
        if path.is_file() and archive.sha256(path) == checksum:
            db.drop_database(conn, dbname)
            return
        log.warning("cold archive of snapshot %s is damaged; keeping it hot", snapshot_id)
        archive.remove(path)
        db.allow_connections(conn, dbname, False)
        self._set_tier(conn, snapshot_id, "hot")

    def _set_tier(self, conn: db.Conn, snapshot_id: str, tier: str) -> None:
        keep = tier == "cold"
        conn.execute(
            "UPDATE snapshots SET tier = %s, "
            "archive = CASE WHEN %s THEN archive END, "
            "checksum = CASE WHEN %s THEN checksum END, updated_at = now() WHERE id = %s",
            (tier, keep, keep, snapshot_id),
        )

    def _archive_of(self, conn: db.Conn, snapshot_id: str) -> Path | None:
        row = conn.execute("SELECT archive FROM snapshots WHERE id = %s", (snapshot_id,)).fetchone()
        return Path(row[0]) if row and row[0] else None

    def _drop_unknown_archives(self, conn: db.Conn) -> int:
        """Archives (and `.part` files) under this engine's folder that no snapshot row
        names: intent is recorded before a file is written, so these are leftovers."""
        if self.archive_dir is None:
            return 0
        root = self.archive_dir / self.control_db
        if not root.is_dir():
            return 0
        known = {
            archive
            for (archive,) in conn.execute(
                "SELECT archive FROM snapshots WHERE archive IS NOT NULL"
            ).fetchall()
        }
        dropped = 0
        for path in root.glob("*/*.dump*"):
            name = str(path).removesuffix(".part")
            if name not in known:
                log.warning("removing cold archive %s unknown to the catalog", path)
                path.unlink(missing_ok=True)
                dropped += 1
        return dropped

    def _archive_drop(self, conn: db.Conn, snapshot_id: str) -> None:
        """A deleted snapshot's archive goes with it (before its row)."""
        path = self._archive_of(conn, snapshot_id)
        if path is not None:
            archive.remove(path)

    def _project_archives_drop(self, project_id: str) -> None:
        if self.archive_dir is None:
            return
        folder = self.archive_dir / self.control_db / project_id
        for path in folder.glob("*.dump*"):
            path.unlink(missing_ok=True)
        if folder.is_dir():
            folder.rmdir()
