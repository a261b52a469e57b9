"""`make bench`'s quiet-save figures (issue 31): an app keeping a pool of connections
busy on the live database while versions are saved, its errors and its longest pause;
its pause while the same bytes are written once to the server's disk (the disk's own
share); then a warm rollback with that app writing (the live state kept by renaming it),
next to the same rollback idle.

The app is `app_load.AppLoad`. A pause is the longest time one round took while a save
ran.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

import psycopg

from checkpoints.benchmark.app_load import SLOW_SECONDS, AppLoad
from checkpoints.benchmark.dataset import build_app_database
from checkpoints.engines.base import KeepLive
from checkpoints.engines.local import LocalEngine
from checkpoints.servers import teamservers

CONTROL_DB = "checkpoints_bench_quiet"


def add_quiet_options(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--quiet-sizes",
        default="1,100",
        help="app database sizes in MB for the saves-with-a-busy-app figures (add 1000 "
        "for 1 GB: slow; empty skips them)",
    )
    parser.add_argument(
        "--quiet-saves", type=int, default=20, help="saves per size with the app busy"
    )


def bench_quiet(sizes_mb: list[float], saves: int) -> list[dict[str, Any]]:
    """Per size: the app's errors and longest pause through `saves` saves, the saves'
    times, and a warm rollback with the app writing and idle. On a team server, as
    `make run` serves a project: its WAL archived into the history."""
    root = Path(tempfile.mkdtemp(prefix="checkpoints-bench-quiet-"))
    try:
        engine = LocalEngine(teamservers.ensure_running(root, 1), control_db=CONTROL_DB)
        try:
            disk = teamservers.server_dir(root, 1)  # the disk the team server writes to
            return [_bench_one(engine, disk, size, saves) for size in sizes_mb]
        finally:
            engine.destroy()
    finally:
        teamservers.stop_all(root, mode="immediate")
        shutil.rmtree(root, ignore_errors=True)


def _bench_one(engine: LocalEngine, disk: Path, size_mb: float, saves: int) -> dict[str, Any]:
    made = engine.project_create(name=f"quiet {size_mb:g} MB")
    pid, branch = made.project.id, made.branch.id
    uri = engine.connection_uri(pid)
    size = build_app_database(uri, size_mb)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_hits (id bigserial PRIMARY KEY, worker int)")
    app = AppLoad(uri)
    try:
        save = _saves(engine, app, pid, branch, saves)
        floor = _disk_floor(app, disk, size)
        rollback = _rollbacks(engine, app, pid)
    finally:
        app.close()
        engine.project_delete(pid)
    return {"size_mb": size_mb, "bytes": size, **save, **floor, **rollback}


def _disk_floor(app: AppLoad, folder: Path, size: int) -> dict[str, Any]:
    """The disk's own share: the app's longest pause while the database's size in zeros
    is written once to a file on the disk the server writes to, no PostgreSQL involved,
    then flushed (as a version must be), and for a second after (the rounds the flush
    held up end then). A save writes at least this much there: the copy."""
    path = folder / f"checkpoints-disk-floor-{os.getpid()}.bin"
    block = bytes(1 << 20)
    window = app.measure()
    try:
        with path.open("wb") as handle:
            for _ in range(max(1, size >> 20)):
                handle.write(block)
            os.fsync(handle.fileno())
        time.sleep(1)
    finally:
        app.end()
        path.unlink(missing_ok=True)
    return {"disk_floor_pause_ms": round(window.longest * 1000, 1)}


def _saves(engine: LocalEngine, app: AppLoad, pid: str, branch: str, saves: int) -> dict[str, Any]:
    errors: list[str] = []
    longest, times, rounds, slow = 0.0, [], 0, 0
    previous = None
    for n in range(saves):
        window = app.measure()
        started = time.monotonic()
        snap = engine.snapshot_create(pid, branch, name=f"v{n + 1}").snapshot
        times.append(time.monotonic() - started)
        app.end()
        errors += window.errors
        longest, rounds = max(longest, window.longest), rounds + window.rounds
        slow += window.slow
        if previous is not None:  # bounded disk: two versions at a time
            engine.snapshot_delete(pid, previous)
        previous = snap.id
    # The same app for as long as a save took, no save: its pauses without one.
    window = app.measure()
    time.sleep(statistics.median(times))
    app.end()
    return {
        "no_save_longest_pause_ms": round(window.longest * 1000, 1),
        "saves": saves,
        "save_errors": len(errors),
        "save_error_sample": errors[:3],
        "save_longest_pause_ms": round(longest * 1000, 1),
        "save_rounds": rounds,
        "save_slow_rounds": slow,
        "save_median_s": round(statistics.median(times), 3),
        "save_max_s": round(max(times), 3),
    }


def _rollbacks(engine: LocalEngine, app: AppLoad, pid: str) -> dict[str, Any]:
    """A warm rollback to the newest version, the live state kept (renamed): with the
    app writing, then idle."""
    figures: dict[str, Any] = {}
    for label in ("writing", "idle"):
        if label == "idle":
            app.close()
        target = max(engine.snapshot_list(pid), key=lambda s: s.created_at)
        engine.warm_wait()
        engine.warm_up(pid)  # the newest versions' warm copies ready
        active = next(b.id for b in engine.branch_list(pid) if b.default)
        window = app.measure()
        started = time.monotonic()
        done = engine.snapshot_restore(
            pid, target.id, target_branch_id=active, finalize_restore=True,
            keep_live=KeepLive(f"before rollback ({label})"),
        )  # fmt: skip
        took = time.monotonic() - started
        app.end()
        figures[f"rollback_{label}_ms"] = round(took * 1000, 1)
        figures[f"rollback_{label}_kept"] = done.kept is not None
        if label == "writing":
            figures["rollback_app_errors"] = len(window.errors)
            figures["rollback_app_longest_pause_ms"] = round(window.longest * 1000, 1)
    engine.warm_wait()
    return figures


def quiet_lines(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    lines = ["", "Saves with an app busy on the live database (4 connections; issue 31)"]
    for row in rows:
        lines.append(
            f"  {row['size_mb']:g} MB ({row['bytes'] / 1048576:.0f} MB): {row['saves']} saves, "
            f"app errors {row['save_errors']}, longest pause {row['save_longest_pause_ms']} ms, "
            f"rounds over {SLOW_SECONDS * 1000:.0f} ms {row['save_slow_rounds']} of "
            f"{row['save_rounds']}, "
            f"save median {row['save_median_s']} s (max {row['save_max_s']} s); "
            f"longest pause with no save {row['no_save_longest_pause_ms']} ms"
        )
        lines.append(
            f"    the disk's own share: {row['disk_floor_pause_ms']} ms longest pause while "
            f"{row['bytes'] / 1048576:.0f} MB of zeros are written to a file there and "
            "flushed, no PostgreSQL involved"
        )
        lines.append(
            f"    warm rollback, live kept by renaming: {row['rollback_writing_ms']} ms with "
            f"the app writing ({row['rollback_app_errors']} app errors: sessions end), "
            f"{row['rollback_idle_ms']} ms idle"
        )
    return lines
