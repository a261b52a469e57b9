"""Pages and htmx fragments with the Django client, against the real local engine."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from checkpoints import connections, services
from checkpoints.engines.errors import EngineError
from checkpoints.models import AgentProject, Job, Preview
from contacts import repository
from tests.web_fixtures import (
    HX,
    engine_project_drop,
    jobs_run_queued,
    project_demo,
    url,
    user_make,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(user):
    project = project_demo(user, versions=1)
    yield project
    engine_project_drop(project)


def test_login_page_renders_and_pages_require_login(client):
    assert client.get(url("login")).status_code == 200
    response = client.get(url("home"))
    assert response.status_code == 302 and url("login") in response["Location"]


def test_home_empty_state_then_start_demo(client_ada, user):
    page = client_ada.get(url("home")).content.decode()
    assert "No projects yet" in page and "Start demo" in page
    response = client_ada.post(url("project-start-demo"))
    project = AgentProject.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("project-detail", project.pk)
    jobs_run_queued()
    try:
        page = client_ada.get(response["Location"]).content.decode()
        assert 'aria-current="true"' in page and ">v0<" in page
        assert "Create next version" in page
        assert "Create me a simple contact book app" in page
    finally:
        engine_project_drop(project)


def test_project_page_shows_timeline_tabs_and_masked_connection(client_ada, project):
    page = client_ada.get(url("project-detail", project.pk)).content.decode()
    current = re.search(r'<a [^>]*aria-current="true"[^>]*>(v\d)</a>', page)
    assert current and current.group(1) == "v1"
    for label in ("App", "Meta DB", "App DB schema", "Activity", "Roll back", "Preview"):
        assert label in page
    uri = services.project_connection_uri(project=project)
    password = re.search(r"://[^:]+:([^@]+)@", uri).group(1)
    assert password not in page
    assert "********" in page
    for tab, expected in (
        ("schema", "email"),
        ("meta", "snapshot_id"),
        ("activity", "operations:"),
    ):
        body = client_ada.get(url("project-detail", project.pk), {"tab": tab}).content.decode()
        assert expected in body, tab


def test_htmx_gets_only_the_project_region(client_ada, project):
    response = client_ada.get(url("project-detail", project.pk), headers=HX)
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="project"')
    assert "<html" not in body


def test_job_status_polls_until_terminal_then_fires_event(client_ada, user, project):
    response = client_ada.post(url("version-create-next", project.pk), headers=HX)
    assert response.status_code == 200
    assert 'id="job-status"' in response.content.decode()
    job = Job.objects.get(state=Job.State.QUEUED)
    status_url = url("job-status", project.pk, job.pk)
    running = client_ada.get(status_url, headers=HX).content.decode()
    assert running.lstrip().startswith('<section id="job-status"')
    assert 'hx-trigger="load delay:0ms, every 5s"' in running and "?seen=" in running
    jobs_run_queued()
    done = client_ada.get(status_url, headers=HX)
    assert "hx-trigger" not in done.content.decode()
    assert json.loads(done["HX-Trigger"])["jobFinished"]["state"] == "succeeded"
    assert "operations" in done.content.decode()


def test_second_job_gets_a_busy_409_fragment(client_ada, project):
    first = client_ada.post(url("version-create-next", project.pk), headers=HX)
    assert first.status_code == 200
    second = client_ada.post(url("version-rollback", project.pk, 0), headers=HX)
    assert second.status_code == 409 and second["Retry-After"] == "2"
    assert second["HX-Retarget"] == "#flash"
    assert "busy" in second.content.decode()
    assert Job.objects.filter(state__in=Job.UNFINISHED).count() == 1
    # The page shows the buttons disabled while busy.
    page = client_ada.get(url("project-detail", project.pk)).content.decode()
    assert re.search(r"<button[^>]*disabled[^>]*>Create next version", page)


def test_rollback_asks_for_confirmation_first(client_ada, project):
    confirm = client_ada.get(url("version-rollback", project.pk, 0), headers=HX).content.decode()
    assert 'role="alertdialog"' in confirm and "Roll back to v0" in confirm
    assert "will be gone" in confirm
    assert not Job.objects.filter(kind=Job.Kind.ROLLBACK).exists()
    full = client_ada.get(url("version-rollback", project.pk, 0))
    assert "<html" in full.content.decode()


def test_rollback_result_states_lost_changes_and_same_connection(client_ada, project):
    before = client_ada.get(url("project-detail", project.pk)).content.decode()
    connection = re.search(r'<code id="connection-string">([^<]+)</code>', before).group(1)
    client_ada.post(url("version-rollback", project.pk, 0))
    jobs_run_queued()
    page = client_ada.get(url("project-detail", project.pk)).content.decode()
    # One line says what changed: from which version to which.
    live_before = re.search(r'aria-current="true" title="[^"]*">(v\d+)</a>', before).group(1)
    assert f"Rolled back from {live_before} to v0." in page
    assert "Changes made after v0 are gone" in page
    assert f"The connection string did not change: <code>{connection}</code>" in page


class FailingEngine:
    """The real engine, except that `fail_on` raises (a deliberately failing step)."""

    def __init__(self, engine, fail_on: str) -> None:
        self._engine, self._fail_on = engine, fail_on

    def __getattr__(self, name):
        if name == self._fail_on:

            def fail(*args, **kwargs):
                raise EngineError(f"injected failure in {name}")

            return fail
        return getattr(self._engine, name)


@pytest.fixture
def failing(monkeypatch):
    real = connections.engine_for

    def install(method: str) -> None:
        monkeypatch.setattr(
            connections,
            "engine_for",
            lambda *, project: FailingEngine(real(project=project), method),
        )

    return install


def test_failing_restore_shows_error_and_keeps_metadata(client_ada, project, failing):
    branch, current = project.active_branch_id, project.current_version
    failing("snapshot_restore")
    client_ada.post(url("version-rollback", project.pk, 0))
    job = jobs_run_queued()[0]
    assert job.state == Job.State.FAILED
    assert "injected failure in snapshot_restore" in job.error
    assert job.steps[-1]["name"] == "restore requested" and job.steps[-1]["state"] == "failed"
    project.refresh_from_db()
    assert (project.active_branch_id, project.current_version) == (branch, current)
    page = client_ada.get(url("project-detail", project.pk)).content.decode()
    assert "Roll back v0 failed." in page
    assert "injected failure in snapshot_restore" in page
    assert "The live database serves v1." in page


def test_failed_old_branch_cleanup_leaves_the_verified_rollback_done(client_ada, project, failing):
    old_branch = project.active_branch_id
    failing("branch_delete")
    client_ada.post(url("version-rollback", project.pk, 0))
    job = jobs_run_queued()[0]
    # The swap happened and was verified: done for the user; the old branch is left for
    # cleanup, and the step that failed says so.
    assert job.state == Job.State.SUCCEEDED
    assert job.steps[-1]["name"] == "cleaning up the old branch"
    assert job.steps[-1]["state"] == "failed"
    project.refresh_from_db()
    # The endpoint did move: metadata follows the engine.
    assert project.active_branch_id == job.result["new_branch_id"] != old_branch
    assert project.current_version.number == 0
    uri = services.project_connection_uri(project=project)
    assert repository.schema_read(uri).variant == 0


def test_other_users_get_404_everywhere(project):
    eve = Client()
    eve.force_login(user_make("eve"))
    job = project.jobs.first()
    preview = Preview.objects.create(
        project=project,
        version=project.current_version,
        branch_id="br-not-used",
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    contact_id = uuid.uuid4()
    gets = [
        url("preview-detail", project.pk, preview.pk),
        url("contact-update", project.pk, contact_id),
        url("project-detail", project.pk),
        url("version-rollback", project.pk, 0),
        url("project-start-over", project.pk),
        url("job-status", project.pk, job.pk),
    ]
    for path in gets:
        assert eve.get(path).status_code == 404, path
        assert eve.get(path, headers=HX).status_code == 404, path
    posts = [
        url("version-create-next", project.pk),
        url("version-rollback", project.pk, 0),
        url("version-preview", project.pk, 0),
        url("project-start-over", project.pk),
        url("contact-create", project.pk),
        url("contact-update", project.pk, contact_id),
        url("contact-delete", project.pk, contact_id),
        url("preview-discard", project.pk, preview.pk),
    ]
    for path in posts:
        assert eve.post(path, headers=HX).status_code == 404, path
    assert Job.objects.filter(state__in=Job.UNFINISHED).count() == 0
    assert str(project.name) not in eve.get(url("home")).content.decode()


def test_csrf_is_enforced_on_posts(user, project):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    jobs_before = Job.objects.count()
    response = strict.post(url("version-create-next", project.pk), headers=HX)
    assert response.status_code == 403
    assert Job.objects.count() == jobs_before
    page = strict.get(url("project-detail", project.pk)).content.decode()
    token = re.search(r'"x-csrftoken": "([^"]+)"', page).group(1)
    ok = strict.post(url("version-create-next", project.pk), headers=HX | {"X-CSRFToken": token})
    assert ok.status_code == 200
