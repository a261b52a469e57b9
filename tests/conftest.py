"""Shared fixtures. The PostgreSQL server itself is started by `tests/postgres_plugin.py`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from checkpoints.pgserver import EmbeddedPostgres
from tests.postgres_plugin import PG_SERVER


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    """The running test server; `pg_server.url(dbname)` gives a superuser URL."""
    yield PG_SERVER


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests save screenshots (kept after the run, git-ignored)."""
    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(autouse=True)
def _plain_static_storage(settings) -> None:
    """Tests render templates without `collectstatic`: skip the manifest lookup.

    The manifest storage used in production is exercised by test_skeleton's live server."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
