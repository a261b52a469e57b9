"""Keeping the history within its window and budget: a base backup when the newest is
older than `BACKUP_EVERY`, then every backup and archived segment that no recovery within
the window needs removed (`pg_archivecleanup`); over the budget, whole chains go from the
oldest while a newer full backup remains (the window then reaches less far back)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from . import basebackup, wal

#: A base backup at least this often: a recovery replays at most this much WAL.
BACKUP_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class Storage:
    """What a server's history holds: how far back it reaches, and its bytes."""

    oldest: datetime | None  # the earliest moment a version can be made as of
    wal_bytes: int
    base_bytes: int
    backups: int

    @property
    def total(self) -> int:
        return self.wal_bytes + self.base_bytes


def storage(history: Path) -> Storage:
    found = basebackup.backups(history)
    return Storage(
        oldest=found[0].finished_at if found else None,
        wal_bytes=wal.folder_bytes(history / wal.WAL_DIR),
        base_bytes=sum(b.bytes for b in found),
        backups=len(found),
    )


def maintain(
    bin_dir: Path,
    server_url: str,
    history: Path,
    *,
    window: timedelta,
    budget: int | None = None,
    now: datetime | None = None,
) -> Storage:
    """A backup if one is due, then the history trimmed to `window` (and `budget` bytes)."""
    now = now or datetime.now(UTC)
    basebackup.reap(history)
    found = basebackup.backups(history)
    if not found or now - found[-1].started_at >= BACKUP_EVERY:
        basebackup.take(bin_dir, server_url, history, now=now)
    trim(bin_dir, history, keep_since=now - window, budget=budget)
    return storage(history)


def trim(bin_dir: Path, history: Path, *, keep_since: datetime, budget: int | None) -> None:
    found = basebackup.backups(history)
    if not found:
        return
    fulls = [i for i, b in enumerate(found) if b.full]
    reaching = [i for i, b in enumerate(found) if b.finished_at <= keep_since]
    # A recovery to `keep_since` starts at the newest backup before it: keep its chain.
    start = max((i for i in fulls if i <= (reaching[-1] if reaching else 0)), default=0)
    if budget is not None:
        sizes = {name: _segment_bytes(history, name) for name in wal.segments(history)}
        while start != fulls[-1] and _bytes_from(found, start, sizes) > budget:
            start = next(i for i in fulls if i > start)
    for backup in found[:start]:
        basebackup.remove(history, backup)
    wal.trim(bin_dir, history, found[start].start_segment)


def _segment_bytes(history: Path, name: str) -> int:
    return (history / wal.WAL_DIR / f"{name}{wal.SUFFIX}").stat().st_size


def _bytes_from(found: list[basebackup.Backup], start: int, sizes: dict[str, int]) -> int:
    first = found[start].start_segment
    return sum(b.bytes for b in found[start:]) + sum(
        size for name, size in sizes.items() if name >= first
    )
