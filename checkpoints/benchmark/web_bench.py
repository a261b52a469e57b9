"""Web figures through the real app: a live gunicorn and a worker, started as `make
run` starts them, on a throwaway metadata database on the benchmark's PostgreSQL server.

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

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from statistics import median, quantiles
from urllib.parse import urlsplit

import httpx
import psycopg
from psycopg import sql

from checkpoints.engines.local import LocalEngine
from checkpoints.launcher import WORKER_INTERVAL, gunicorn_command, worker_command
from checkpoints.pgserver import FIRST_PORT, free_port

BASE_DIR = Path(__file__).resolve().parents[2]
HTMX = {"HX-Request": "true"}


def bench_web(
    admin_url: str,
    *,
    runs: int = 3,
    contacts: int = 1000,
    renders: int = 40,
    worker_interval: float = WORKER_INTERVAL,
) -> dict[str, float]:
    """Seconds: click-to-done medians (warm, cold) and contacts page p50/p95."""
    meta_db = f"bench_web_{uuid.uuid4().hex[:8]}"
    static_root = Path(tempfile.mkdtemp(prefix="bench-static-"))
    env = _env(admin_url, meta_db, static_root)
    children: list[subprocess.Popen[bytes]] = []
    client: httpx.Client | None = None
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(meta_db)))
    try:
        manage = [sys.executable, str(BASE_DIR / "manage.py")]
        _run(manage + ["migrate", "--noinput", "-v", "0"], env)
        _run(manage + ["collectstatic", "--noinput", "-v", "0"], env)
        password = secrets.token_urlsafe(16)
        _run(manage + ["shell", "-c", _CREATE_USER.format(password=password)], env)
        port = free_port(FIRST_PORT + 2000)
        children.append(_start(gunicorn_command(port, access_log=False), env))
        children.append(_start(worker_command(interval=worker_interval, verbosity=0), env))
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        _wait_for_server(client, children)
        _login(client, password)
        pk = _start_demo(client)
        for _ in range(3):  # v1, v2, v3 through "Create next version"
            _wait_job(client, pk, _job_of(_post(client, f"/projects/{pk}/versions/next")))
        engine_project = _engine_project_id(admin_url, meta_db, pk)
        figures: dict[str, float] = {}
        step_times: dict[str, list[float]] = {}
        warm, cold, queued, ran = [], [], [], []
        for run in range(runs):
            _until(lambda: _warm_ready(admin_url, engine_project) >= 2, timeout=60)
            warm.append(_click_rollback(client, pk, 2 if run % 2 == 0 else 3))
            wait, took, steps = _last_job_times(admin_url, meta_db, pk)
            queued.append(wait)
            ran.append(took)
            for name, seconds in steps.items():
                step_times.setdefault(name, []).append(seconds)
        _until(lambda: _warm_ready(admin_url, engine_project) >= 2, timeout=60)
        cold.append(_click_rollback(client, pk, 1))
        _click_rollback(client, pk, 3)  # back to the tags schema for the contacts page
        figures["click_to_done_warm"] = median(warm)
        figures["click_to_done_cold"] = median(cold)
        figures["rollback_job_queue_wait"] = median(queued)
        figures["rollback_job_run"] = median(ran)
        figures["rollback_job_steps"] = {name: median(t) for name, t in step_times.items()}
        _add_contacts(admin_url, engine_project, contacts)
        times = []
        for _ in range(renders):
            started = time.perf_counter()
            page = client.get(f"/projects/{pk}/?tab=app")
            times.append(time.perf_counter() - started)
            page.raise_for_status()
        figures["contacts_p50"] = median(times)
        figures["contacts_p95"] = quantiles(times, n=20, method="inclusive")[18]
        figures["contacts"] = contacts
        figures["worker_interval_s"] = worker_interval
        return figures
    finally:
        if client is not None:
            client.close()
        _stop(children)
        _drop_engine_projects(admin_url, meta_db)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(meta_db))
            )
        shutil.rmtree(static_root, ignore_errors=True)


_CREATE_USER = (
    "from django.contrib.auth import get_user_model; "
    "get_user_model().objects.create_superuser('bench', '', '{password}')"
)


def _env(admin_url: str, meta_db: str, static_root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="checkpoints.settings",
        DATABASE_URL=_with_database(admin_url, meta_db),
        CHECKPOINTS_LOCAL_SERVER_URL=admin_url,
        CHECKPOINTS_ENGINE="local",
        CHECKPOINTS_TASK_BACKEND="django_tasks_db.DatabaseBackend",
        CHECKPOINTS_STATIC_ROOT=str(static_root),
        DJANGO_DEBUG="false",
        DJANGO_SECURE_SSL="false",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    env.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    return env


def _run(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, cwd=BASE_DIR, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[1:3])} failed: {done.stderr[-1500:]}")


def _start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        env=env,
        cwd=BASE_DIR,
        stdout=None if os.environ.get("CHECKPOINTS_BENCH_DEBUG") else subprocess.DEVNULL,
        stderr=None if os.environ.get("CHECKPOINTS_BENCH_DEBUG") else subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)  # its own session: gunicorn's workers too
    for child in children:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def _with_database(url: str, database: str) -> str:
    return urlsplit(url)._replace(path=f"/{database}").geturl()


def _wait_for_server(client: httpx.Client, children: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            raise RuntimeError("the web server or the worker exited at start")
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError("the web server did not answer within 60 s")


def _login(client: httpx.Client, password: str) -> None:
    client.get("/accounts/login/").raise_for_status()
    response = client.post(
        "/accounts/login/",
        data={
            "username": "bench",
            "password": password,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
    )
    if response.status_code != 302:
        raise RuntimeError(f"login failed ({response.status_code})")


def _post(client: httpx.Client, path: str) -> httpx.Response:
    response = client.post(
        path, headers={**HTMX, "X-CSRFToken": client.cookies["csrftoken"]}, data={"tab": "app"}
    )
    if response.status_code >= 400:
        raise RuntimeError(f"POST {path} answered {response.status_code}")
    return response


def _start_demo(client: httpx.Client) -> int:
    response = client.post("/projects/start", headers={"X-CSRFToken": client.cookies["csrftoken"]})
    match = re.search(r"/projects/(\d+)/", response.headers.get("location", ""))
    if response.status_code != 302 or not match:
        raise RuntimeError(f"starting the demo answered {response.status_code}")
    pk = int(match.group(1))
    _wait_job(client, pk, _job_of(client.get(f"/projects/{pk}/")))
    return pk


def _job_of(response: httpx.Response) -> int:
    match = re.search(r"/jobs/(\d+)/status", response.text)
    if not match:
        raise RuntimeError("no job status on the page after the action")
    return int(match.group(1))


_STATUS = re.compile(r'hx-get="(/projects/\d+/jobs/(\d+)/status\?seen=\w*)"')


def _wait_job(
    client: httpx.Client, pk: int, job: int, timeout: float = 120, first: str = ""
) -> None:
    """Ask for the job's status fragment as the page does: each answer carries the URL of
    the next request (`?seen=…`), which the server holds until the job changes."""
    deadline = time.monotonic() + timeout
    found = _STATUS.search(first)
    status = found.group(1) if found else f"/projects/{pk}/jobs/{job}/status"
    while time.monotonic() < deadline:
        response = client.get(status, headers=HTMX)
        trigger = response.headers.get("HX-Trigger")
        if trigger and "jobFinished" in trigger:
            state = json.loads(trigger)["jobFinished"]["state"]
            if state != "succeeded":
                raise RuntimeError(f"job {job} ended {state}")
            return
        found = _STATUS.search(response.text)
        if found:
            status = found.group(1)
        else:
            time.sleep(0.01)
    raise TimeoutError(f"job {job} did not end within {timeout:.0f} s")


def _click_rollback(client: httpx.Client, pk: int, number: int) -> float:
    started = time.perf_counter()
    answer = _post(client, f"/projects/{pk}/versions/{number}/rollback")
    _wait_job(client, pk, _job_of(answer), first=answer.text)
    page = client.get(f"/projects/{pk}/")
    elapsed = time.perf_counter() - started
    current = re.search(r'chip-current"[^>]*aria-current="true"[^>]*>(v\d+)<', page.text)
    if not current or current.group(1) != f"v{number}":
        raise RuntimeError(f"the project page does not show v{number} as current")
    return elapsed


def _engine_project_id(admin_url: str, meta_db: str, pk: int) -> str:
    with psycopg.connect(_with_database(admin_url, meta_db)) as conn:
        row = conn.execute(
            "SELECT engine_project_id FROM checkpoints_agentproject WHERE id = %s", (pk,)
        ).fetchone()
    return row[0]


def _last_job_times(admin_url: str, meta_db: str, pk: int) -> tuple[float, float, dict]:
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


def _warm_ready(admin_url: str, engine_project: str) -> int:
    return len(_engine(admin_url).warm_storage(engine_project))


def _add_contacts(admin_url: str, engine_project: str, count: int) -> None:
    uri = _engine(admin_url).connection_uri(engine_project)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO contacts (name, email, role, company, tags) "
            "SELECT 'Person ' || g, 'person' || g || '@bench.example', "
            "(ARRAY['engineer','founder','designer'])[1 + g %% 3], 'Company ' || (g %% 50), "
            "ARRAY['customer'] FROM generate_series(1, %s) AS g",
            (count,),
        )


def _drop_engine_projects(admin_url: str, meta_db: str) -> None:
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


def _until(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("waited too long for the warm copies")
        time.sleep(0.05)
