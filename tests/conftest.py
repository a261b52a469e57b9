"""Shared fixtures. The PostgreSQL server itself is started by `tests/postgres_plugin.py`."""

from __future__ import annotations

import threading
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


@pytest.fixture(scope="session")
def _static_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("static")


@pytest.fixture(autouse=True)
def _plain_static_storage(settings, _static_root) -> None:
    """Tests render templates without `collectstatic`: skip the manifest lookup.

    The manifest storage used in production is exercised by test_skeleton's live server."""
    settings.STATIC_ROOT = _static_root  # exists: whitenoise warns about a missing one
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def task_worker(transactional_db) -> Iterator[None]:
    """django_tasks_db's worker loop in a thread of the test process (0.1 s polling),
    as `make run` runs one: jobs enqueued on commit are picked up for real."""
    from django.db import connection
    from django_tasks_db.management.commands.db_worker import Worker

    worker = Worker(
        queue_names=["default"],
        interval=0.1,
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    )

    def run() -> None:
        try:
            worker.run()
        finally:
            connection.close()

    thread = threading.Thread(target=run, name="test-task-worker", daemon=True)
    thread.start()
    yield
    worker.running = False
    thread.join(timeout=30)
