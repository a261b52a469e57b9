"""Smoke test of `manage.py benchmark` at a tiny size: every figure present and positive."""

from __future__ import annotations

import io
import json

import psycopg
from django.core.management import call_command

from checkpoints.management.commands.benchmark import BENCH_CONTROL_DB


def test_benchmark_prints_every_figure_and_cleans_up(pg_server):
    out = io.StringIO()
    call_command(
        "benchmark",
        sizes="1",
        runs=1,
        json=True,
        neon_op_seconds=0.2,
        web_contacts=20,
        worker_interval=0.1,
        storage_sizes="1",
        storage_versions=8,
        manifest_tables=120,
        team_servers=1,
        fair_samples=2,
        quiet_sizes="1",
        quiet_saves=2,
        fair_servers="shared",  # per-team: `make bench` (a second app and team servers)
        history_seconds=2,
        stdout=out,
        stderr=io.StringIO(),
    )
    report = json.loads(out.getvalue())
    assert "fair share: team B's version" in out.getvalue()
    (quiet,) = report["quiet_saves"]
    assert quiet["saves"] == 2 and quiet["save_rounds"] > 0 and quiet["save_median_s"] > 0
    assert quiet["rollback_writing_kept"] and quiet["rollback_idle_ms"] > 0
    assert quiet["disk_floor_pause_ms"] > 0
    scale = report["manifest_at_scale"]
    assert scale["tables"] == 120 and scale["problems"] == 0 and scale["read_s"] > 0
    history = report["history"]
    assert history["as_of_s"]["1"] > 0 and history["workload"]["tx_per_s"] > 0
    assert history["workload"]["archived_bytes_per_s"] > 0 and history["workload"]["full_mb"] > 0
    teams = report["team_servers"]
    assert teams["teams"] == 1 and teams["idle_mb"] > 1 and teams["first_project_s"] > 0
    storage = report["storage"]
    assert storage["sizes"] == ["tiny", "1 MB"]
    for label in storage["sizes"]:
        cold = storage[label]
        assert 0 < cold["cold_bytes"] < cold["hot_bytes"]
        assert cold["rollback_cold"] > 0 and cold["rollback_hot"] > 0
    assert storage["tiny"]["cold_bytes"] <= 200_000
    versions = storage["versions"]
    assert versions["count"] == 8 and versions["tiered_bytes"] < versions["all_hot_bytes"]
    (size,) = report["sizes"]
    figures = size["median_seconds"]
    for name in (
        "snapshot",
        "snapshot_after_bulk",
        "copy_after_bulk_file_copy",
        "copy_after_bulk_wal_log",
        "rollback",
        "rollback_warm",
        "swap",
        "preview",
        "end_sessions",
        "end_sessions_builtin",
        "template_copy",
        "dump_restore",
    ):
        assert figures[name] > 0, name
    assert size["actual_bytes"] >= 1024 * 1024
    assert size["warm_copies_bytes"] > 0
    assert size["ratios"]["rollback_warm_over_dump_restore"] > 0
    assert size["ratios"]["rollback_over_dump_restore"] > 0
    assert report["machine"]["filesystem"]
    neon = {row["name"].split(": ")[1]: row for row in report["web_and_neon"]}
    assert neon["API calls per rollback, steady"]["seconds"] >= 3  # restore, polls, URI
    assert neon["API calls per rollback, cold process"]["seconds"] >= 3
    assert neon["API calls per preview, steady"]["seconds"] >= 5
    assert neon["notice delay, rollback, steady"]["seconds"] >= 0
    assert neon["notice delay, rollback, cold process"]["seconds"] >= 0
    web = {row["name"]: row for row in report["web_and_neon"] if row["name"].startswith("web:")}
    assert len(web) >= 6
    queue = next(row for name, row in web.items() if "waited in the queue" in name)
    assert queue["target"] == "≤ 20 ms"
    for name, row in web.items():
        assert row["seconds"] > 0 or "step:" in name, name
    assert any(
        "Roll back click → restored page, warm" in name and row["target"] == "≤ 300 ms"
        for name, row in web.items()
    )
    with psycopg.connect(pg_server.url()) as conn:
        left = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'bench%%' OR datname = %s",
            [BENCH_CONTROL_DB],
        ).fetchall()
    assert left == []


def test_benchmark_table_shows_targets_beside_figures(pg_server):
    out = io.StringIO()
    call_command(
        "benchmark",
        sizes="1",
        runs=1,
        neon_op_seconds=0,
        web_contacts=0,
        storage_versions=0,
        manifest_tables=0,
        team_servers=0,
        fair_samples=0,
        quiet_sizes="",
        history_seconds=0,
        stdout=out,
        stderr=io.StringIO(),
    )
    table = out.getvalue()
    assert "snapshot (version create)" in table
    assert "≤ 1.5 × template copy" in table
    assert "baseline: pg_dump -Fc | pg_restore" in table
    assert "rollback, warm (swap only)" in table
    assert "end sessions (5 idle clients)" in table
