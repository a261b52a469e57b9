"""The agent's `ALTER ROLE … PASSWORD` (issue 27): its project role, and a preview's own
role, are put back before every engine step, with an Activity entry; versions no longer
fail until a rollback repaired it, and a preview shown live works again."""

from __future__ import annotations

import pytest

from checkpoints import services
from checkpoints.engines.connect import run_sql
from checkpoints.models import Activity, Job, Preview
from tests.web_fixtures import jobs_run_queued

pytestmark = pytest.mark.django_db


def _opens(uri: str) -> bool:
    try:
        run_sql(uri, "SELECT 1")
        return True
    except Exception:
        return False


def test_a_version_after_the_agent_changed_its_password_is_saved(user, project):
    uri = services.project_connection_uri(project=project)
    run_sql(uri, "ALTER ROLE CURRENT_USER PASSWORD 'the-agents-own'")
    assert not _opens(uri)
    services.version_create(
        project=project, user=user, prompt="after", sql="CREATE TABLE after (id int)"
    )
    job = jobs_run_queued()[0]
    assert job.state == Job.State.SUCCEEDED, job.error
    assert _opens(uri)  # the connection string as it was
    repair = Activity.objects.get(project=project, kind=Activity.Kind.REPAIR)
    assert "password" in repair.detail


def test_a_preview_role_that_changed_its_password_is_repaired_by_the_next_step(user, project):
    services.preview_open(project=project, version=project.versions.get(number=1), user=user)
    jobs_run_queued()
    preview = Preview.objects.get(project=project)
    assert _opens(preview.connection_uri)
    run_sql(preview.connection_uri, "ALTER ROLE CURRENT_USER PASSWORD 'gone'")
    assert not _opens(preview.connection_uri)
    services.version_create(project=project, user=user, prompt="any step")
    job = jobs_run_queued()[0]
    assert job.state == Job.State.SUCCEEDED, job.error
    assert _opens(preview.connection_uri)
    repair = Activity.objects.get(project=project, kind=Activity.Kind.REPAIR)
    assert "preview password" in repair.detail


def test_recovery_repairs_a_preview_role_too(user, project):
    services.preview_open(project=project, version=project.versions.get(number=1), user=user)
    jobs_run_queued()
    preview = Preview.objects.get(project=project)
    run_sql(preview.connection_uri, "ALTER ROLE CURRENT_USER PASSWORD 'gone'")
    assert not _opens(preview.connection_uri)
    services.engine_for(project=project).recover()
    assert _opens(preview.connection_uri)
