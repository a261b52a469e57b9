"""Engine figures on one app database: version operations next to what users do instead.

Every figure is wall-clock time from the request until the result is usable: a snapshot
until its operations are terminal, a rollback until the stable connection string serves
the restored data, a preview until its own connection string answers. The baselines run on
the same database in the same run: `pg_dump -Fc | pg_restore` into a fresh database, and
`CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY` alone (the floor for a full copy).

A warm rollback (the local engine keeps ready copies of the most recent snapshots) is
measured after the cold ones, each run with its warm copy made again in between, as a
user would find it. Ending the sessions on a database is measured with a few idle
clients connected, next to `pg_terminate_backend(pid, timeout)`, which waits in 100 ms
steps.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from checkpoints.benchmark.dataset import build_app_database, read_marker, set_marker
from checkpoints.engines.base import Engine
from checkpoints.engines.local import sql as local_sql
from checkpoints.engines.operations import wait_for_operations
from checkpoints.pgserver import pg_bin

#: Idle clients connected while sessions are ended (the "end sessions" figure).
IDLE_CLIENTS = 5


@dataclass
class SizeResult:
    """Median seconds of each measurement on one database size."""

    size_mb: float
    actual_bytes: int
    runs: int
    figures: dict[str, float] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    warm_bytes: int = 0  # storage of the warm copies kept for this database

    def record(self, name: str, values: list[float]) -> None:
        self.samples[name] = values
        self.figures[name] = median(values)


class StepClock:
    """A fault hook that only notes when the engine passes each named step."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}

    def __call__(self, step: str) -> None:
        self.marks[step] = time.perf_counter()

    def between(self, start: str, end: str) -> float | None:
        if start in self.marks and end in self.marks:
            return self.marks[end] - self.marks[start]
        return None


def bench_size(engine: Engine, admin_url: str, size_mb: float, runs: int) -> SizeResult:
    """Build a database of `size_mb`, measure everything on it, delete it all again."""
    project = engine.project_create(name=f"benchmark {size_mb:g} MB").project
    scratch: list[str] = []
    try:
        uri = engine.connection_uri(project.id)
        result = SizeResult(size_mb, build_app_database(uri, size_mb), runs)
        active = engine.branch_list(project.id)
        active_id = next(branch.id for branch in active if branch.default)
        snapshots = _bench_snapshots(engine, project.id, active_id, uri, runs, result)
        _bench_snapshot_after_bulk(
            engine, admin_url, project.id, active_id, uri, size_mb, runs, result
        )
        active_id = _bench_rollbacks(engine, project.id, active_id, uri, snapshots, result)
        if hasattr(engine, "warm_up"):
            active_id = _bench_warm_rollbacks(
                engine, project.id, active_id, uri, snapshots, runs, result
            )
        _bench_previews(engine, project.id, active_id, snapshots, result)
        active_db = urlsplit(uri).path.lstrip("/")
        _bench_end_sessions(admin_url, uri, active_db, runs, result)
        result.record(
            "template_copy", [_template_copy(admin_url, active_db, scratch) for _ in range(runs)]
        )
        result.record("dump_restore", [_dump_restore(admin_url, uri, scratch) for _ in range(runs)])
        return result
    finally:
        _drop_all(admin_url, scratch)
        engine.project_delete(project.id)


def _bench_snapshots(
    engine: Engine, project_id: str, branch_id: str, uri: str, runs: int, result: SizeResult
) -> list[tuple[str, int]]:
    times, snapshots = [], []
    for run in range(runs):
        set_marker(uri, run)
        started = time.perf_counter()
        created = engine.snapshot_create(project_id, branch_id, name=f"bench-{run}")
        wait_for_operations(engine, project_id, created.operations)
        times.append(time.perf_counter() - started)
        snapshots.append((created.snapshot.id, run))
    result.record("snapshot", times)
    return snapshots


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


def _bench_snapshot_after_bulk(
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


def _bench_rollbacks(
    engine: Engine,
    project_id: str,
    active_id: str,
    uri: str,
    snapshots: list[tuple[str, int]],
    result: SizeResult,
) -> str:
    totals, swaps = [], []
    clock = StepClock()
    previous_hook = getattr(engine, "fault_hook", None)
    for snapshot_id, marker in snapshots:
        set_marker(uri, 10_000 + marker)  # work done after the version, to be rolled back
        clock.marks.clear()
        if hasattr(engine, "fault_hook"):
            engine.fault_hook = clock
        started = time.perf_counter()
        restored = engine.snapshot_restore(
            project_id, snapshot_id, target_branch_id=active_id, finalize_restore=True
        )
        wait_for_operations(engine, project_id, restored.operations)
        _until(lambda m=marker: read_marker(uri) == m)
        totals.append(time.perf_counter() - started)
        engine.fault_hook = previous_hook if hasattr(engine, "fault_hook") else None
        swap = clock.between("before_swap", "after_swap")
        if swap is not None:
            swaps.append(swap)
        active_id = restored.branch.id
        if restored.orphan_branch_id:
            engine.branch_delete(project_id, restored.orphan_branch_id)
    result.record("rollback", totals)
    if swaps:
        result.record("swap", swaps)
    return active_id


def _bench_warm_rollbacks(
    engine: Any,
    project_id: str,
    active_id: str,
    uri: str,
    snapshots: list[tuple[str, int]],
    runs: int,
    result: SizeResult,
) -> str:
    """Rollbacks to snapshots that have a warm copy: only the swap remains."""
    markers = dict(snapshots)
    engine.warm_up(project_id)
    warm = [snapshot_id for snapshot_id, _ in engine.warm_storage(project_id)]
    result.warm_bytes = sum(size for _, size in engine.warm_storage(project_id))
    times = []
    for run in range(runs):
        snapshot_id = warm[run % len(warm)]
        set_marker(uri, 20_000 + run)
        started = time.perf_counter()
        restored = engine.snapshot_restore(
            project_id, snapshot_id, target_branch_id=active_id, finalize_restore=True
        )
        wait_for_operations(engine, project_id, restored.operations)
        _until(lambda m=markers[snapshot_id]: read_marker(uri) == m)
        times.append(time.perf_counter() - started)
        active_id = restored.branch.id
        engine.warm_wait()  # the consumed copy is made again in the background
        if restored.orphan_branch_id:
            engine.branch_delete(project_id, restored.orphan_branch_id)
    result.record("rollback_warm", times)
    return active_id


def _bench_end_sessions(
    admin_url: str, uri: str, dbname: str, runs: int, result: SizeResult
) -> None:
    """End IDLE_CLIENTS idle sessions: the engine's way, and with a timeout per session."""
    ours, builtin = [], []
    with psycopg.connect(admin_url, autocommit=True) as admin:
        for way, times in (("ours", ours), ("builtin", builtin)):
            for _ in range(runs):
                clients = [psycopg.connect(uri, autocommit=True) for _ in range(IDLE_CLIENTS)]
                for client in clients:
                    client.execute("SELECT 1")
                local_sql.allow_connections(admin, dbname, False)
                try:
                    started = time.perf_counter()
                    if way == "ours":
                        local_sql.end_sessions(admin, dbname)
                    else:
                        admin.execute(
                            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                            "WHERE datname = %s AND pid <> pg_backend_pid()",
                            (dbname,),
                        )
                    times.append(time.perf_counter() - started)
                finally:
                    local_sql.allow_connections(admin, dbname, True)
                    for client in clients:
                        client.close()
    result.record("end_sessions", ours)
    result.record("end_sessions_builtin", builtin)


def _bench_previews(
    engine: Engine,
    project_id: str,
    active_id: str,
    snapshots: list[tuple[str, int]],
    result: SizeResult,
) -> None:
    times = []
    for snapshot_id, marker in snapshots:
        started = time.perf_counter()
        restored = engine.snapshot_restore(
            project_id, snapshot_id, target_branch_id=active_id, finalize_restore=False
        )
        wait_for_operations(engine, project_id, restored.operations)
        endpoint = engine.endpoint_create(project_id, restored.branch.id)
        wait_for_operations(engine, project_id, endpoint.operations)
        preview_uri = engine.connection_uri(project_id, branch_id=restored.branch.id)
        _until(lambda u=preview_uri, m=marker: read_marker(u) == m)
        times.append(time.perf_counter() - started)
        engine.branch_delete(project_id, restored.branch.id)
    result.record("preview", times)


def _template_copy(admin_url: str, template: str, scratch: list[str]) -> float:
    name = f"bench_tpl_{uuid.uuid4().hex[:8]}"
    scratch.append(name)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
        return time.perf_counter() - started


def _dump_restore(admin_url: str, source_uri: str, scratch: list[str]) -> float:
    name = f"bench_dump_{uuid.uuid4().hex[:8]}"
    scratch.append(name)
    target_uri = _with_database(admin_url, name)
    started = time.perf_counter()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dump = subprocess.Popen(
        [str(pg_bin("pg_dump")), "-Fc", "-d", source_uri], stdout=subprocess.PIPE
    )
    restore = subprocess.run(
        [str(pg_bin("pg_restore")), "--no-owner", "--no-acl", "-d", target_uri],
        stdin=dump.stdout,
        capture_output=True,
    )
    dump.stdout.close()
    if dump.wait() != 0 or restore.returncode != 0:
        raise RuntimeError(f"pg_dump | pg_restore failed: {restore.stderr.decode()[-500:]}")
    return time.perf_counter() - started


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return parts._replace(path=f"/{database}").geturl()


def _drop_all(admin_url: str, names: list[str]) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in names:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except psycopg.OperationalError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("the restored data never appeared")
        time.sleep(0.002)
