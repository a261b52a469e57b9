"""A live database whose tables cannot be read is still kept before a rollback (a
rollback is the way out of such a database), but never silently without a manifest: the
automatic version says in its name and prompt that it could not be verified, and why."""

from __future__ import annotations

import psycopg
import pytest

from checkpoints import services
from checkpoints.models import Job
from tests.web_fixtures import engine_project_drop, jobs_run_queued, project_demo, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada():
    return user_make("ada")


@pytest.fixture
def project(ada):
    project = project_demo(ada, versions=1)
    yield project
    engine_project_drop(project)


def test_an_unreadable_live_database_is_kept_and_says_it_is_not_verified(ada, project):
    with psycopg.connect(services.project_connection_uri(project=project)) as agent:
        agent.execute("INSERT INTO contacts (name, email) VALUES ('Kept', 'kept@example.com')")
        agent.execute("REVOKE ALL ON contacts FROM CURRENT_USER")  # the owner locks itself out
    services.version_rollback(project=project, version=project.versions.get(number=0), user=ada)
    job = jobs_run_queued()[0]
    assert job.state == Job.State.SUCCEEDED, job.error
    kept = project.versions.get(automatic=True)
    assert kept.name == "Before rollback to v0 (not verified)"
    assert kept.manifest is None
    assert "could not be read when it was kept (permission denied for table contacts)" in (
        kept.prompt
    )
    assert "checks its schema, not its rows" in kept.prompt
    step = next(s for s in job.steps if s["name"] == "keeping the live state")
    assert "could not be read (permission denied for table contacts)" in step["detail"]
    assert "kept, not verified" in step["detail"]


def test_a_readable_live_database_is_kept_with_its_manifest(ada, project):
    with psycopg.connect(services.project_connection_uri(project=project)) as agent:
        agent.execute("INSERT INTO contacts (name, email) VALUES ('Kept', 'kept@example.com')")
    services.version_rollback(project=project, version=project.versions.get(number=0), user=ada)
    job = jobs_run_queued()[0]
    assert job.state == Job.State.SUCCEEDED, job.error
    kept = project.versions.get(automatic=True)
    assert kept.name == "Before rollback to v0"
    assert kept.manifest is not None and kept.manifest["tables"]
