"""A team server that archives its WAL, in its own folder, for the history window's tests
(module-scoped by each test module that uses it)."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from checkpoints.engines.local import LocalEngine
from checkpoints.engines.local.history import basebackup, wal
from checkpoints.servers import teamservers
from checkpoints.servers.pgserver import pg_bin

TEAM = 1


class History:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = teamservers.ensure_running(root, TEAM, fast=True)
        self.server = teamservers.team_server(root, TEAM, fast=True)
        self.dir = wal.history_dir(self.server.data_dir)
        self.bin = pg_bin("pg_ctl").parent

    def engine(self, **options) -> LocalEngine:
        return LocalEngine(
            self.url,
            control_db=options.pop("control_db", f"ckt_{uuid.uuid4().hex[:10]}"),
            archive_dir=self.root / "cold",
            history_dir=self.dir,
            reflink=False,
            **options,
        )

    def backup(self) -> basebackup.Backup:
        return basebackup.take(self.bin, self.server.url(), self.dir)


@contextmanager
def history_server() -> Iterator[History]:
    """A team server (team 1) in a folder of its own, with one base backup taken."""
    root = Path(tempfile.mkdtemp(prefix="checkpoints-history-"))
    made = History(root)
    made.backup()  # the one base backup: every project made after it is in the WAL
    try:
        yield made
    finally:
        made.server.stop(mode="immediate")
        shutil.rmtree(root, ignore_errors=True)
