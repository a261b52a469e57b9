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

from checkpoints.pgserver import EmbeddedPostgres

_TMP = Path(tempfile.mkdtemp(prefix="checkpoints-tests-"))
PG_SERVER = EmbeddedPostgres(_TMP / "postgres", fast=True)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args) -> None:
    os.environ.setdefault(
        "DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789"
    )
    PG_SERVER.start()
    os.environ["DATABASE_URL"] = PG_SERVER.url("checkpoints")
    os.environ["CHECKPOINTS_LOCAL_SERVER_URL"] = PG_SERVER.url("postgres")


def pytest_unconfigure(config: pytest.Config) -> None:
    PG_SERVER.stop()
    shutil.rmtree(_TMP, ignore_errors=True)
