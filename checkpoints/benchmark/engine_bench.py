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

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import psycopg

from checkpoints.benchmark.baselines import (
    bench_end_sessions,
    drop_all,
    dump_restore,
    template_copy,
)
from checkpoints.benchmark.bulk_bench import bench_snapshot_after_bulk
from checkpoints.benchmark.dataset import build_app_database, read_marker, set_marker
from checkpoints.benchmark.results import SizeResult
from checkpoints.engines.base import Engine
from checkpoints.engines.operations import wait_for_operations


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
        bench_snapshot_after_bulk(
            engine, admin_url, project.id, active_id, uri, size_mb, runs, result
        )
        active_id = _bench_rollbacks(engine, project.id, active_id, uri, snapshots, result)
        if engine.supports_warm_copies:
            active_id = _bench_warm_rollbacks(
                engine, project.id, active_id, uri, snapshots, runs, result
            )
        _bench_previews(engine, project.id, active_id, snapshots, result)
        active_db = urlsplit(uri).path.lstrip("/")
        bench_end_sessions(admin_url, uri, active_db, runs, result)
        result.record(
            "template_copy", [template_copy(admin_url, active_db, scratch) for _ in range(runs)]
        )
        result.record("dump_restore", [dump_restore(admin_url, uri, scratch) for _ in range(runs)])
        return result
    finally:
        drop_all(admin_url, scratch)
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
    previous_hook = engine.fault_hook
    for snapshot_id, marker in snapshots:
        set_marker(uri, 10_000 + marker)  # work done after the version, to be rolled back
        clock.marks.clear()
        engine.fault_hook = clock  # an engine without steps never calls it
        started = time.perf_counter()
        restored = engine.snapshot_restore(
            project_id, snapshot_id, target_branch_id=active_id, finalize_restore=True
        )
        wait_for_operations(engine, project_id, restored.operations)
        _until(lambda m=marker: read_marker(uri) == m)
        totals.append(time.perf_counter() - started)
        engine.fault_hook = previous_hook
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
