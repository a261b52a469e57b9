"""A button's answer waits a moment for the job it started (CHECKPOINTS_ACTION_WAIT_SECONDS):
a job that ends within it is answered with its result, in that one response (no progress
panel, no status request); a longer one with the progress panel when the wait is over; an
opened preview with a redirect to it. A real worker runs the jobs, in a thread."""

from __future__ import annotations

import re
import time

import pytest

from checkpoints.models import Job
from tests.conftest import worker_threads
from tests.web_fixtures import HX, url

pytestmark = pytest.mark.django_db(transaction=True)

CURRENT = re.compile(r'chip-current"[^>]*aria-current="true"[^>]*>(v\d+)<')


def _current_chip(html: str) -> str | None:
    found = CURRENT.search(html)
    return found.group(1) if found else None


def test_a_rollback_that_ends_within_the_wait_answers_with_its_result(
    settings, client_ada, project
):
    settings.CHECKPOINTS_ACTION_WAIT_SECONDS = 10
    with worker_threads(1, interval=30):  # a long fallback poll: NOTIFY wakes it
        started = time.monotonic()
        response = client_ada.post(url("version-rollback", project.pk, 1), headers=HX)
        took = time.monotonic() - started
    html = response.content.decode()
    assert response.status_code == 200, f"answered after {took:.1f} s"
    job = Job.objects.filter(project=project).order_by("-pk").first()
    assert job.kind == Job.Kind.ROLLBACK and job.state == Job.State.SUCCEEDED
    assert _current_chip(html) == "v1"
    assert 'id="job-status"' not in html  # no progress panel, so no status request
    assert "Undo rollback" in html  # the finished job's result, with its undo
    project.refresh_from_db()
    assert project.current_version.number == 1


def test_a_job_still_running_after_the_wait_is_answered_with_its_progress(
    settings, client_ada, project
):
    settings.CHECKPOINTS_ACTION_WAIT_SECONDS = 0.3
    started = time.monotonic()  # no worker: the job stays queued
    response = client_ada.post(url("version-rollback", project.pk, 1), headers=HX)
    took = time.monotonic() - started
    html = response.content.decode()
    assert response.status_code == 200 and took >= 0.3
    assert 'id="job-status"' in html and "/status?seen=" in html
    assert _current_chip(html) == "v3"
    assert "jobStarted" in response.headers["HX-Trigger"]


def test_a_preview_that_opens_within_the_wait_redirects_to_it(settings, client_ada, project):
    settings.CHECKPOINTS_ACTION_WAIT_SECONDS = 10
    with worker_threads(1, interval=30):
        response = client_ada.post(url("version-preview", project.pk, 2), headers=HX)
    job = Job.objects.filter(project=project, kind=Job.Kind.PREVIEW_OPEN).get()
    assert job.state == Job.State.SUCCEEDED
    assert response.headers["HX-Redirect"] == url("preview-detail", project.pk, job.preview_id)
