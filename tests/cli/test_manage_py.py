"""`manage.py` on a fresh clone with nothing set: help and checks work, and a command that
needs the database says in one line what to run. (Beside a running `make run`:
tests/e2e/test_launcher.py.)"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_launcher import SOURCES, clean_env

ROOT = Path(__file__).resolve().parents[2]

EVERY_COMMAND_HELP = """
import django
django.setup()
from django.core.management import get_commands, load_command_class
failed = {}
for name, app in sorted(get_commands().items()):
    try:
        load_command_class(app, name).create_parser("manage.py", name).format_help()
    except Exception as error:
        failed[name] = repr(error)
print(json.dumps({"count": len(get_commands()), "failed": failed}))
"""


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fresh")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, path / name)
    return path


def manage(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=clone,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_and_help_need_nothing_set(fresh_clone):
    check = manage(fresh_clone, "check")
    assert check.returncode == 0, check.stderr
    assert "no issues" in check.stdout
    helped = manage(fresh_clone, "--help")
    assert helped.returncode == 0 and "cleanup" in helped.stdout and "versions" in helped.stdout
    cleanup = manage(fresh_clone, "cleanup", "--help")
    assert cleanup.returncode == 0 and "--dry-run" in cleanup.stdout
    every = subprocess.run(
        [sys.executable, "-c", "import json\n" + EVERY_COMMAND_HELP],
        cwd=fresh_clone,
        env=clean_env(DJANGO_SETTINGS_MODULE="checkpoints.settings"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert every.returncode == 0, every.stderr
    result = json.loads(every.stdout)
    assert result["count"] > 30 and result["failed"] == {}
    assert not (fresh_clone / ".data").exists()


def test_a_command_needing_the_database_says_what_to_run(fresh_clone, tmp_path):
    no_data = manage(fresh_clone, "versions", "list", "--project", "1")
    assert no_data.returncode == 1
    assert no_data.stderr.count("\n") == 1, no_data.stderr
    assert "run `make run` first" in no_data.stderr
    # A data folder whose server is not running (make run stopped).
    server_file = fresh_clone / ".data" / "postgres" / "server.json"
    server_file.parent.mkdir(parents=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server_file.write_text(json.dumps({"port": port, "password": "x"}))
    try:
        stopped = manage(fresh_clone, "createsuperuser", "--noinput", "--username", "x")
    finally:
        shutil.rmtree(fresh_clone / ".data")
    assert stopped.returncode == 1
    assert stopped.stderr.count("\n") == 1, stopped.stderr
    assert "start `make run` in another terminal" in stopped.stderr
    assert "checkpoints.launcher --exec createsuperuser --noinput --username x" in stopped.stderr
