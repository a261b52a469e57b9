"""Shared fixtures. The PostgreSQL server itself is started by `tests/postgres_plugin.py`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from checkpoints.engines.op_timings import OPERATION_TIMINGS
from checkpoints.servers.pgserver import EmbeddedPostgres
from tests.postgres_plugin import PG_SERVER
from tests.web_fixtures import engine_project_drop, project_demo, user_make


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
def user():
    """Ada, the usual test user."""
    return user_make()


@pytest.fixture
def project(user):
    """Ada's demo project at v3 (on the local engine), dropped from the engine after."""
    project = project_demo(user, versions=3)
    yield project
    engine_project_drop(project)


@pytest.fixture(autouse=True)
def _actions_answer_at_once(settings) -> None:
    """Most tests run their jobs by hand, after the request: a button's answer does not
    wait for a worker there. tests/views/test_action_answer.py turns the wait on."""
    settings.CHECKPOINTS_ACTION_WAIT_SECONDS = 0


@pytest.fixture(autouse=True)
def _fresh_operation_timings() -> Iterator[None]:
    """Each test starts as a fresh process: what earlier tests' waits learned about
    operation durations does not change its poll schedule."""
    OPERATION_TIMINGS.clear()
    yield
    OPERATION_TIMINGS.clear()


@contextmanager
def worker_threads(
    count: int = 1, *, interval: float = 0.1, queue: str = "default"
) -> Iterator[list]:
    """`count` of our workers (`checkpoints.worker`, woken by NOTIFY) on `queue` in threads
    of the test process, as `make run` runs them: jobs enqueued on commit are picked up."""
    from django.db import connection

    from checkpoints.worker import ListeningWorker

    workers = [
        ListeningWorker(
            queue_names=[queue],
            interval=interval,
            batch=False,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=f"test-worker-{queue}-{number}",
            excluded_queue_names=[],
        )
        for number in range(count)
    ]

    def run(worker) -> None:
        try:
            worker.run()
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(w,), name=f"test-task-worker-{n}", daemon=True)
        for n, w in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    try:
        yield workers
    finally:
        for worker in workers:
            worker.stop()
        for thread in threads:
            thread.join(timeout=30)


@pytest.fixture
def task_worker(transactional_db) -> Iterator[None]:
    """One worker in a thread (0.1 s fallback polling)."""
    with worker_threads(1):
        yield
