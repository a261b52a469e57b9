"""A scratch instance recovered to a target: the newest backup chain finished before it,
combined into `history/scratch/<pid>-<token>/pgdata`, replaying the WAL archive until
the target and promoted there. It listens on no TCP port, only on a Unix
socket in a private folder (mode 700) under the system's temp folder, and lets in only
local connections, without passwords (pg_hba `local all all trust`): nobody else can
reach that socket, and each session logs in as whom the caller asks (the project's role).

`scratch_instance()` stops the instance and removes both folders on the way out, also on
Ctrl-C; a process killed outright leaves them named by its pid, and `reap()` (run at every
engine start and before each recovery) stops and removes those whose process is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg

from ...types import AsOf
from . import basebackup, wal
from .reaping import SOCKET_PREFIX, reap, run_as_server, scratch_remove

log = logging.getLogger(__name__)

#: Small on purpose: the instance only replays WAL and serves one pg_dump.
SCRATCH_SETTINGS = {
    "listen_addresses": "",
    "shared_buffers": "16MB",
    "maintenance_work_mem": "16MB",
    "autovacuum": "off",
    "io_method": "sync",
    # Promoted at the target, not paused there: a transaction in flight at that moment
    # (its locks replayed, its commit not) is rolled back, and no lock stalls the dump.
    "hot_standby": "off",
    "archive_mode": "off",
    "summarize_wal": "off",
    "recovery_target_action": "promote",
    "fsync": "off",  # thrown away after use
    "full_page_writes": "off",
}
#: The primary's settings a hot standby must match at least (read with pg_controldata).
_MATCHED = {
    "max_connections setting": "max_connections",
    "max_worker_processes setting": "max_worker_processes",
    "max_wal_senders setting": "max_wal_senders",
    "max_prepared_xacts setting": "max_prepared_transactions",
    "max_locks_per_xact setting": "max_locks_per_transaction",
}


class NotInWindow(Exception):
    """The history holds no backup from before the target (or no history at all)."""


def target_settings(target: AsOf) -> dict[str, str]:
    """The recovery_target_* settings of `target`."""
    chosen = {"recovery_target_inclusive": "on" if target.inclusive else "off"}
    if target.xid is not None:
        chosen["recovery_target_xid"] = str(int(target.xid))
    elif target.lsn is not None:
        basebackup.lsn_int(target.lsn)  # a malformed LSN fails here, not in the server
        chosen["recovery_target_lsn"] = target.lsn
    elif target.timestamp is not None:
        chosen["recovery_target_time"] = target.timestamp.isoformat()
    else:
        raise ValueError("a past moment needs a timestamp, an LSN or a transaction id")
    return chosen


def reaches(target: AsOf, backup: basebackup.Backup) -> bool:
    """Whether a recovery from `backup` can stop at `target`."""
    if target.xid is None and target.lsn is not None:
        return basebackup.lsn_int(backup.end_lsn) <= basebackup.lsn_int(target.lsn)
    if target.timestamp is not None:
        return backup.finished_at < target.timestamp
    return True  # a transaction without a time: the oldest chain replays every commit


@dataclass(frozen=True)
class Scratch:
    folder: Path  # private to the caller while the instance runs, removed with it
    socket_dir: Path
    port: int

    def url(self, dbname: str, user: str) -> str:
        host = quote(str(self.socket_dir), safe="")
        return f"postgresql://{quote(user, safe='')}@/{quote(dbname, safe='')}?host={host}&port={self.port}"


def starting_backup(history: Path, target: AsOf) -> basebackup.Backup:
    found = [b for b in basebackup.backups(history) if reaches(target, b)]
    if not found:
        raise NotInWindow("the history window does not reach back to that moment")
    if target.xid is not None and target.timestamp is None:
        return found[0]
    return found[-1]


@contextlib.contextmanager
def scratch_instance(
    bin_dir: Path,
    history: Path,
    target: AsOf,
    *,
    run_as: str | None,
    fault: Callable[[str], None] = lambda step: None,
) -> Iterator[Scratch]:
    """A scratch instance recovered to `target` for the duration of the block."""
    reap(bin_dir, history)
    steps = basebackup.chain(history, starting_backup(history, target))
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    folder = history / wal.SCRATCH_DIR / token
    socket_dir = Path(tempfile.gettempdir()) / f"{SOCKET_PREFIX}{token}"
    try:
        folder.mkdir(mode=0o700, parents=True)
        socket_dir.mkdir(mode=0o700)
        fault("scratch_made")
        pgdata = folder / "pgdata"
        basebackup.combine(bin_dir, history, steps, pgdata)
        (pgdata / "pg_hba.conf").write_text("local all all trust\n")
        (pgdata / "recovery.signal").touch()
        settings = {**SCRATCH_SETTINGS, **_matched(bin_dir, pgdata), **target_settings(target)}
        settings["restore_command"] = wal.restore_command(history)
        settings["unix_socket_directories"] = str(socket_dir)
        _hand_over([folder, socket_dir], run_as)
        fault("scratch_combined")
        port = 5432  # only names the socket file: nothing listens on TCP
        _start(bin_dir, pgdata, folder / "postgres.log", port, settings, run_as)
        fault("scratch_started")
        scratch = Scratch(folder=folder, socket_dir=socket_dir, port=port)
        _wait_promoted(scratch, pgdata, folder / "postgres.log")
        fault("scratch_recovered")
        yield scratch
    finally:
        scratch_remove(bin_dir, folder, socket_dir, run_as)


def _matched(bin_dir: Path, pgdata: Path) -> dict[str, str]:
    done = subprocess.run(
        [str(bin_dir / "pg_controldata"), str(pgdata)], capture_output=True, text=True, check=True
    )
    found = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in _MATCHED:
            found[_MATCHED[key.strip()]] = value.strip()
    return found


def _hand_over(folders: list[Path], run_as: str | None) -> None:
    if run_as is None:
        return
    import pwd

    entry = pwd.getpwnam(run_as)
    for folder in folders:
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        for path in folder.rglob("*"):
            os.lchown(path, entry.pw_uid, entry.pw_gid)


def _start(
    bin_dir: Path,
    pgdata: Path,
    log_file: Path,
    port: int,
    settings: dict[str, str],
    run_as: str | None,
) -> None:
    options = [f"-p {port}", *(f"-c {shlex.quote(f'{k}={v}')}" for k, v in settings.items())]
    argv = [str(bin_dir / "pg_ctl"), "start", "-w", "-t", "600", "-D", str(pgdata)]
    argv += ["-l", str(log_file), "-o", " ".join(options)]
    done = run_as_server(argv, run_as)
    if done.returncode != 0:
        tail = log_file.read_text(errors="replace")[-1500:] if log_file.exists() else ""
        raise RuntimeError(_failure(tail) or f"the scratch instance did not start: {tail}")


def _failure(log_tail: str) -> str | None:
    if "recovery ended before configured recovery target was reached" in log_tail:
        return "the history does not reach that moment yet"
    return None


def _wait_promoted(
    scratch: Scratch, pgdata: Path, log_file: Path, *, timeout: float = 600.0
) -> None:
    """Until the instance has replayed to its target and been promoted (it refuses
    connections while it replays); an instance that stopped fails with its log's reason."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            with psycopg.connect(scratch.url("postgres", "postgres"), autocommit=True) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row and not row[0]:
                return
        except psycopg.OperationalError as error:
            if not (pgdata / "postmaster.pid").exists():
                tail = log_file.read_text(errors="replace")[-1500:]
                raise RuntimeError(
                    _failure(tail) or f"the scratch instance stopped: {error}"
                ) from None
        if time.monotonic() > deadline:
            raise TimeoutError("the scratch instance did not reach its target")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
