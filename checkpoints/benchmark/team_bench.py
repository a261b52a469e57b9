"""Team servers: the time from nothing to a new team's first project (its server created
and started, the engine's role made, the engine project and its v0 snapshot), and the
memory one team server takes idle with that project (PSS of its postmaster and backends,
so shared memory counts once), for a few teams side by side; versions per second when 1,
2 and 5 teams save at once (each on its own server: a small write through the project's
connection string, then a snapshot); what 20 would take."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

import psycopg

from checkpoints.engines.local import LocalEngine
from checkpoints.servers import teamservers

#: Seconds a server is left alone before its memory is read (background writers settle).
IDLE_SECONDS = 5.0
#: How many teams save versions at once, and how many versions each saves.
CONCURRENCY = (1, 2, 5)
VERSIONS_EACH = 8


@dataclass
class TeamResult:
    figures: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        f = self.figures
        mb = f["idle_mb"]
        return [
            "",
            f"== team servers ({f['teams']} teams, a server each) ==",
            f"new team's first project: {f['first_project_s']:.2f} s median "
            f"(server {f['server_s']:.2f} s, engine {f['engine_s']:.2f} s, "
            f"project + v0 {f['project_s']:.2f} s)",
            f"idle memory per team server with one project: {mb:.1f} MB PSS median",
            *(
                f"{n} team(s) saving at once: {rate:.1f} versions/s in all "
                f"({rate / int(n):.1f} per team)"
                for n, rate in f["versions_per_s"].items()
            ),
            f"20 teams: about {20 * mb:.0f} MB of memory for their servers",
        ]


def bench_team_servers(
    teams: int, *, concurrency: tuple[int, ...] = CONCURRENCY, versions_each: int = VERSIONS_EACH
) -> TeamResult:
    """Make `teams` team servers one after another in a scratch folder (more if a
    concurrency round needs them), measure, then stop them."""
    root = Path(tempfile.mkdtemp(prefix="checkpoints-bench-teams-"))
    timings: list[dict[str, float]] = []
    engines: list[LocalEngine] = []
    projects: list[tuple[str, str]] = []
    try:
        for team_id in range(1, teams + 1):
            timings.append(_first_project(root, team_id, engines, projects))
        for engine in engines:
            engine.close()  # idle: no parked connection of ours counts
        time.sleep(IDLE_SECONDS)
        memory = [
            teamservers.memory_bytes(teamservers.team_server(root, team_id)) / 1e6
            for team_id in range(1, teams + 1)
        ]
        while len(engines) < max(concurrency, default=0):
            _first_project(root, len(engines) + 1, engines, projects)
        # Engines of their own (those above are closed), as a worker per team would hold.
        working = [
            LocalEngine(
                teamservers.ensure_running(root, team_id),
                archive_dir=teamservers.cold_dir(root, team_id),
            )
            for team_id in range(1, len(projects) + 1)
        ]
        engines.extend(working)
        rates = {
            str(n): _versions_at_once(working[:n], projects[:n], versions_each) for n in concurrency
        }
    finally:
        for engine in engines:
            engine.close()
        teamservers.stop_all(root, mode="immediate")
        shutil.rmtree(root, ignore_errors=True)
    return TeamResult(
        {
            "teams": teams,
            "first_project_s": median(t["total"] for t in timings),
            "server_s": median(t["server"] for t in timings),
            "engine_s": median(t["engine"] for t in timings),
            "project_s": median(t["project"] for t in timings),
            "idle_mb": median(memory),
            "idle_mb_each": memory,
            "versions_per_s": rates,
        }
    )


def _versions_at_once(
    engines: list[LocalEngine], projects: list[tuple[str, str]], versions_each: int
) -> float:
    """Each team saves `versions_each` versions at the same time as the others (a thread
    per team, its own server); versions per second in all."""
    failures: list[BaseException] = []

    def team_saves(engine: LocalEngine, project_id: str, branch_id: str) -> None:
        try:
            uri = engine.connection_uri(project_id)
            for step in range(versions_each):
                with psycopg.connect(uri, autocommit=True) as conn:
                    conn.execute("CREATE TABLE IF NOT EXISTS steps (n int, at timestamptz)")
                    conn.execute("INSERT INTO steps VALUES (%s, now())", (step,))
                engine.snapshot_create(project_id, branch_id, name=f"bench-{time.time_ns()}")
        except BaseException as exc:  # reported after the round
            failures.append(exc)

    threads = [
        threading.Thread(target=team_saves, args=(engine, *project))
        for engine, project in zip(engines, projects, strict=True)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise failures[0]
    return len(threads) * versions_each / elapsed


def _first_project(
    root: Path, team_id: int, engines: list[LocalEngine], projects: list[tuple[str, str]]
) -> dict[str, float]:
    started = time.perf_counter()
    url = teamservers.ensure_running(root, team_id)
    server_done = time.perf_counter()
    engine = LocalEngine(url, archive_dir=teamservers.cold_dir(root, team_id))
    engines.append(engine)
    engine_done = time.perf_counter()
    created = engine.project_create(name=f"bench-team-{team_id}")
    engine.snapshot_create(created.project.id, created.branch.id, name="v0")
    done = time.perf_counter()
    projects.append((created.project.id, created.branch.id))
    return {
        "total": done - started,
        "server": server_done - started,
        "engine": engine_done - server_done,
        "project": done - engine_done,
    }
