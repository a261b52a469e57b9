"""One world per module for the MCP tests: users and tokens, a task worker, a gunicorn.

The MCP servers under test are real processes (`manage.py mcp` over stdio, gunicorn with
gthread workers for /mcp) on the test database, so what they see must be committed:
the data is made once per module outside any test transaction and flushed afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from django.core.management import call_command

from checkpoints.models import AgentProject, Membership
from tests.api_helpers import token_for
from tests.postgres_plugin import PG_SERVER
from tests.web_fixtures import engine_project_drop, user_make

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class World:
    operator: str  # the token of a user who owns a personal team, operator in `shared`
    viewer: str  # viewer in the operator's personal team
    stranger: str  # another team: the operator's projects are not found for it
    env: dict[str, str]
    url: str = ""  # the gunicorn's /mcp


def _env(database: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=PG_SERVER.url(database),
        DJANGO_DEBUG="false",
        CHECKPOINTS_MCP_WAIT_SECONDS="30",
        CHECKPOINTS_LOG_LEVEL="WARNING",
    )
    return env


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> Iterator[World]:
    from django.db import connection

    with django_db_blocker.unblock():
        operator, viewer, stranger = (user_make(n) for n in ("agent", "watcher", "stranger"))
        Membership.objects.create(
            team=operator.personal_team, user=viewer, role=Membership.Role.VIEWER
        )
        world = World(
            operator=token_for(operator),
            viewer=token_for(viewer),
            stranger=token_for(stranger),
            env=_env(connection.settings_dict["NAME"]),
        )
        worker = _worker_start()
        try:
            yield world
        finally:
            worker()
            for project in AgentProject.objects.all():
                engine_project_drop(project)
            call_command("flush", interactive=False, verbosity=0)
            connection.close()


def _worker_start():
    """django_tasks_db's worker in a thread, as `make run` runs one; returns its stop."""
    from django.db import connection
    from django_tasks_db.management.commands.db_worker import Worker

    worker = Worker(
        queue_names=["default"],
        interval=0.05,
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="mcp-test-worker",
        excluded_queue_names=[],
    )

    def run() -> None:
        try:
            worker.run()
        finally:
            connection.close()

    thread = threading.Thread(target=run, name="mcp-test-worker", daemon=True)
    thread.start()

    def stop() -> None:
        worker.running = False
        thread.join(timeout=30)

    return stop


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def http_world(world: World) -> Iterator[World]:
    """The app under gunicorn as `make run` serves it (gthread: 1 worker, 4 threads)."""
    port = _free_port()
    command = [sys.executable, "-m", "gunicorn", "checkpoints.wsgi", f"--bind=127.0.0.1:{port}"]
    command += ["--workers=1", "--threads=4", "--worker-class=gthread", "--log-level=warning"]
    server = subprocess.Popen(command, env=world.env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        world.url = f"http://127.0.0.1:{port}/mcp"
        yield world
    finally:
        server.terminate()
        server.wait(timeout=30)
