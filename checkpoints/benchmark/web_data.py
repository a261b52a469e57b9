"""What the web benchmark reads and writes beside the app: the job rows' timings, the
engine project's warm copies and contacts, and the engine projects it removes at the end."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

import psycopg

from checkpoints.engines.local import LocalEngine


def _with_database(url: str, database: str) -> str:
    return urlsplit(url)._replace(path=f"/{database}").geturl()


def engine_project_id(admin_url: str, meta_db: str, pk: int) -> str:
    with psycopg.connect(_with_database(admin_url, meta_db)) as conn:
        row = conn.execute(
            "SELECT engine_project_id FROM checkpoints_agentproject WHERE id = %s", (pk,)
        ).fetchone()
    return row[0]


def last_job_times(admin_url: str, meta_db: str, pk: int) -> tuple[float, float, dict]:
    """(queue wait, run time, seconds per step) of the project's latest job."""
    with psycopg.connect(_with_database(admin_url, meta_db)) as conn:
        created, started, finished, steps = conn.execute(
            "SELECT created_at, started_at, finished_at, steps FROM checkpoints_job "
            "WHERE project_id = %s ORDER BY id DESC LIMIT 1",
            (pk,),
        ).fetchone()
    per_step = {
        step["name"]: (
            datetime.fromisoformat(step["finished_at"]) - datetime.fromisoformat(step["started_at"])
        ).total_seconds()
        for step in steps
        if step.get("finished_at")
    }
    return (started - created).total_seconds(), (finished - started).total_seconds(), per_step


def _engine(admin_url: str) -> LocalEngine:
    return LocalEngine(admin_url, recover=False)  # the app's engine catalog, as it uses it


def warm_ready(admin_url: str, engine_project: str) -> int:
    return len(_engine(admin_url).warm_storage(engine_project))


def add_contacts(admin_url: str, engine_project: str, count: int) -> None:
    uri = _engine(admin_url).connection_uri(engine_project)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO contacts (name, email, role, company, tags) "
            "SELECT 'Person ' || g, 'person' || g || '@bench.example', "
            "(ARRAY['engineer','founder','designer'])[1 + g %% 3], 'Company ' || (g %% 50), "
            "ARRAY['customer'] FROM generate_series(1, %s) AS g",
            (count,),
        )


def drop_engine_projects(admin_url: str, meta_db: str) -> None:
    try:
        with psycopg.connect(_with_database(admin_url, meta_db)) as conn:
            ids = [
                row[0]
                for row in conn.execute(
                    "SELECT engine_project_id FROM checkpoints_agentproject "
                    "WHERE engine_project_id <> ''"
                ).fetchall()
            ]
    except psycopg.Error:
        return
    if ids:
        engine = _engine(admin_url)
        engine.warm_wait()
        for project_id in ids:
            try:
                engine.project_delete(project_id)
            except Exception:  # noqa: BLE001 - best effort: already gone
                pass


def until(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("waited too long for the warm copies")
        time.sleep(0.05)
