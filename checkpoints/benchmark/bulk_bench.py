"""The first snapshot after a bulk write of the database's size, as the engine takes it,
next to bare copies made right after the same write: `FILE_COPY` pays a checkpoint of the
fresh pages, `WAL_LOG` writes the copy to the WAL instead."""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from checkpoints.benchmark.results import SizeResult
from checkpoints.engines.base import Engine
from checkpoints.engines.local import sql as local_sql
from checkpoints.engines.operations import wait_for_operations


def _bulk_write(uri: str, size_mb: float) -> None:
    """Write about `size_mb` of new rows (and drop them again next time): dirty pages that
    a checkpoint would have to flush."""
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_bulk")
        conn.execute("CREATE TABLE bench_bulk (g int, pad text)")
        conn.execute(  # its own transaction: WAL-logged as an app's writes are
            "INSERT INTO bench_bulk SELECT g, repeat('x', 900) FROM generate_series(1, %s) g",
            (int(size_mb * 1000),),
        )


def bench_snapshot_after_bulk(
    engine: Engine,
    admin_url: str,
    project_id: str,
    branch_id: str,
    uri: str,
    size_mb: float,
    runs: int,
    result: SizeResult,
) -> None:
    """The first snapshot right after a bulk write of the database's size, as the engine
    takes it, next to the bare copies (`FILE_COPY` pays a checkpoint of the fresh pages,
    `WAL_LOG` writes the copy to the WAL instead) made right after the same write."""
    times = []
    for run in range(runs):
        _bulk_write(uri, size_mb)
        started = time.perf_counter()
        created = engine.snapshot_create(project_id, branch_id, name=f"bench-bulk-{run}")
        wait_for_operations(engine, project_id, created.operations)
        times.append(time.perf_counter() - started)
        engine.snapshot_delete(project_id, created.snapshot.id)
    result.record("snapshot_after_bulk", times)
    dbname = urlsplit(uri).path.lstrip("/")
    for strategy in ("FILE_COPY", "WAL_LOG"):
        copies = []
        for _ in range(runs):
            _bulk_write(uri, size_mb)
            copies.append(_copy_after_write(admin_url, dbname, strategy))
        result.record(f"copy_after_bulk_{strategy.lower()}", copies)
    _bulk_write(uri, 0)


def _copy_after_write(admin_url: str, template: str, strategy: str) -> float:
    """A bare `CREATE DATABASE … STRATEGY <strategy>` of the (idle) app database."""
    name = f"bench_bulk_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        local_sql.end_sessions(conn, template)
        started = time.perf_counter()
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY {}").format(
                sql.Identifier(name), sql.Identifier(template), sql.SQL(strategy)
            )
        )
        took = time.perf_counter() - started
        conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
    return took
