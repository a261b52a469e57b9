"""Web figures through the real app: a live gunicorn and the workers, started as `make
run` starts them (`web_app`), on a throwaway metadata database on the benchmark's PostgreSQL server.

- click-to-done of "Roll back" on the demo project (v0 → v3 made through the UI): from the
  POST (with CSRF, as htmx sends it) until the job's status fragment says it ended and
  the project page shows the restored version as current. Rollbacks to the two most
  recent versions find a warm copy (made in the background after each version);
  a rollback to v1 is cold.
- the contacts page (the project page's App tab) with `contacts` contacts in the active
  branch: render time p50/p95 over `renders` GETs.

Everything it made — processes, the metadata database, the engine project — is removed in
`finally`, also on Ctrl-C.
"""

from __future__ import annotations

import time
from statistics import median, quantiles

import httpx

from checkpoints.benchmark.web_app import served_app
from checkpoints.benchmark.web_browser import browser_rollbacks, chromium_path
from checkpoints.benchmark.web_client import (
    click_rollback,
    current_label,
    post,
    settle,
    start_demo,
    text_of,
)
from checkpoints.benchmark.web_data import (
    add_contacts,
    engine_project_id,
    last_job_times,
    until,
    warm_ready,
)
from checkpoints.launcher import WORKER_INTERVAL

__all__ = ["WORKER_INTERVAL", "bench_web"]


def bench_web(
    admin_url: str,
    *,
    runs: int = 3,
    contacts: int = 1000,
    renders: int = 40,
    worker_interval: float = WORKER_INTERVAL,
) -> dict:
    """Seconds: click-to-done medians (warm, cold), the warm job's queue wait, run time
    and steps, and contacts page p50/p95."""
    with served_app(admin_url, worker_interval) as (client, meta_db):
        pk = start_demo(client)
        for number in (1, 2, 3):  # through "Create next version"
            page = settle(client, pk, post(client, f"/projects/{pk}/versions/next"))
            if current_label(page) != f"v{number}":
                raise RuntimeError(f"v{number} was not made: {text_of(page)}")
        engine_project = engine_project_id(admin_url, meta_db, pk)
        figures = _rollbacks(client, admin_url, meta_db, pk, engine_project, runs)
        if chromium_path():  # as a person sees it; ends on v3 as `_rollbacks` does
            figures.update(
                browser_rollbacks(
                    client,
                    pk,
                    [2, 3] * runs,
                    ready=lambda: until(lambda: warm_ready(admin_url, engine_project) >= 2, 60),
                )
            )
        add_contacts(admin_url, engine_project, contacts)
        figures.update(_contacts_page(client, pk, renders))
        figures["contacts"] = contacts
        figures["worker_interval_s"] = worker_interval
        return figures


def _rollbacks(
    client: httpx.Client, admin_url: str, meta_db: str, pk: int, engine_project: str, runs: int
) -> dict:
    """Warm rollbacks to v2 and v3 in turn (each with its warm copy ready), then a cold
    one to v1, and back to v3 (the tags schema the contacts page shows)."""
    step_times: dict[str, list[float]] = {}
    warm, queued, ran = [], [], []
    for run in range(runs):
        until(lambda: warm_ready(admin_url, engine_project) >= 2, timeout=60)
        warm.append(click_rollback(client, pk, 2 if run % 2 == 0 else 3))
        wait, took, steps = last_job_times(admin_url, meta_db, pk)
        queued.append(wait)
        ran.append(took)
        for name, seconds in steps.items():
            step_times.setdefault(name, []).append(seconds)
    until(lambda: warm_ready(admin_url, engine_project) >= 2, timeout=60)
    cold = click_rollback(client, pk, 1)
    click_rollback(client, pk, 3)
    return {
        "click_to_done_warm": median(warm),
        "click_to_done_cold": cold,
        "rollback_job_queue_wait": median(queued),
        "rollback_job_run": median(ran),
        "rollback_job_steps": {name: median(t) for name, t in step_times.items()},
    }


def _contacts_page(client: httpx.Client, pk: int, renders: int) -> dict[str, float]:
    times = []
    for _ in range(renders):
        started = time.perf_counter()
        page = client.get(f"/projects/{pk}/?tab=app")
        times.append(time.perf_counter() - started)
        page.raise_for_status()
    return {
        "contacts_p50": median(times),
        "contacts_p95": quantiles(times, n=20, method="inclusive")[18],
    }
