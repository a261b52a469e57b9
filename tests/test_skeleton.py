"""The walking skeleton: login wall, home page, static files without DEBUG, deploy checks,
and `make run`'s launcher end to end (PostgreSQL, first account, web server, Ctrl-C)."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
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


def test_without_a_secret_key_serving_and_deploy_checks_refuse(tmp_path):
    """No DJANGO_SECRET_KEY and no data folder from `make run`: `check --deploy` fails and
    the WSGI app refuses to load, each naming the variable; there is no built-in key."""
    env = production_env(CHECKPOINTS_DATA_DIR=str(tmp_path / "no-data"))
    del env["DJANGO_SECRET_KEY"]
    deploy = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert deploy.returncode != 0
    assert "checkpoints.E001" in deploy.stderr and "DJANGO_SECRET_KEY" in deploy.stderr
    wsgi = subprocess.run(
        [sys.executable, "-c", "import checkpoints.wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert wsgi.returncode != 0
    assert "Set DJANGO_SECRET_KEY" in wsgi.stderr


def test_the_key_make_run_keeps_is_found_in_the_data_folder(tmp_path):
    env = production_env(CHECKPOINTS_DATA_DIR=str(tmp_path))
    del env["DJANGO_SECRET_KEY"]
    (tmp_path / "secret_key").write_text("k" * 60)
    probe = "from django.conf import settings; import django; django.setup(); print(settings.SECRET_KEY)"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "checkpoints.settings"},
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == "k" * 60, result.stderr


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


def _get_when_up(url: str, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=60)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
