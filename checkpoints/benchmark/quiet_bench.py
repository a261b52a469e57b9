"""`make bench`'s quiet-save figures (issue 31): an app keeping a pool of connections
busy on the live database while versions are saved, its errors and its longest pause;
then a warm rollback with that app writing (the live state kept by renaming it), next
to the same rollback idle.

The app is a process of its own with four threads, each with its own connection,
inserting a row and reading a contact in a loop (the first thread reconnects every round,
as a pool replacing its connections does). A pause is the longest time one round took while a save ran.
"""

from __future__ import annotations

import multiprocessing
import queue
import shutil
import statistics
import tempfile
import threading
import time
from argparse import ArgumentParser
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from checkpoints.benchmark.dataset import build_app_database
from checkpoints.engines.base import KeepLive
from checkpoints.engines.local import LocalEngine
from checkpoints.servers import teamservers

POOL = 4
SLOW_SECONDS = 0.05  # a round longer than this counts as slow (the pause target)
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


@dataclass
class Window:
    errors: list[str] = field(default_factory=list)
    longest: float = 0.0
    rounds: int = 0
    slow: int = 0


class AppLoad:
    """The app: `POOL` connections reading and writing in a loop, in a process of its own
    (as an app is: in the engine's process its threads would share the engine's
    interpreter lock and slow the very rollback they measure), measured in windows."""

    def __init__(self, uri: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.rounds: multiprocessing.Queue = context.Queue()
        self.stop = context.Event()
        self.window: Window | None = None
        self.since = 0.0
        self.process = context.Process(target=_app, args=(uri, self.rounds, self.stop))
        self.process.start()
        self.rounds.get(timeout=120)  # the app runs (a fresh interpreter takes a moment)

    def measure(self) -> Window:
        """A window that gets every round ending from now until `end()`."""
        self.since = time.monotonic()
        self._drain(None, self.since)  # rounds before the window: dropped
        self.window = Window()
        return self.window

    def end(self) -> None:
        until = time.monotonic()
        window, self.window = self.window, None
        self._drain(window, until)

    def _drain(self, window: Window | None, until: float) -> None:
        """Take the rounds that ended by `until` off the queue (into `window`, if any)."""
        while True:
            try:
                ended, took, error = self.rounds.get(timeout=0.2 if window else 0.01)
            except queue.Empty:
                return
            if ended > until:
                return
            if window is not None and ended >= self.since:
                window.rounds += 1
                window.longest = max(window.longest, took)
                window.slow += took > SLOW_SECONDS
                if error:
                    window.errors.append(error)

    def close(self) -> None:
        self.stop.set()
        self.process.join(timeout=60)
        if self.process.is_alive():
            self.process.kill()


def _app(uri: str, rounds: multiprocessing.Queue, stop) -> None:
    """The app's process: `POOL` threads, each round reported as (ended, took, error)."""
    threads = [
        threading.Thread(target=_app_thread, args=(uri, i, rounds, stop)) for i in range(POOL)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _app_thread(uri: str, index: int, rounds: multiprocessing.Queue, stop) -> None:
    conn: psycopg.Connection | None = None
    while not stop.is_set():
        started = time.monotonic()
        error = None
        try:
            if conn is None or index == 0:  # the first reconnects every round, as a pool does
                if conn is not None:
                    conn.close()
                conn = psycopg.connect(uri, autocommit=True, connect_timeout=30)
            conn.execute("INSERT INTO bench_hits (worker) VALUES (%s)", (index,))
            conn.execute("SELECT name FROM contacts LIMIT 1").fetchone()
        except psycopg.Error as exc:
            error, conn = str(exc).strip().splitlines()[0], None
        ended = time.monotonic()
        rounds.put((ended, ended - started, error))
    if conn is not None:
        conn.close()


def bench_quiet(sizes_mb: list[float], saves: int) -> list[dict[str, Any]]:
    """Per size: the app's errors and longest pause through `saves` saves, the saves'
    times, and a warm rollback with the app writing and idle. On a team server, as
    `make run` serves a project: its WAL archived into the history."""
    root = Path(tempfile.mkdtemp(prefix="checkpoints-bench-quiet-"))
    try:
        engine = LocalEngine(teamservers.ensure_running(root, 1), control_db=CONTROL_DB)
        try:
            return [_bench_one(engine, size, saves) for size in sizes_mb]
        finally:
            engine.destroy()
    finally:
        teamservers.stop_all(root, mode="immediate")
        shutil.rmtree(root, ignore_errors=True)


def _bench_one(engine: LocalEngine, size_mb: float, saves: int) -> dict[str, Any]:
    made = engine.project_create(name=f"quiet {size_mb:g} MB")
    pid, branch = made.project.id, made.branch.id
    uri = engine.connection_uri(pid)
    size = build_app_database(uri, size_mb)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_hits (id bigserial PRIMARY KEY, worker int)")
    app = AppLoad(uri)
    try:
        save = _saves(engine, app, pid, branch, saves)
        rollback = _rollbacks(engine, app, pid)
    finally:
        app.close()
        engine.project_delete(pid)
    return {"size_mb": size_mb, "bytes": size, **save, **rollback}


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
            f"    warm rollback, live kept by renaming: {row['rollback_writing_ms']} ms with "
            f"the app writing ({row['rollback_app_errors']} app errors: sessions end), "
            f"{row['rollback_idle_ms']} ms idle"
        )
    return lines
