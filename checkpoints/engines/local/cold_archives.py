"""The cold tier's archives and the catalog columns that track them (`tier`, `archive`,
`checksum`): where an archive goes, which one a snapshot restores from, repairing a
half-done tier move after a crash (`recover()`, under the project's lock), and archives
removed with their snapshots or projects. Part of the cold tier (`cold.ColdTier.archives`)."""

from __future__ import annotations

import logging
from pathlib import Path

from . import archive
from . import sql as db
from .records import TierRow
from .util import quietly

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


class ColdArchives:
    """The archives under `root` (`<archive folder>/<control db>`; None: no cold tier)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

    def path(self, project_id: str, snapshot_id: str) -> Path:
        """Where the snapshot's archive goes: `<root>/<project id>/<snapshot id>.dump`."""
        assert self.root is not None
        return self.root / project_id / f"{snapshot_id}.dump"

    def tier_row(self, conn: db.Conn, snapshot_id: str) -> TierRow:
        row = conn.execute(
            "SELECT tier, archive, checksum, stored_bytes FROM snapshots WHERE id = %s",
            (snapshot_id,),
        ).fetchone()
        assert row is not None
        return TierRow._make(row)

    def source(self, conn: db.Conn, snapshot_id: str) -> tuple[Path, str] | None:
        """(archive, sha256) of a cold snapshot; None for a hot one."""
        tier, path, checksum, _ = self.tier_row(conn, snapshot_id)
        if tier != "cold":
            return None
        assert path is not None and checksum is not None  # recorded when it went cold
        return Path(path), checksum

    def undo_freeze(self, conn: db.Conn, snapshot_id: str, dbname: str, path: Path) -> None:
        """A freeze that failed before it was recorded cold: back to hot."""
        archive.remove(path)
        quietly(db.allow_connections, conn, dbname, False)
        conn.execute(
            "UPDATE snapshots SET tier = 'hot', archive = NULL, checksum = NULL WHERE id = %s",
            (snapshot_id,),
        )

    def repair(self, conn: db.Conn, project_id: str) -> None:
        """Undo a half-done tier move (`freezing`, `thawing`), finish a recorded one."""
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

    def drop_unknown(self, conn: db.Conn) -> int:
        """Archives (and `.part` files) under this engine's folder that no snapshot row
        names: intent is recorded before a file is written, so these are leftovers."""
        if self.root is None or not self.root.is_dir():
            return 0
        known = {
            archive
            for (archive,) in conn.execute(
                "SELECT archive FROM snapshots WHERE archive IS NOT NULL"
            ).fetchall()
        }
        dropped = 0
        for path in self.root.glob("*/*.dump*"):
            name = str(path).removesuffix(".part")
            if name not in known:
                log.warning("removing cold archive %s unknown to the catalog", path)
                path.unlink(missing_ok=True)
                dropped += 1
        return dropped

    def drop(self, conn: db.Conn, snapshot_id: str) -> None:
        """A deleted snapshot's archive goes with it (before its row)."""
        row = conn.execute("SELECT archive FROM snapshots WHERE id = %s", (snapshot_id,)).fetchone()
        if row and row[0]:
            archive.remove(Path(row[0]))

    def drop_project(self, project_id: str) -> None:
        """A deleted project's archives."""
        if self.root is None:
            return
        folder = self.root / project_id
        for path in folder.glob("*.dump*"):
            path.unlink(missing_ok=True)
        if folder.is_dir():
            folder.rmdir()
