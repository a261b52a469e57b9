"""Base backups of an archived server: a full one, then incrementals on the newest
(`pg_basebackup --incremental`, from the WAL summaries), each in `history/base/<name>/`
with its record `<name>.json` beside it (written last: a backup without one is a
leftover). A chain is a full backup and the incrementals after it; recovery combines
the chain ending at the newest backup finished before its target (`pg_combinebackup`).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from .wal import BASE_DIR

#: A full backup at least this often (a chain replays no further back than its full).
FULL_EVERY = timedelta(hours=24)
#: Incrementals on one full at most (each adds a step to pg_combinebackup).
MAX_CHAIN = 24
_LABEL_SEGMENT = re.compile(r"START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)")


def lsn_int(lsn: str) -> int:
    high, low = lsn.split("/")
    return (int(high, 16) << 32) + int(low, 16)


@dataclass(frozen=True)
class Backup:
    name: str
    parent: str | None  # None: a full backup
    start_lsn: str
    end_lsn: str
    start_segment: str  # the oldest archived WAL segment a recovery from it reads
    started_at: datetime
    finished_at: datetime  # a recovery from it may stop at any later moment
    bytes: int

    @property
    def full(self) -> bool:
        return self.parent is None


def backups(history: Path) -> list[Backup]:
    """The finished backups, oldest first."""
    found = []
    for record in sorted((history / BASE_DIR).glob("*.json")):
        raw = json.loads(record.read_text())
        raw["started_at"] = datetime.fromisoformat(raw["started_at"])
        raw["finished_at"] = datetime.fromisoformat(raw["finished_at"])
        if (record.with_suffix("")).is_dir():
            found.append(Backup(**raw))
    return sorted(found, key=lambda b: lsn_int(b.start_lsn))


def chain(history: Path, last: Backup) -> list[Backup]:
    """`last` and the backups it is incremental on, full first."""
    by_name = {b.name: b for b in backups(history)}
    steps = [last]
    while steps[0].parent is not None:
        steps.insert(0, by_name[steps[0].parent])
    return steps


def take(bin_dir: Path, server_url: str, history: Path, *, now: datetime | None = None) -> Backup:
    """A base backup of the server (its superuser's `server_url`): incremental on the
    newest when one is recent enough, else full (also when an incremental is refused,
    e.g. WAL summaries missing after the server was down)."""
    now = now or datetime.now(UTC)
    found = backups(history)
    parent = found[-1] if found else None
    if parent is not None:
        steps = chain(history, parent)
        if now - steps[0].started_at >= FULL_EVERY or len(steps) > MAX_CHAIN:
            parent = None
    with _taking(history, wait=True):
        try:
            return _take(bin_dir, server_url, history, parent, now)
        except RuntimeError:
            if parent is None:
                raise
            return _take(bin_dir, server_url, history, None, now)


@contextmanager
def _taking(history: Path, *, wait: bool) -> Iterator[bool]:
    """The history's backup lock (a file lock: the kernel drops it when its process dies),
    held while a backup is taken and while leftovers are reaped, so that one process's
    reap never removes the staging folder another process is writing. Yields whether it
    is held (always, with `wait`)."""
    base = history / BASE_DIR
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(base / ".lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True


def _take(
    bin_dir: Path, server_url: str, history: Path, parent: Backup | None, now: datetime
) -> Backup:
    name = f"{now:%Y%m%dT%H%M%S%fZ}-{'incr' if parent else 'full'}"
    base = history / BASE_DIR
    staging = base / f".tmp-{name}"
    shutil.rmtree(staging, ignore_errors=True)
    argv, env = _command(bin_dir, server_url, staging)
    if parent is not None:
        argv.append(f"--incremental={base / parent.name / 'backup_manifest'}")
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"pg_basebackup failed: {done.stderr.strip()[-500:]}")
    subprocess.run(["sync", "-f", str(staging)], check=False)
    manifest = json.loads((staging / "backup_manifest").read_text())
    wal = manifest["WAL-Ranges"][0]
    found = _LABEL_SEGMENT.search((staging / "backup_label").read_text())
    assert found is not None
    record = Backup(
        name=name,
        parent=parent.name if parent else None,
        start_lsn=wal["Start-LSN"],
        end_lsn=wal["End-LSN"],
        start_segment=found.group(1),
        started_at=now,
        finished_at=datetime.now(UTC),
        bytes=_bytes(staging),
    )
    staging.rename(base / name)
    raw = asdict(record)
    raw["started_at"] = record.started_at.isoformat()
    raw["finished_at"] = record.finished_at.isoformat()
    part = base / f".{name}.json.part"
    part.write_text(json.dumps(raw))
    part.rename(base / f"{name}.json")
    return record


def _command(bin_dir: Path, server_url: str, staging: Path) -> tuple[list[str], dict[str, str]]:
    """pg_basebackup's arguments and environment (the password never on a command line)."""
    params = conninfo_to_dict(server_url)
    argv = [
        str(bin_dir / "pg_basebackup"),
        "-D",
        str(staging),
        "--wal-method=none",  # the archive holds the WAL
        "--checkpoint=fast",
        "--no-sync",  # synced below, once
        "-h",
        str(params.get("host") or "localhost"),
        "-p",
        str(params.get("port") or 5432),
        "-U",
        str(params.get("user") or "postgres"),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if params.get("password"):
        env["PGPASSWORD"] = str(params["password"])
    return argv, env


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def remove(history: Path, backup: Backup) -> None:
    """A backup gone: its record first (a folder without one is a leftover)."""
    base = history / BASE_DIR
    (base / f"{backup.name}.json").unlink(missing_ok=True)
    shutil.rmtree(base / backup.name, ignore_errors=True)


def reap(history: Path) -> None:
    """Half-made backups (staging folders, folders without a record) removed; nothing
    while another process takes a backup (its staging folder is not a leftover)."""
    base = history / BASE_DIR
    if not base.is_dir():
        return
    with _taking(history, wait=False) as held:
        if held:
            _reap_unlocked(base)


def _reap_unlocked(base: Path) -> None:
    for path in base.iterdir():
        if path.name == ".lock":
            continue
        if path.name.startswith(".tmp-") or path.name.endswith(".json.part"):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()
        elif path.is_dir() and not (base / f"{path.name}.json").exists():
            shutil.rmtree(path, ignore_errors=True)


def combine(bin_dir: Path, history: Path, steps: list[Backup], output: Path) -> None:
    """The chain combined into one data folder at `output` (a full backup copied)."""
    base = history / BASE_DIR
    argv = [str(bin_dir / "pg_combinebackup"), "--no-sync", "-o", str(output)]
    argv += [str(base / step.name) for step in steps]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pg_combinebackup failed: {done.stderr.strip()[-500:]}")
