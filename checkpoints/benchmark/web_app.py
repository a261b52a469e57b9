"""The web benchmark's app: a throwaway metadata database on the benchmark's server, a
live gunicorn and the task workers, started as `make run` starts them (`worker_count()`
workers), all removed again on the way out, also on Ctrl-C."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
from psycopg import sql

from checkpoints.benchmark.web_client import login
from checkpoints.benchmark.web_data import drop_engine_projects
from checkpoints.launcher import gunicorn_command, worker_command, worker_count
from checkpoints.servers.pgserver import FIRST_PORT, free_port

BASE_DIR = Path(__file__).resolve().parents[2]


@contextmanager
def served_app(
    admin_url: str, worker_interval: float, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[httpx.Client, str]]:
    """(a logged-in client, the metadata database) of a freshly started app (`extra_env`:
    settings of its own, e.g. per-team servers)."""
    meta_db = f"bench_web_{uuid.uuid4().hex[:8]}"
    static_root = Path(tempfile.mkdtemp(prefix="bench-static-"))
    logs = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    env = env_of(admin_url, meta_db, static_root) | (extra_env or {})
    children: list[subprocess.Popen[bytes]] = []
    client: httpx.Client | None = None
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(meta_db)))
    try:
        password = _prepare(env)
        port = free_port(FIRST_PORT + 2000)
        children.append(start(gunicorn_command(port, access_log=False), env, logs / "web.log"))
        for n in range(worker_count()):
            command = worker_command(interval=worker_interval, verbosity=0)
            children.append(start(command, env, logs / f"worker-{n}.log"))
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        wait_for_server(client, children)
        login(client, password)
        yield client, meta_db
    except BaseException as exc:
        exc.add_note(_tails(logs))  # what the app's processes said, for a failed run
        raise
    finally:
        if client is not None:
            client.close()
        stop(children)
        drop_engine_projects(admin_url, meta_db)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(meta_db))
            )
        shutil.rmtree(static_root, ignore_errors=True)
        shutil.rmtree(logs, ignore_errors=True)


def _tails(logs: Path, lines: int = 40) -> str:
    said = []
    for log in sorted(logs.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        said.append(f"--- the last lines of {log.name}:\n" + "\n".join(tail))
    return "\n".join(said)


def _prepare(env: dict[str, str]) -> str:
    """Migrate, collect the static files, make the user; return its password."""
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    run(manage + ["migrate", "--noinput", "-v", "0"], env)
    run(manage + ["collectstatic", "--noinput", "-v", "0"], env)
    password = secrets.token_urlsafe(16)
    run(manage + ["shell", "-c", CREATE_USER.format(password=password)], env)
    return password


CREATE_USER = (
    "from django.contrib.auth import get_user_model; "
    "get_user_model().objects.create_superuser('bench', '', '{password}')"
)


def env_of(admin_url: str, meta_db: str, static_root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="checkpoints.settings",
        DATABASE_URL=with_database(admin_url, meta_db),
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


def run(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, cwd=BASE_DIR, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[1:3])} failed: {done.stderr[-1500:]}")


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`argv` in its own session; its output goes to `log` (and to the terminal too with
    CHECKPOINTS_BENCH_DEBUG)."""
    shown = os.environ.get("CHECKPOINTS_BENCH_DEBUG")
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            argv,
            env=env,
            cwd=BASE_DIR,
            stdout=None if shown else out,
            stderr=None if shown else subprocess.STDOUT,
            start_new_session=True,
        )


def stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)  # its own session: gunicorn's workers too
    for child in children:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def with_database(url: str, database: str) -> str:
    return urlsplit(url)._replace(path=f"/{database}").geturl()


def wait_for_server(client: httpx.Client, children: list[subprocess.Popen[bytes]]) -> None:
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
