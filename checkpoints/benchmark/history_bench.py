"""The history window (engines/local/history): the time to a version as of a past moment
at each size (a team server archiving its WAL; the app database filled, then a base
backup as the hourly ones leave it, then changes: recovery in a scratch instance, dump as
the project's role, recorded cold), and what the history stores for a steady small
workload (an insert and an update every `WORKLOAD_TICK` s): WAL written, archived (gzip)
and one incremental base backup, extrapolated to a day."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from checkpoints.benchmark.dataset import build_app_database
from checkpoints.engines.local import LocalEngine
from checkpoints.engines.local.history import basebackup, retention, wal
from checkpoints.servers import teamservers
from checkpoints.servers.pgserver import POSTGRES_BIN_PATH

WORKLOAD_TICK = 0.5
DAY = 86400.0


@dataclass
class HistoryResult:
    figures: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        f = self.figures
        lines = ["", "== history window (WAL archive + incremental base backups) =="]
        for size, seconds in f["as_of_s"].items():
            lines.append(f"version as of a past moment at {size} MB: {seconds:.2f} s (target 5 s)")
        w = f["workload"]
        lines += [
            f"steady small workload ({w['tx_per_s']:.1f} tx/s for {w['seconds']:.0f} s): "
            f"WAL {w['wal_bytes_per_s'] / 1024:.1f} KB/s written, "
            f"{w['archived_bytes_per_s'] / 1024:.1f} KB/s archived (gzip)",
            f"per day: WAL archive {w['archive_mb_day']:.0f} MB, base backups "
            f"{w['base_mb_day']:.0f} MB (a full {w['full_mb']:.1f} MB + 24 hourly "
            f"incrementals of {w['incremental_mb']:.2f} MB) = {w['total_mb_day']:.0f} MB "
            "per project-day",
        ]
        return lines


def bench_history(sizes: list[float], workload_seconds: float) -> HistoryResult:
    root = Path(tempfile.mkdtemp(prefix="checkpoints-bench-history-"))
    figures: dict[str, Any] = {"as_of_s": {}}
    try:
        for team_id, size in enumerate(sizes, start=1):
            figures["as_of_s"][f"{size:g}"] = _as_of(root, team_id, size)
        figures["workload"] = _workload(root, len(sizes) + 1, workload_seconds)
    finally:
        teamservers.stop_all(root, mode="immediate")
        shutil.rmtree(root, ignore_errors=True)
    return HistoryResult(figures)


def _server(root: Path, team_id: int) -> tuple[LocalEngine, Any, Path]:
    url = teamservers.ensure_running(root, team_id)
    server = teamservers.team_server(root, team_id)
    history = wal.history_dir(server.data_dir)
    engine = LocalEngine(
        url,
        archive_dir=teamservers.cold_dir(root, team_id),
        history_dir=history,
        reflink=False,
    )
    return engine, server, history


def _as_of(root: Path, team_id: int, size_mb: float) -> float:
    engine, server, history = _server(root, team_id)
    try:
        made = engine.project_create(name=f"bench-history-{size_mb:g}")
        uri = engine.connection_uri(made.project.id)
        build_app_database(uri, size_mb)
        # As the hourly backups leave it: the data in the backup, the last changes in WAL.
        basebackup.take(POSTGRES_BIN_PATH, server.url(), history)
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("UPDATE bench_marker SET value = value + 1 WHERE id = 1")
        moment = datetime.now(UTC)
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("UPDATE bench_marker SET value = value + 1 WHERE id = 1")
        started = time.perf_counter()
        engine.snapshot_create(made.project.id, made.branch.id, timestamp=moment)
        return time.perf_counter() - started
    finally:
        engine.close()


def _workload(root: Path, team_id: int, seconds: float) -> dict[str, float]:
    engine, server, history = _server(root, team_id)
    try:
        made = engine.project_create(name="bench-history-workload")
        uri = engine.connection_uri(made.project.id)
        build_app_database(uri, 1)
        full = basebackup.take(POSTGRES_BIN_PATH, server.url(), history)
        with psycopg.connect(server.url(), autocommit=True) as admin:
            admin.execute("SELECT pg_switch_wal()")
            time.sleep(1)
            archived_before = retention.storage(history).wal_bytes
            start_lsn = admin.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
            ticks = _run_workload(uri, seconds)
            end_lsn = admin.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
            written = admin.execute("SELECT %s::pg_lsn - %s::pg_lsn", (end_lsn, start_lsn))
            wal_bytes = float(written.fetchone()[0])
            segment = admin.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]
        wal.wait_archived(history, segment)
        archived = retention.storage(history).wal_bytes - archived_before
        incremental = basebackup.take(POSTGRES_BIN_PATH, server.url(), history)
    finally:
        engine.close()
    per_s = archived / seconds
    archive_day, full_mb = per_s * DAY / 1e6, full.bytes / 1e6
    incremental_mb = incremental.bytes / 1e6
    base_day = full_mb + 24 * incremental_mb
    return {
        "seconds": seconds,
        "tx_per_s": 2 * ticks / seconds,
        "wal_bytes_per_s": wal_bytes / seconds,
        "archived_bytes_per_s": per_s,
        "archive_mb_day": archive_day,
        "full_mb": full_mb,
        "incremental_mb": incremental_mb,
        "base_mb_day": base_day,
        "total_mb_day": archive_day + base_day,
    }


def _run_workload(uri: str, seconds: float) -> int:
    ticks = 0
    deadline = time.monotonic() + seconds
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_events (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), note text)"
        )
        while time.monotonic() < deadline:
            conn.execute("INSERT INTO bench_events (note) VALUES (repeat('x', 100))")
            conn.execute("UPDATE bench_marker SET value = value + 1 WHERE id = 1")
            ticks += 1
            time.sleep(WORKLOAD_TICK)
    return ticks
