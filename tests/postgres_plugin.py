"""pytest plugin (loaded with `-p`): a throwaway embedded PostgreSQL for the whole run.

It starts before pytest-django reads the settings, so `DATABASE_URL` points the metadata
database at it; the local engine's databases live on the same server.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from checkpoints.servers import pgroles
from checkpoints.servers.pgserver import EmbeddedPostgres

_TMP = Path(tempfile.mkdtemp(prefix="checkpoints-tests-"))
PG_SERVER = EmbeddedPostgres(_TMP / "postgres", fast=True)
DATA_DIR = _TMP / "data"


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args) -> None:
    os.environ.setdefault(
        "DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789"
    )
    # A data folder of the run's own: `make run`'s (`.data`, or one exported for it) holds
    # team servers and cold archives named by team and connection ids, which the tests'
    # ids repeat; a test deleting its team 1 would delete that installation's team server.
    DATA_DIR.mkdir()
    os.environ["CHECKPOINTS_DATA_DIR"] = str(DATA_DIR)
    for name in ("CHECKPOINTS_TEAM_SERVERS_DIR", "CHECKPOINTS_COLD_DIR"):
        os.environ.pop(name, None)
    PG_SERVER.start()
    # Django keeps the superuser (pytest-django creates and drops its test database); the
    # engine runs as `make run` runs it (tests/test_least_privilege.py checks the roles).
    pgroles.ensure_roles(PG_SERVER, None)
    os.environ["DATABASE_URL"] = PG_SERVER.url("checkpoints")
    os.environ["CHECKPOINTS_LOCAL_SERVER_URL"] = engine_url()
    # As on the embedded servers of `make run`: the recorder of destructive statements.
    os.environ["CHECKPOINTS_LOCAL_SUPERUSER_URL"] = PG_SERVER.url("postgres")


def engine_url() -> str:
    """The local engine's admin URL on the test server: its least-privilege role once the
    engine can run so (pgroles.ENGINE_ROLE_IN_USE), the superuser until then."""
    return pgroles.engine_url(PG_SERVER.data_dir) or PG_SERVER.url("postgres")


def pytest_unconfigure(config: pytest.Config) -> None:
    PG_SERVER.stop()
    shutil.rmtree(_TMP, ignore_errors=True)
