"""Storage figures of the local engine's cold tier: bytes per version hot (a template
database) and cold (a `pg_dump -Fc` archive) for a tiny and a larger app database, a
rollback from a cold version next to a hot one and to `pg_dump | pg_restore`, the archive
size and dump time per gzip level, and the data folder after many tiny versions with the
tier policy (the newest 5 hot, the rest cold) next to all of them hot."""

from __future__ import annotations

import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

import psycopg

from checkpoints.benchmark.baselines import drop_all as _drop_all
from checkpoints.benchmark.baselines import dump_restore as _dump_restore
from checkpoints.benchmark.dataset import build_app_database, set_marker
from checkpoints.engines.local import LocalEngine
from checkpoints.servers.pgserver import pg_bin

TINY_MB = 0.0  # the schema and a marker row: what an agent's fresh app holds
KEEP_HOT = 5
GZIP_LEVELS = (0, 1, 6, 9)


@dataclass
class StorageResult:
    figures: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        f = self.figures
        out = ["", "== storage: the cold tier (local engine) =="]
        for label in f.get("sizes", []):
            s = f[label]
            out += [
                f"{label}: hot {_mb(s['hot_bytes'])} / cold {_kb(s['cold_bytes'])} per version; "
                f"rollback hot {s['rollback_hot']:.3f} s, cold {s['rollback_cold']:.3f} s, "
                f"pg_dump|pg_restore {s['dump_restore']:.3f} s; freeze {s['freeze']:.3f} s",
            ]
            for level, (size, took) in s.get("gzip", {}).items():
                out.append(f"  gzip level {level}: {_mb(size)}, dump {took:.2f} s")
        if "versions" in f:
            v = f["versions"]
            out.append(
                f"data folder after {v['count']} tiny versions: {_mb(v['tiered_bytes'])} tiered "
                f"(of which archives {_kb(v['archive_bytes'])}) vs {_mb(v['all_hot_bytes'])} "
                f"all hot = {100 * v['tiered_bytes'] / v['all_hot_bytes']:.1f}% (target ≤ 15%)"
            )
            out.append(
                f"  (pg_wal aside: {_mb(v.get('wal_bytes', 0))} of WAL segments the server "
                "recycles, as many whatever the versions)"
            )
        return out


def _mb(n: int) -> str:
    return f"{n / 1048576:.1f} MB"


def _kb(n: int) -> str:
    return f"{n / 1024:.0f} KB"


def _engine(admin_url: str, archive_dir: Path) -> LocalEngine:
    return LocalEngine(
        admin_url,
        control_db=f"ckbench_cold_{uuid.uuid4().hex[:6]}",
        archive_dir=archive_dir,
        warm_copies=0,  # hot rollbacks measured as a template copy, not a warm swap
        reflink=False,
    )


def bench_storage(admin_url: str, sizes_mb: list[float], runs: int, versions: int) -> StorageResult:
    result = StorageResult()
    with tempfile.TemporaryDirectory(prefix="checkpoints-cold-") as folder:
        engine = _engine(admin_url, Path(folder))
        try:
            for size in [TINY_MB, *sizes_mb]:
                label = "tiny" if size == TINY_MB else f"{size:g} MB"
                result.figures.setdefault("sizes", []).append(label)
                result.figures[label] = _bench_one(engine, admin_url, size, runs)
            if versions:
                result.figures["versions"] = _bench_versions(engine, admin_url, versions)
        finally:
            engine.destroy()
    return result


def _bench_one(engine: LocalEngine, admin_url: str, size_mb: float, runs: int) -> dict:
    project = engine.project_create(name="bench cold").project
    scratch: list[str] = []
    try:
        uri = engine.connection_uri(project.id)
        build_app_database(uri, size_mb)
        branch_id = next(b.id for b in engine.branch_list(project.id) if b.default)
        snap = engine.snapshot_create(project.id, branch_id, name="v1").snapshot
        figures: dict[str, Any] = {"hot_bytes": snap.full_size or 0}
        hot, cold, freeze = [], [], []
        for _ in range(runs):
            hot.append(_rollback(engine, project.id, branch_id, snap.id))
            started = time.perf_counter()
            figures["cold_bytes"] = engine.snapshot_freeze(project.id, snap.id)
            freeze.append(time.perf_counter() - started)
            cold.append(_rollback(engine, project.id, branch_id, snap.id))
            engine.snapshot_thaw(project.id, snap.id)
        figures.update(rollback_hot=median(hot), rollback_cold=median(cold), freeze=median(freeze))
        figures["dump_restore"] = median(
            _dump_restore(admin_url, uri, scratch) for _ in range(runs)
        )
        if size_mb:
            figures["gzip"] = {lv: _dump_level(admin_url, uri, lv) for lv in GZIP_LEVELS}
        return figures
    finally:
        _drop_all(admin_url, scratch)
        engine.project_delete(project.id)


def _rollback(engine: LocalEngine, project_id: str, branch_id: str, snapshot_id: str) -> float:
    started = time.perf_counter()
    engine.snapshot_restore(
        project_id, snapshot_id, target_branch_id=branch_id, finalize_restore=True
    )
    return time.perf_counter() - started


def _dump_level(admin_url: str, uri: str, level: int) -> tuple[int, float]:
    with tempfile.NamedTemporaryFile(suffix=".dump") as out:
        started = time.perf_counter()
        subprocess.run(
            [str(pg_bin("pg_dump")), "-Fc", f"--compress=gzip:{level}" if level else "--compress=none",
             "-f", out.name, "-d", uri],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return Path(out.name).stat().st_size, time.perf_counter() - started


def _bench_versions(engine: LocalEngine, admin_url: str, count: int) -> dict:
    """`count` tiny versions with the policy (the newest KEEP_HOT hot); the data folder
    grown by them next to the same versions all hot (`count` × one hot version)."""
    project = engine.project_create(name="bench versions").project
    try:
        uri = engine.connection_uri(project.id)
        build_app_database(uri, TINY_MB)
        branch_id = next(b.id for b in engine.branch_list(project.id) if b.default)
        before = _data_folder(admin_url)
        made: list[str] = []
        hot_bytes = 0
        for n in range(count):
            set_marker(uri, n)
            snap = engine.snapshot_create(project.id, branch_id, name=f"v{n}").snapshot
            hot_bytes = snap.full_size or hot_bytes
            made.append(snap.id)
            if len(made) > KEEP_HOT:
                engine.snapshot_freeze(project.id, made[-KEEP_HOT - 1])
        archives = sum(p.stat().st_size for p in engine.archive_dir.rglob("*.dump"))  # type: ignore[union-attr]
        grown = max(0, _data_folder(admin_url) - before) + archives
        return {
            "count": count,
            "archive_bytes": archives,
            "tiered_bytes": before + grown,
            "all_hot_bytes": before + count * hot_bytes,
            "data_folder_before": before,
            "wal_bytes": _data_folder(admin_url, wal=True),
        }
    finally:
        engine.project_delete(project.id)


def _data_folder(admin_url: str, *, wal: bool = False) -> int:
    """Bytes PostgreSQL's data folder takes on disk after a checkpoint, its `pg_wal`
    aside: the server keeps and recycles up to `max_wal_size` of WAL segments whatever
    the versions, as many as the benchmark's earlier bulk writes left (`wal=True`: those)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        folder = conn.execute("SHOW data_directory").fetchone()[0]  # type: ignore[index]
    command = (
        ["du", "-sb", f"{folder}/pg_wal"] if wal else ["du", "-sb", "--exclude=pg_wal", folder]
    )
    done = subprocess.run(command, capture_output=True, text=True)
    return int(done.stdout.split()[0]) if done.returncode == 0 else 0
