"""The walking skeleton: login wall, home page, static files without DEBUG, deploy checks,
and `make run`'s launcher end to end (PostgreSQL, first account, web server, Ctrl-C)."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def production_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_DEBUG="false",
        DJANGO_SECURE_SSL="true",
        DJANGO_ALLOWED_HOSTS="checkpoints.example.com",
    )
    env.update(extra)
    return env


@pytest.mark.django_db
def test_anonymous_user_is_sent_to_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_logged_in_user_sees_home(client):
    user = get_user_model().objects.create_user("ada", password="correct horse battery")
    client.force_login(user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert b"Start demo" in response.content or b"Projects" in response.content
    assert b"ada" in response.content


@pytest.mark.django_db
def test_login_form_logs_in(client):
    get_user_model().objects.create_user("grace", password="correct horse battery")
    response = client.post(
        reverse("login"), {"username": "grace", "password": "correct horse battery"}
    )
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200


@pytest.mark.django_db
def test_wrong_password_rerenders_login_with_an_error(client):
    get_user_model().objects.create_user("grace", password="correct horse battery")
    response = client.post(reverse("login"), {"username": "grace", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert b'value="grace"' in response.content


@pytest.mark.django_db
def test_ensure_admin_prints_credentials_only_once(capsys):
    call_command("ensure_admin")
    first = capsys.readouterr().out
    password = re.search(r"password: (\S+)", first).group(1)
    assert get_user_model().objects.get(username="admin").check_password(password)
    call_command("ensure_admin")
    assert "password" not in capsys.readouterr().out


def test_check_deploy_is_clean_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_missing_secret_key_refuses_to_start_without_debug():
    env = production_env()
    del env["DJANGO_SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_static_files_are_served_with_debug_off(tmp_path):
    env = production_env(DJANGO_SECURE_SSL="false", DJANGO_ALLOWED_HOSTS="127.0.0.1")
    env["CHECKPOINTS_STATIC_ROOT"] = str(tmp_path / "static")
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())
    hashed_css = manifest["paths"]["css/app.css"]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "checkpoints.wsgi", f"--bind=127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
    )
    try:
        response = _get_when_up(f"http://127.0.0.1:{port}/static/{hashed_css}")
        assert response.status_code == 200
        assert "body" in response.text
        assert "max-age" in response.headers["cache-control"]
        login = httpx.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=60)
        assert f"/static/{hashed_css}" in login.text
    finally:
        server.terminate()
        server.wait(10)


def test_launcher_serves_the_app_and_stops_everything_on_ctrl_c(tmp_path):
    port = free_port()
    env = dict(os.environ)
    for name in ("DATABASE_URL", "CHECKPOINTS_LOCAL_SERVER_URL", "DJANGO_SECRET_KEY"):
        env.pop(name, None)
    env.update(CHECKPOINTS_DATA_DIR=str(tmp_path / "data"), CHECKPOINTS_PORT=str(port))
    launcher = subprocess.Popen(
        [sys.executable, "-m", "checkpoints.launcher"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = _read_until(launcher, "Press Ctrl-C to stop", timeout=120)
    try:
        username = re.search(r"username: (\S+)", output).group(1)
        password = re.search(r"password: (\S+)", output).group(1)
        url = re.search(r"(http://127\.0\.0\.1:\d+/)", output).group(1)
        # Generous timeouts: a gunicorn worker imports Django on its first request.
        with httpx.Client(base_url=url, follow_redirects=True, timeout=60) as browser:
            page = browser.get("/")
            assert "Log in" in page.text
            token = browser.cookies["csrftoken"]
            home = browser.post(
                "/accounts/login/",
                data={"username": username, "password": password, "csrfmiddlewaretoken": token},
            )
            assert home.status_code == 200
            assert username in home.text and "Log out" in home.text
        started = psutil.Process(launcher.pid).children(recursive=True)
        assert len(started) >= 2  # web server and worker
    finally:
        launcher.send_signal(signal.SIGINT)
        launcher.wait(60)
    assert "Stopping PostgreSQL" in launcher.stdout.read()
    assert [proc for proc in started if proc.is_running() and proc.status() != "zombie"] == []
    data_dir = str(tmp_path / "data")
    postgres = [
        proc.info["cmdline"]
        for proc in psutil.process_iter(["cmdline"])
        if proc.info["cmdline"] and any(data_dir in part for part in proc.info["cmdline"])
    ]
    assert postgres == []


def _get_when_up(url: str, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=60)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        lines.append(line)
        if marker in line:
            return "".join(lines)
    process.kill()
    raise AssertionError("launcher did not come up:\n" + "".join(lines))
