"""Leftovers of scratch instances: one stopped and removed with its folders, and
`reap()`, which does so for every instance whose process is gone (killed outright)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psutil

from . import wal

log = logging.getLogger(__name__)

SOCKET_PREFIX = "cp-scratch-"


def run_as_server(argv: list[str], run_as: str | None) -> subprocess.CompletedProcess[str]:
    # Its own session: Ctrl-C in the terminal reaches us, and we stop the instance.
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        check=False,
        user=run_as,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd="/",
    )


def scratch_remove(bin_dir: Path, folder: Path, socket_dir: Path, run_as: str | None) -> None:
    pgdata = folder / "pgdata"
    if (pgdata / "postmaster.pid").exists():
        stop = [str(bin_dir / "pg_ctl"), "stop", "-m", "immediate", "-w", "-t", "30"]
        run_as_server([*stop, "-D", str(pgdata)], run_as)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(socket_dir, ignore_errors=True)


def reap(bin_dir: Path, history: Path) -> int:
    """Scratch instances of processes that are gone: stopped, their folders removed."""
    reaped = 0
    root = history / wal.SCRATCH_DIR
    for folder in list(root.iterdir()) if root.is_dir() else []:
        if _alive(folder.name):
            continue
        log.warning("removing a scratch instance left by process %s", folder.name)
        socket_dir = Path(tempfile.gettempdir()) / f"{SOCKET_PREFIX}{folder.name}"
        scratch_remove(bin_dir, folder, socket_dir, owner(folder))
        reaped += 1
    for socket_dir in Path(tempfile.gettempdir()).glob(f"{SOCKET_PREFIX}*"):
        if not _alive(socket_dir.name.removeprefix(SOCKET_PREFIX)):
            shutil.rmtree(socket_dir, ignore_errors=True)
    return reaped


def _alive(token: str) -> bool:
    """Whether the process that named a scratch folder `<pid>-<token>` still runs."""
    owner = token.split("-", 1)[0]
    return owner.isdigit() and psutil.pid_exists(int(owner))


def owner(folder: Path) -> str | None:
    """The system user a leftover instance ran as (pg_ctl must run as it)."""
    if os.geteuid() != 0:
        return None
    import pwd

    with contextlib.suppress(OSError, KeyError):
        user = pwd.getpwuid(folder.stat().st_uid).pw_name
        return None if user == "root" else user
    return None
