"""Benchmark output: a readable table for people, JSON for tools, targets beside figures."""

from __future__ import annotations

import json
from dataclasses import dataclass

from checkpoints.benchmark.results import IDLE_CLIENTS, SizeResult


@dataclass(frozen=True)
class Row:
    name: str
    seconds: float | None  # or a count, when `unit` says so
    target: str = ""
    met: bool | None = None
    ratio: float | None = None
    unit: str = "s"


def neon_rows(figures: dict[str, float]) -> list[Row]:
    """A worker's steady figures (it has made one rollback or preview before: its waits
    know how long each operation takes) with their targets; a cold process's beside them
    (its waits poll on the growing schedule)."""
    label = f"neon (emulator, operations {figures['op_duration_s']:g} s)"
    calls = figures["rollback_api_calls"]
    return [
        Row(f"{label}: API calls per rollback, steady", calls, "≤ 8", calls <= 8, unit="calls"),
        *_cold_and_notices(label, "rollback", figures),
        Row(f"{label}: API calls per preview, steady", figures["preview_api_calls"], unit="calls"),
        *_cold_and_notices(label, "preview", figures),
    ]


def _cold_and_notices(label: str, kind: str, figures: dict[str, float]) -> list[Row]:
    """A cold process's calls (no target: it polls on the growing schedule), then the
    notice delays, steady and cold, each within half a second."""
    cold_calls = figures[f"{kind}_api_calls_cold"]
    steady, cold = figures[f"{kind}_notice_s"], figures[f"{kind}_notice_s_cold"]
    return [
        Row(f"{label}: API calls per {kind}, cold process", cold_calls, unit="calls"),
        Row(f"{label}: notice delay, {kind}, steady", steady, "< 0.5 s", steady < 0.5),
        Row(f"{label}: notice delay, {kind}, cold process", cold, "< 0.5 s", cold < 0.5),
    ]


def _browser_rows(figures: dict[str, float]) -> list[Row]:
    seen = figures.get("browser_click_to_page_warm")
    if seen is None:
        return [Row("web, in Chromium: not measured (no Playwright or chromium here)", None)]
    runs = int(figures.get("browser_runs", 0))
    return [
        Row(
            f"web, in Chromium: confirm click → timeline shows it, warm (median of {runs})",
            seen,
            "≤ 300 ms",
            seen <= 0.3,
        )
    ]


def web_rows(figures: dict[str, float]) -> list[Row]:
    worker = f"worker woken by NOTIFY, polls every {figures['worker_interval_s']:g} s"
    warm, cold = figures["click_to_done_warm"], figures["click_to_done_cold"]
    queued = figures["rollback_job_queue_wait"]
    contacts = f"contacts page, {figures['contacts']:g} contacts"
    return [
        Row(
            f"web: Roll back click → restored page, warm ({worker})", warm, "≤ 300 ms", warm <= 0.3
        ),
        Row("web:   of which the job waited in the queue", queued, "≤ 20 ms", queued <= 0.02),
        Row("web:   of which the job ran", figures["rollback_job_run"]),
        *[
            Row(f"web:     step: {name}", seconds)
            for name, seconds in figures.get("rollback_job_steps", {}).items()
        ],
        Row(
            f"web: Roll back click → restored page, cold ({worker})", cold, "≤ 700 ms", cold <= 0.7
        ),
        *_browser_rows(figures),
        Row(f"web: {contacts}: p50", figures["contacts_p50"]),
        Row(f"web: {contacts}: p95", figures["contacts_p95"]),
    ]


def size_rows(result: SizeResult) -> list[Row]:
    f = result.figures
    template, dump = f.get("template_copy"), f.get("dump_restore")
    return [
        *_snapshot_rows(f, template),
        *_rollback_rows(f, template, dump, result.size_mb),
        *_session_rows(f),
        Row("swap (renames + catalog, one transaction)", f.get("swap"), "≈ 1 ms idle"),
        Row("preview (until its URI answers)", f.get("preview")),
        Row("baseline: CREATE DATABASE … TEMPLATE", template),
        Row("baseline: pg_dump -Fc | pg_restore", dump),
    ]


def _snapshot_rows(f: dict[str, float], template: float | None) -> list[Row]:
    snapshot, bulk = f.get("snapshot"), f.get("snapshot_after_bulk")
    return [
        Row(
            "snapshot (version create)",
            snapshot,
            "≤ 1.5 × template copy",
            _within(snapshot, template, 1.5),
            _ratio(snapshot, template),
        ),
        Row(
            "first snapshot after a bulk write of this size",
            bulk,
            "≤ 2 × template copy",
            _within(bulk, template, 2),
            _ratio(bulk, template),
        ),
        Row("  bare FILE_COPY right after the same write", f.get("copy_after_bulk_file_copy")),
        Row("  bare WAL_LOG right after the same write", f.get("copy_after_bulk_wal_log")),
    ]


def _rollback_rows(
    f: dict[str, float], template: float | None, dump: float | None, size_mb: float
) -> list[Row]:
    rows = [
        Row(
            "rollback, cold (copy + swap)",
            f.get("rollback"),
            "≤ 1.5 × (template copy + swap)",
            _within(f.get("rollback"), (template or 0) + f.get("swap", 0.0), 1.5),
            _ratio(f.get("rollback"), dump),
        )
    ]
    if "rollback_warm" in f:
        warm = f["rollback_warm"]
        # The ratio is the target at 100 MB and above (issue 20); a small database's dump
        # takes too little time for it.
        by_ratio = size_mb >= 100
        rows.append(
            Row(
                "rollback, warm (swap only)",
                warm,
                "≤ 50 ms and ≥ 60 × faster than dump/restore" if by_ratio else "≤ 50 ms",
                warm <= 0.05 and (not by_ratio or (dump or 0) / warm >= 60),
                _ratio(warm, dump),
            )
        )
    return rows


def _session_rows(f: dict[str, float]) -> list[Row]:
    rows = []
    if "end_sessions" in f:
        rows.append(
            Row(
                f"end sessions ({IDLE_CLIENTS} idle clients)",
                f["end_sessions"],
                "milliseconds (< 50 ms)",
                f["end_sessions"] < 0.05,
            )
        )
    if "end_sessions_builtin" in f:
        rows.append(Row("  vs pg_terminate_backend(pid, timeout) each", f["end_sessions_builtin"]))
    return rows


def render_table(header: dict[str, str], results: list[SizeResult], extra: list[Row]) -> str:
    lines = [f"{key}: {value}" for key, value in header.items()]
    for result in results:
        lines += [
            "",
            f"== app database {result.size_mb:g} MB "
            f"(actual {result.actual_bytes / 1048576:.1f} MB, median of {result.runs}) ==",
        ]
        if result.warm_bytes:
            lines.append(f"warm copies kept: {result.warm_bytes / 1048576:.1f} MB")
        lines += _table(size_rows(result), ratio_label="× of dump/restore")
    if extra:
        lines += ["", "== web and Neon API =="]
        lines += _table(extra, ratio_label="")
    return "\n".join(lines)


def render_json(header: dict[str, str], results: list[SizeResult], extra: list[Row]) -> str:
    payload = {
        "machine": header,
        "sizes": [
            {
                "size_mb": r.size_mb,
                "actual_bytes": r.actual_bytes,
                "warm_copies_bytes": r.warm_bytes,
                "runs": r.runs,
                "median_seconds": r.figures,
                "samples_seconds": r.samples,
                "ratios": {
                    "rollback_over_dump_restore": _ratio(
                        r.figures.get("rollback"), r.figures.get("dump_restore")
                    ),
                    "rollback_warm_over_dump_restore": _ratio(
                        r.figures.get("rollback_warm"), r.figures.get("dump_restore")
                    ),
                    "snapshot_over_template_copy": _ratio(
                        r.figures.get("snapshot"), r.figures.get("template_copy")
                    ),
                },
                "targets": [row.__dict__ for row in size_rows(r) if row.target],
            }
            for r in results
        ],
        "web_and_neon": [row.__dict__ for row in extra],
    }
    return json.dumps(payload, indent=2)


def _table(rows: list[Row], *, ratio_label: str) -> list[str]:
    out = [f"{'measurement':44} {'value':>10}  {'ratio':>8}  target"]
    for row in rows:
        if row.seconds is None:
            value = "-"
        elif row.unit == "s":
            value = _fmt(row.seconds)
        else:
            value = f"{row.seconds:g} {row.unit}"
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
        verdict = "" if row.met is None else ("  met" if row.met else "  MISSED")
        out.append(f"{row.name:44} {value:>10}  {ratio:>8}  {row.target}{verdict}")
    if ratio_label:
        out.append(f"(ratio: {ratio_label})")
    return out


def _fmt(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _ratio(value: float | None, base: float | None) -> float | None:
    if not value or not base:
        return None
    return value / base


def _within(value: float | None, base: float | None, factor: float) -> bool | None:
    if value is None or not base:
        return None
    return value <= factor * base
