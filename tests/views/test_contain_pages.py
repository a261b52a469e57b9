"""What the project page says when the agent's own database stands in the way: the App
tab never waits behind the agent's lock (it names the lock within a second or so), and a
project the disk quota turned read-only carries a banner saying what that means and how
to get out (another project's page does not)."""

from __future__ import annotations

import psycopg
import pytest

from checkpoints import services
from checkpoints.engines import get_engine
from checkpoints.engines.local import watchdog
from checkpoints.queue import job_watchdog
from tests.web_fixtures import engine_project_drop, project_demo, url, user_make

pytestmark = pytest.mark.django_db(transaction=True)

MB = 1024 * 1024


@pytest.fixture
def ada():
    return user_make("ada")


@pytest.fixture
def book(ada):
    project = project_demo(ada, versions=1)
    yield project
    engine_project_drop(project)


def test_the_app_tab_names_the_agents_lock_instead_of_waiting(client, ada, book):
    client.force_login(ada)
    with psycopg.connect(services.project_connection_uri(project=book)) as agent:
        agent.execute("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE")  # held: no commit
        page = client.get(url("project-detail", book.pk), {"tab": "app"})
        assert page.status_code == 200
        body = page.content.decode()
        assert "`contacts` is locked by a session of this project since" in body
        assert "once that session commits or ends" in body
    page = client.get(url("project-detail", book.pk), {"tab": "app"})  # released
    assert "is locked by" not in page.content.decode()


def _size(project) -> int:
    size = watchdog.live_size(get_engine("local"), project.engine_project_id)
    assert size is not None
    return size


def test_a_project_read_only_by_the_quota_shows_a_banner_another_does_not(
    client, ada, book, settings
):
    other = project_demo(ada, versions=1)
    try:
        with psycopg.connect(services.project_connection_uri(project=book)) as agent:
            agent.execute(
                "CREATE TABLE big AS SELECT repeat('x', 900) AS pad FROM generate_series(1, 8000)"
            )
        settings.CHECKPOINTS_PROJECT_DISK_QUOTA_MB = (max(_size(other), _size(book) - MB)) / MB
        done = job_watchdog.watchdog_run()
        assert ("read-only", book.engine_project_id) in [(o.what, o.project_id) for o in done]
        client.force_login(ada)
        body = client.get(url("project-detail", book.pk)).content.decode()
        assert 'id="quota-banner"' in body and "Read-only: over the disk quota." in body
        assert "roll back to a smaller version" in body
        assert "CHECKPOINTS_PROJECT_DISK_QUOTA_MB" in body
        assert (
            'id="quota-banner"' not in client.get(url("project-detail", other.pk)).content.decode()
        )

        settings.CHECKPOINTS_PROJECT_DISK_QUOTA_MB = 10 * _size(book) / MB  # raised
        assert [o.what for o in job_watchdog.watchdog_run()] == ["writable"]
        body = client.get(url("project-detail", book.pk)).content.decode()
        assert 'id="quota-banner"' not in body
    finally:
        engine_project_drop(other)
