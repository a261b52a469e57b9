"""Containment through the app: a restore is verified by content, a role the project's SQL
changed is repaired with an Activity entry, and owners rotate the password (page, API, CLI)."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import psycopg
import pytest
from django.core.management import call_command
from django.test import Client

from checkpoints import services
from checkpoints.engines import get_engine
from checkpoints.models import Activity, Job, Membership
from tests.api_helpers import Api, member_add, project_via_api, token_for, version_via_api
from tests.postgres_plugin import PG_SERVER
from tests.web_fixtures import engine_project_drop, jobs_run_queued, url, user_make

pytestmark = pytest.mark.django_db

TABLE = "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'a')"


@pytest.fixture
def owner():
    return user_make("owner")


@pytest.fixture
def project(owner):
    api = Api(token_for(owner))
    project = project_via_api(api)
    version_via_api(api, project, "a table", TABLE)
    version_via_api(api, project, "a second row", "INSERT INTO items VALUES (2, 'b')")
    get_engine().warm_wait(timeout=30)
    yield project
    engine_project_drop(project)


def rollback(owner, project, number: int) -> Job:
    response = Api(token_for(owner)).post(f"projects/{project.pk}/versions/{number}/rollback")
    assert response.status_code == 202, response.content
    jobs_run_queued()
    return project.jobs.order_by("-pk").first()


def test_a_version_changed_behind_the_engine_fails_the_rollback_loudly(owner, project):
    """Even the superuser rewriting a snapshot (and its warm copy) cannot make a rollback
    report success while serving other rows."""
    v1 = project.versions.get(number=1)
    assert v1.manifest["exact"] is True  # read on both sides of the snapshot: the same
    assert v1.manifest["tables"]["public.items"]["rows"] == 1
    engine = get_engine()
    with psycopg.connect(engine._control_conninfo, autocommit=True) as conn:
        snapshot_id = project.versions.get(number=1).snapshot_id
        names = [
            row[0]
            for row in conn.execute(
                "SELECT dbname FROM snapshots WHERE id = %s "
                "UNION ALL SELECT dbname FROM warm_copies WHERE snapshot_id = %s",
                (snapshot_id, snapshot_id),
            ).fetchall()
        ]
    for name in names:
        with psycopg.connect(PG_SERVER.url("postgres"), autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        with psycopg.connect(PG_SERVER.url(name), autocommit=True) as inside:
            inside.execute("UPDATE items SET name = 'tampered'")
        with psycopg.connect(PG_SERVER.url("postgres"), autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    job = rollback(owner, project, 1)
    assert job.state == Job.State.FAILED
    assert "does not hold v1" in job.error and "rows of table items differ" in job.error
    # Untouched versions still roll back.
    assert rollback(owner, project, 2).state == Job.State.SUCCEEDED


def test_a_password_the_agent_changed_is_repaired_with_an_activity_entry(owner, project):
    uri = services.project_connection_uri(project=project)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("ALTER ROLE CURRENT_USER PASSWORD 'mine-now'")
        conn.execute("ALTER ROLE CURRENT_USER SET default_transaction_read_only = on")
    job = rollback(owner, project, 1)
    assert job.state == Job.State.SUCCEEDED, job.error
    repair = project.activities.get(kind=Activity.Kind.REPAIR)
    assert "password" in repair.detail and "settings" in repair.detail
    with psycopg.connect(uri) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (1,)


def test_owner_rotates_the_password_through_the_api(owner, project):
    api = Api(token_for(owner))
    before = services.project_connection_uri(project=project)
    held = psycopg.connect(before, autocommit=True)
    response = api.post(f"projects/{project.pk}/connection/rotate?reveal=true")
    assert response.status_code == 200, response.content
    after = response.json()["connection_uri"]
    old, new = urlsplit(before), urlsplit(after)
    assert old.password != new.password
    assert (old.username, old.hostname, old.port, old.path) == (
        new.username,
        new.hostname,
        new.port,
        new.path,
    )
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(before).close()
    with pytest.raises(psycopg.OperationalError):
        held.execute("SELECT 1")
    held.close()
    psycopg.connect(after).close()
    assert project.activities.filter(kind=Activity.Kind.ROTATE).count() == 1
    assert new.password not in project.activities.get(kind=Activity.Kind.ROTATE).detail


def test_rotate_from_the_page_and_the_command_line(owner, project):
    client = Client()
    client.force_login(owner)
    page = client.get(url("project-detail", project.pk)).content.decode()
    assert "Rotate password" in page
    confirm = client.get(url("project-password-rotate", project.pk))
    assert b"Rotate the password?" in confirm.content
    before = services.project_connection_uri(project=project)
    response = client.post(url("project-password-rotate", project.pk))
    assert response.status_code in (200, 302)
    project.refresh_from_db()
    middle = services.project_connection_uri(project=project)
    assert middle != before
    out = io.StringIO()
    call_command("rotate_password", str(project.pk), stdout=out)
    assert "Rotated" in out.getvalue() and "********" in out.getvalue()
    project.refresh_from_db()
    assert services.project_connection_uri(project=project) != middle
    assert project.activities.filter(kind=Activity.Kind.ROTATE).count() == 2
    # Operators may not.
    operator = user_make("operator")
    member_add(project, operator, Membership.Role.OPERATOR)
    response = Api(token_for(operator)).post(f"projects/{project.pk}/connection/rotate")
    assert response.status_code == 403
    client.force_login(operator)
    assert client.post(url("project-password-rotate", project.pk)).status_code == 403
    assert "Rotate password" not in client.get(url("project-detail", project.pk)).content.decode()
