#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

Beside a running `make run` it needs no environment: the settings find the secret key
and the embedded PostgreSQL in the data folder (`.data/`). Run with any Python, it
re-runs itself with the project's `.venv` when Django is not importable.
"""

import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "checkpoints.settings")
    _use_project_venv()
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    try:
        execute_from_command_line(sys.argv)
    except OperationalError:
        hint = _no_database_hint()
        if hint is None:
            raise
        sys.exit(f"manage.py: {hint}")


def _use_project_venv() -> None:
    try:
        import django  # noqa: F401
    except ImportError:
        venv_python = BASE_DIR / ".venv" / "bin" / "python"
        if venv_python.exists() and Path(sys.executable) != venv_python:
            os.execv(venv_python, [str(venv_python), *sys.argv])
        sys.exit("manage.py: Django is not installed here: run `make install` first.")


def _no_database_hint() -> str | None:
    """One line saying what to run when the embedded database is not there, or None when
    the database is the operator's own (DATABASE_URL) or running (a real error then)."""
    if os.environ.get("DATABASE_URL"):
        return None
    import socket

    from django.conf import settings

    from checkpoints.servers.pgserver import read_config

    config = read_config(settings.DATA_DIR / "postgres")
    if config is None:
        return (
            f"no database in {settings.DATA_DIR} yet: run `make run` first (or set DATABASE_URL)."
        )
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", config.port)) == 0:
            return None
    return (
        "the embedded PostgreSQL is not running: start `make run` in another terminal, "
        "or run `.venv/bin/python -m checkpoints.launcher --exec "
        f"{' '.join(sys.argv[1:]) or 'COMMAND'}` (it starts the server for that command)."
    )


if __name__ == "__main__":
    main()
