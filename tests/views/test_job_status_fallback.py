"""The page's polling fallback: when a job's notifications are lost, the status request
(the page's `?seen=` long-poll) still answers with the finished job once its wait is up,
and the page then learns that it ended (`HX-Trigger: jobFinished`). Metadata only."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection
from django.utils import timezone

from checkpoints.models import AgentProject, Job, Team
from checkpoints.queue import job_waits
from checkpoints.queue.job_state import job_transition
from tests.web_fixtures import url, user_make

pytestmark = pytest.mark.django_db(transaction=True)

TRIGGER = "ALTER TABLE checkpoints_job {} TRIGGER checkpoints_job_notify"


@pytest.fixture
def notifications_lost():
    with connection.cursor() as cursor:
        cursor.execute(TRIGGER.format("DISABLE"))
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(TRIGGER.format("ENABLE"))


def test_the_status_request_shows_the_finished_job_without_its_notification(
    client, settings, notifications_lost
):
    settings.CHECKPOINTS_STATUS_WAIT_SECONDS = 1
    user = user_make()
    project = AgentProject.objects.create(
        team=Team.objects.get(personal_for=user), name="p", engine_name="local"
    )
    job = Job.objects.create(project=project, kind=Job.Kind.CREATE_VERSION, created_by=user)
    client.force_login(user)
    seen = job_waits.job_marker(job)

    def run_and_finish() -> None:
        time.sleep(0.2)  # the request is waiting by now
        job_transition(job.pk, Job.State.RUNNING, started_at=timezone.now())
        job_transition(job.pk, Job.State.SUCCEEDED, finished_at=timezone.now())

    worker = threading.Thread(target=run_and_finish)
    worker.start()
    response = client.get(f"{url('job-status', project.pk, job.pk)}?seen={seen}")
    worker.join()
    assert response.status_code == 200
    trigger = json.loads(response.headers.get("HX-Trigger") or "{}")
    if "jobFinished" not in trigger:  # the wait ended before the job did: poll once more
        response = client.get(url("job-status", project.pk, job.pk))
        trigger = json.loads(response.headers.get("HX-Trigger") or "{}")
    assert trigger["jobFinished"]["state"] == "succeeded"
