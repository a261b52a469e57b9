"""Team servers: the time from nothing to a new team's first project (its server created
and started, the engine's role made, the engine project and its v0 snapshot), and the
memory one team server takes idle with that project (PSS of its postmaster and backends,
so shared memory counts once), for a few teams side by side; what 20 would take."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from checkpoints import teamservers
from checkpoints.engines.local import LocalEngine

#: Seconds a server is left alone before its memory is read (background writers settle).
IDLE_SECONDS = 5.0


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
            f"20 teams: about {20 * mb:.0f} MB of memory for their servers",
        ]


def bench_team_servers(teams: int) -> TeamResult:
    """Make `teams` team servers one after another in a scratch folder, then stop them."""
    root = Path(tempfile.mkdtemp(prefix="checkpoints-bench-teams-"))
    timings: list[dict[str, float]] = []
    engines: list[LocalEngine] = []
    try:
        for team_id in range(1, teams + 1):
            timings.append(_first_project(root, team_id, engines))
        for engine in engines:
            engine.close()  # idle: no parked connection of ours counts
        time.sleep(IDLE_SECONDS)
        memory = [
            teamservers.memory_bytes(teamservers.team_server(root, team_id)) / 1e6
            for team_id in range(1, teams + 1)
        ]
    finally:
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
        }
    )


def _first_project(root: Path, team_id: int, engines: list[LocalEngine]) -> dict[str, float]:
    started = time.perf_counter()
    url = teamservers.ensure_running(root, team_id)
    server_done = time.perf_counter()
    engine = LocalEngine(url, archive_dir=teamservers.cold_dir(root, team_id))
    engines.append(engine)
    engine_done = time.perf_counter()
    created = engine.project_create(name=f"bench-team-{team_id}")
    engine.snapshot_create(created.project.id, created.branch.id, name="v0")
    done = time.perf_counter()
    return {
        "total": done - started,
        "server": server_done - started,
        "engine": engine_done - server_done,
        "project": done - engine_done,
    }
