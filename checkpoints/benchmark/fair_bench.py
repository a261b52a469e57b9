"""Fair share, measured: another team's trivial version (`select 1`, through the API with
`?wait=true`) while one team attacks the shared app and server, on a live app with the
workers `make run` starts (`web_app.served_app`). Its p95 under each attack:

- idle: nothing else runs;
- job flood: team A queues a 20 s statement in each of its 3 projects;
- held lock, rollbacks queued: team A's sessions hold ACCESS EXCLUSIVE on a table in
  each project while rollbacks of those projects are queued again as soon as they end;
- CPU: 20 sessions of team A's projects burn CPU in PostgreSQL. Measured once the
  watchdog has lowered them into the CPU group for lowered sessions (`fair_burn`: how
  long that took is printed).

`servers="per-team"` runs the app as `make run` does by default (each team on its own
server, in its own CPU group; idle and CPU only). Sizes are bounded (3 projects,
`samples` versions per attack); the issue's target is ≤ 1 s p95 on every line.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from statistics import median, quantiles

import httpx
import psycopg
from psycopg.conninfo import make_conninfo

from checkpoints.benchmark.fair_attacks import API, finished, flood, held_lock, project_uri, quiet
from checkpoints.benchmark.fair_burn import burning, probe_share
from checkpoints.benchmark.report import Row
from checkpoints.benchmark.web_app import BASE_DIR, env_of, served_app
from checkpoints.servers import teamservers

TOKEN = (
    "from django.contrib.auth import get_user_model; from checkpoints.tokens import "
    "token_create; print(token_create(user=get_user_model().objects.get(username='bench'), "
    "name='bench')[1])"
)


def bench_fair(
    admin_url: str, *, samples: int = 10, worker_interval: float = 1.0, servers: str = "shared"
) -> dict:
    """Seconds: team B's version p95 (and median) idle and under each attack."""
    root = Path(tempfile.mkdtemp(prefix="bench-teams-"))
    extra = {"CHECKPOINTS_SERVERS": "shared"}  # `make bench`'s launcher says per-team
    if servers != "shared":
        extra = {
            "CHECKPOINTS_SERVERS": "per-team",
            "CHECKPOINTS_TEAM_SERVERS_DIR": str(root),
        }
    try:
        with served_app(admin_url, worker_interval, extra) as (client, meta_db):
            return _attacks(client, admin_url, meta_db, samples, servers)
    finally:
        teamservers.stop_all(root, mode="immediate")
        shutil.rmtree(root, ignore_errors=True)


def _attacks(client: httpx.Client, admin_url: str, meta_db: str, samples: int, servers: str):
    token = _token(admin_url, meta_db)
    api = httpx.Client(
        base_url=str(client.base_url), timeout=60, headers={"Authorization": f"Bearer {token}"}
    )
    team_b = _team(client, "Bench team B")
    hogs = [_project(api, f"A{n}", None) for n in range(3)]
    other = _project(api, "B", team_b)
    started: list[str] = []
    seen: dict = {}
    # A smoke run (a couple of samples) skips what only sharpens the figures: waiting for
    # the watchdog to lower the burners, the CPU-share probes.
    thorough = samples >= 5
    uris = [project_uri(api, pk) for pk in hogs]
    attacks: dict[str, Callable[[], AbstractContextManager[object]]] = {
        "idle": nullcontext,
        "job flood (3 projects × 20 s statements)": lambda: flood(api, hogs, started),
        "held lock, rollbacks queued": lambda: held_lock(api, hogs, started),
        "20 CPU-burning sessions": lambda: burning(uris, 20, seen, thorough=thorough),
    }
    if servers != "shared":
        attacks = {k: v for k, v in attacks.items() if k == "idle" or "CPU" in k}
    figures: dict = {"samples": samples, "servers": servers}
    figures["probe_idle"] = probe_share() if thorough else None
    meta = make_conninfo(admin_url, dbname=meta_db)
    _version(api, other, -1, meta)  # the app's first request of a kind is not measured
    for name, attack in attacks.items():
        with attack():
            took = [_version(api, other, n, meta) for n in range(samples)]
        figures[name] = {"p95": _p95(took), "max": max(took), "median": median(took)}
        quiet(api, started)
    figures["20 CPU-burning sessions"] |= seen
    api.close()
    return figures


def fair_rows(figures: dict) -> list[Row]:
    """Another team's trivial version under each fair-share attack (`fair_bench`)."""
    label = f"fair share: team B's version, p95 of {figures['samples']} ({figures['servers']})"
    rows = []
    for attack, found in figures.items():
        if isinstance(found, dict):
            p95 = found["p95"]
            group = found.get("cpu_group") or ""
            where = f" (backends in {group})" if group.startswith("/checkpoints-") else ""
            rows.append(Row(f"{label}, {attack}{where}", p95, "≤ 1 s", p95 <= 1.0))
            if found.get("lowered_after") is not None:
                rows.append(Row("  burners lowered by the watchdog after", found["lowered_after"]))
            if found.get("probe_share") is not None and figures["probe_idle"] is not None:
                share = f"{found['probe_share']:.0%} under attack, {figures['probe_idle']:.0%} idle"
                rows.append(Row(f"  a plain process's share of a core: {share}", None))
    return rows


def _p95(values: list[float]) -> float:
    return quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else values[0]


def _token(admin_url: str, meta_db: str) -> str:
    env = env_of(admin_url, meta_db, Path(tempfile.gettempdir()))
    done = subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), "shell", "-c", TOKEN],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def _team(client: httpx.Client, name: str) -> int:
    response = client.post(
        "/teams/", data={"name": name}, headers={"X-CSRFToken": client.cookies["csrftoken"]}
    )
    location = response.headers.get("location", "")
    return int(location.rstrip("/").rsplit("/", 1)[-1])


def _project(api: httpx.Client, name: str, team: int | None) -> int:
    body: dict = {"name": name} | ({"team": team} if team else {})
    created = api.post(f"{API}/projects", json=body)
    created.raise_for_status()
    pk = int(created.json()["project"])
    finished(api, created.headers["Location"])
    version = api.post(
        f"{API}/projects/{pk}/versions",
        json={"prompt": "a table", "sql": "create table contacts (id int)"},
    )
    version.raise_for_status()
    finished(api, version.headers["Location"])
    return pk


def _version(api: httpx.Client, pk: int, n: int, meta: str) -> float:
    """Seconds from asking for team B's version until it is saved. B's own housekeeping
    (a tier move after its last version, which runs beside a version) is waited out
    first, not counted."""
    _settled(meta, pk)
    while True:
        started = time.perf_counter()
        answer = api.post(
            f"{API}/projects/{pk}/versions?wait=true", json={"prompt": f"t{n}", "sql": "select 1"}
        )
        busy = answer.json().get("job_id") if answer.status_code == 409 else None
        if busy is None:
            break
        finished(api, f"{API}/projects/{pk}/jobs/{busy}")
    if answer.status_code == 202:  # still queued after the API's wait
        finished(api, answer.headers["Location"])
    elif answer.status_code != 200:
        raise RuntimeError(f"team B's version answered {answer.status_code}: {answer.text[:300]}")
    return time.perf_counter() - started


def _settled(meta: str, pk: int, timeout: float = 180) -> None:
    """Until no job of project `pk` is queued or running (read from the app's database)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(meta, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM checkpoints_job WHERE project_id = %s "
                "AND state IN ('queued', 'running')",
                (pk,),
            ).fetchone()
            if row == (0,):
                return
            time.sleep(0.1)
    raise TimeoutError(f"project {pk}'s jobs did not end")
