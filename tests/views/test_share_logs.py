"""Share-link tokens never reach a log: gunicorn started as `make run` starts it (access
log on), Django's request warnings (404, 410, 429) and runserver's request lines."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from checkpoints.launcher import gunicorn_command
from checkpoints.models import AgentProject, ShareLink, Team, Version
from checkpoints.security.logredact import GunicornLogger, RedactFilter, redact
from checkpoints.services import sharing

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _share(project: AgentProject, version: Version, *, expired: bool) -> str:
    token = secrets.token_urlsafe(32)
    ShareLink.objects.create(
        project=project,
        version=version,
        token_hash=sharing.token_hash(token),
        expires_at=timezone.now() + timedelta(hours=-1 if expired else 1),
    )
    return token


def test_redact_covers_paths_queries_and_urls():
    token = secrets.token_urlsafe(32)
    for text in (
        f"GET /s/{token} HTTP/1.1",
        f"GET /s/{token}?starting=1 HTTP/1.1",
        f"Gone: /s/{token}",
        f"http://host:8000/s/{token}/x",
    ):
        assert token not in redact(text) and "/s/[redacted]" in redact(text)
    assert redact("GET /static/css/share.css") == "GET /static/css/share.css"
    record = logging.LogRecord(
        "django.request", logging.WARNING, "", 0, "%s: %s", ("Gone", f"/s/{token}"), None
    )
    RedactFilter().filter(record)
    assert record.getMessage() == "Gone: /s/[redacted]"


@pytest.mark.django_db(transaction=True)
def test_gunicorn_and_django_logs_never_show_a_token(pg_server, tmp_path):
    team = Team.objects.create(name="t")
    # Metadata only: no job prepared the live link's view, so it answers "not available"
    # (503, a visitor never starts one) and, its creator unknown, names "a member".
    project = AgentProject.objects.create(
        team=team, name="p", engine_name="local", engine_project_id="not-started-here"
    )
    version = Version.objects.create(project=project, number=2, name="v2", snapshot_id="s")
    live, ended = _share(project, version, expired=False), _share(project, version, expired=True)
    unknown = secrets.token_urlsafe(32)

    port = _free_port()
    command = gunicorn_command(port)
    assert f"--logger-class={GunicornLogger.__module__}.GunicornLogger" in command
    command = [("--workers=1" if arg.startswith("--workers=") else arg) for arg in command]
    env = dict(os.environ)
    env.update(
        DJANGO_DEBUG="true",  # plain static storage: no collectstatic needed here
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=pg_server.url(connection.settings_dict["NAME"]),
        CHECKPOINTS_LOG_LEVEL="INFO",
    )
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        statuses = {}
        deadline = time.monotonic() + 60
        while True:
            try:
                statuses["live"] = httpx.get(
                    f"http://127.0.0.1:{port}/s/{live}", timeout=60
                ).status_code
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        base = f"http://127.0.0.1:{port}/s/"
        referer = {"Referer": f"http://127.0.0.1:{port}/s/{live}"}
        statuses["poll"] = httpx.get(f"{base}{live}?starting=1", headers=referer).status_code
        statuses["ended"] = httpx.get(base + ended).status_code
        statuses["unknown"] = httpx.get(base + unknown).status_code
        statuses["post"] = httpx.post(base + live).status_code
    finally:
        server.terminate()
        server.wait(10)
    assert statuses == {"live": 503, "poll": 503, "ended": 410, "unknown": 404, "post": 403}
    text = log.read_text()
    assert text.count("/s/[redacted]") >= 5, text  # the access log did log the requests
    assert "Gone: /s/[redacted]" in text  # and Django its warnings
    for token in (live, ended, unknown):
        assert token not in text
