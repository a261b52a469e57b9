"""One-table restore at a given size, next to a full rollback, on one engine.

The database is the benchmark's grown contacts app (`dataset.build_app_database`) plus
`events`, a standalone table (no foreign key) holding a copy of the interactions (about 40 % of it). Measured: opening
the version on a temporary branch (restore + endpoint), copying one table across
(`engines.tables.tables_restore`), deleting the branch, and a full rollback."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from checkpoints.benchmark.dataset import build_app_database
from checkpoints.engines.base import Engine
from checkpoints.engines.operations import wait_for_operations
from checkpoints.engines.tables import tables_restore

EVENTS = """
CREATE TABLE events AS
SELECT id, kind, happened_at, body FROM interactions;
ALTER TABLE events ADD PRIMARY KEY (id);
CREATE INDEX events_kind_idx ON events (kind, happened_at);
"""


def _timed(work: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = work()
    return time.perf_counter() - started, value


def bench_tables(engine: Engine, size_mb: float) -> dict[str, Any]:
    """Seconds of each part of a one-table restore, and of a full rollback."""
    project = engine.project_create(name=f"tables bench {size_mb:g} MB").project
    pid = project.id
    try:
        uri = engine.connection_uri(pid)
        built = build_app_database(uri, size_mb * 0.55)
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute(EVENTS)
            conn.execute("VACUUM ANALYZE events")
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            events = conn.execute("SELECT pg_total_relation_size('events')").fetchone()[0]
        main = next(b.id for b in engine.branch_list(pid) if b.default)
        made = engine.snapshot_create(pid, main, name="v1")
        wait_for_operations(engine, pid, made.operations)
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("DELETE FROM events WHERE id % 3 = 0; UPDATE bench_marker SET value = 9")
        result: dict[str, Any] = {"size_bytes": size, "events_bytes": events, "built": built}
        result["keep_snapshot"], _ = _timed(
            lambda: wait_for_operations(
                engine, pid, engine.snapshot_create(pid, main, name="keep").operations
            )
        )
        result["open_branch"], source = _timed(lambda: _open(engine, pid, main, made.snapshot.id))
        for table in ("bench_marker", "events"):
            seconds, done = _timed(lambda t=table: tables_restore(source[1], uri, [t]))
            result[f"copy_{table}"] = seconds
            result[f"rows_{table}"] = sum(done.rows.values())
        result["delete_branch"], _ = _timed(
            lambda: wait_for_operations(engine, pid, engine.branch_delete(pid, source[0]))
        )
        result["rollback"], _ = _timed(lambda: _rollback(engine, pid, main, made.snapshot.id))
        return result
    finally:
        engine.project_delete(pid)


def _open(engine: Engine, pid: str, main: str, snapshot_id: str) -> tuple[str, str]:
    restore = engine.snapshot_restore(pid, snapshot_id, target_branch_id=main, name="tables")
    wait_for_operations(engine, pid, restore.operations)
    endpoint = engine.endpoint_create(pid, restore.branch.id)
    wait_for_operations(engine, pid, endpoint.operations)
    uri = engine.connection_uri(pid, branch_id=restore.branch.id)
    psycopg.connect(uri).close()
    return restore.branch.id, uri


def _rollback(engine: Engine, pid: str, main: str, snapshot_id: str) -> None:
    restored = engine.snapshot_restore(
        pid, snapshot_id, target_branch_id=main, finalize_restore=True
    )
    wait_for_operations(engine, pid, restored.operations)
    if restored.orphan_branch_id:
        wait_for_operations(engine, pid, engine.branch_delete(pid, restored.orphan_branch_id))
