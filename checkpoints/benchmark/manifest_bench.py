"""The manifest at scale (issue 27): a project of many tables (50,000 by default, a
primary key each), its manifest read and verified as a version save and a rollback do,
with the most locks the project's sessions held at once (sampled from pg_locks)."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg

from checkpoints.engines.local import LocalEngine
from checkpoints.lifecycle import manifest as manifests

CREATE_BATCH = 500


def _tables_create(uri: str, count: int) -> None:
    with psycopg.connect(uri, autocommit=True) as conn:
        for start in range(0, count, CREATE_BATCH):
            end = min(count, start + CREATE_BATCH) - 1
            conn.execute(
                f"DO $$ BEGIN FOR i IN {start}..{end} LOOP EXECUTE format("
                "'CREATE TABLE m%s (id int PRIMARY KEY); INSERT INTO m%s VALUES (%s)', i, i, i);"
                " END LOOP; END $$"
            )


class _LockPeak(threading.Thread):
    """The most locks the role's sessions hold at once, sampled every 5 ms."""

    def __init__(self, admin_url: str, role: str) -> None:
        super().__init__(daemon=True)
        self.admin_url, self.role, self.peak = admin_url, role, 0
        self.done = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            while not self.done.wait(0.005):
                row = conn.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE a.usename = %s",
                    (self.role,),
                ).fetchone()
                self.peak = max(self.peak, row[0] if row else 0)


def bench_manifest(engine: LocalEngine, admin_url: str, tables: int) -> dict[str, Any]:
    """Seconds to create, read and verify the manifest of `tables` tables; the lock peak."""
    pid = engine.project_create(name=f"manifest bench {tables}").project.id
    try:
        uri = engine.connection_uri(pid)
        started = time.perf_counter()
        _tables_create(uri, tables)
        created = time.perf_counter() - started
        peak = _LockPeak(admin_url, psycopg.conninfo.conninfo_to_dict(uri)["user"])
        peak.start()
        started = time.perf_counter()
        manifest = manifests.manifest_required(uri)
        read = time.perf_counter() - started
        manifest["exact"] = True
        started = time.perf_counter()
        with psycopg.connect(uri) as conn:
            problems = manifests.manifest_verify(conn, manifest)
        verified = time.perf_counter() - started
        peak.done.set()
        peak.join()
    finally:
        engine.project_delete(pid)
    return {
        "tables": len(manifest["tables"]),
        "create_s": round(created, 1),
        "read_s": round(read, 2),
        "verify_s": round(verified, 2),
        "problems": len(problems),
        "lock_peak": peak.peak,
        "batch": manifests.BATCH,
    }


def manifest_lines(figures: dict[str, Any]) -> list[str]:
    return [
        "",
        f"Manifest at scale ({figures['tables']:,} tables, a primary key each; "
        f"made in {figures['create_s']} s)",
        f"  read {figures['read_s']} s, verified {figures['verify_s']} s "
        f"({figures['problems']} differences); at most {figures['lock_peak']} locks held at "
        f"once ({figures['batch']} tables a statement; one transaction over every table "
        f"would hold {2 * figures['tables']:,})",
    ]
