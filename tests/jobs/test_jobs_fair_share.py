"""Fair share: two projects of two teams run jobs side by side on two real workers; a
long statement ends by the statement timeout or by Cancel, with nothing applied; a new
job wakes an idle worker at once (NOTIFY), and polling still finds it without one."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection

from checkpoints import services
from checkpoints.models import AgentProject, Job
from tests.api_helpers import API, Api, token_for
from tests.conftest import worker_threads
from tests.web_fixtures import engine_project_drop, project_demo, user_make

pytestmark = pytest.mark.django_db(transaction=True)

LONG_SQL = "create table half_done (id int); select pg_sleep(40)"


@pytest.fixture
def two_projects():
    """Two demo projects at v0, each in its own user's personal team."""
    ada, bob = user_make("ada"), user_make("bob")
    projects = [project_demo(ada), project_demo(bob)]
    assert projects[0].team_id != projects[1].team_id
    yield [(ada, projects[0]), (bob, projects[1])]
    for project in projects:
        engine_project_drop(project)


@pytest.fixture
def one_project():
    ada = user_make("ada")
    project = project_demo(ada)
    yield ada, project
    engine_project_drop(project)


def _job_until(job: Job, done, timeout: float = 60) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if done(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job.pk} still {job.state}: {job.steps}")


def _applying(job: Job) -> bool:
    return any(step["name"] == "applying the prompt" for step in job.steps)


def _holds_table(project: AgentProject, table: str) -> bool:
    with psycopg.connect(services.project_connection_uri(project=project)) as conn:
        found = conn.execute("SELECT to_regclass(%s)", [table]).fetchone()
    return found[0] is not None


def test_a_long_statement_does_not_delay_another_team_and_the_timeout_ends_it(
    two_projects, settings
):
    settings.CHECKPOINTS_STATEMENT_TIMEOUT = 6
    (ada, slow), (bob, quick) = two_projects
    with worker_threads(2):
        stuck = services.version_create(project=slow, user=ada, prompt="sleep", sql=LONG_SQL)
        stuck = _job_until(stuck, _applying)
        asked = time.monotonic()
        other = services.version_create(
            project=quick, user=bob, prompt="a table", sql="create table t (id int)"
        )
        other = _job_until(other, lambda j: j.is_finished)
        took = time.monotonic() - asked
        stuck.refresh_from_db()
        assert other.state == Job.State.SUCCEEDED, other.error
        # Both ran at once: the other team's version ended while the statement (ended by
        # the 6 s timeout at the latest) still ran, so it never waited for it.
        assert stuck.state == Job.State.RUNNING, f"the other version took {took:.1f} s"
        stuck = _job_until(stuck, lambda j: j.is_finished, timeout=30)
    assert stuck.state == Job.State.FAILED
    assert stuck.result["error_code"] == "statement_timeout"
    assert "statement timeout (6 s, setting CHECKPOINTS_STATEMENT_TIMEOUT)" in stuck.error
    assert "Statement 2 of 2" in stuck.error
    assert (stuck.finished_at - stuck.started_at).total_seconds() < 20
    slow.refresh_from_db()
    assert slow.current_version.number == 0 and not _holds_table(slow, "half_done")
    quick.refresh_from_db()
    assert quick.current_version.number == 1


def test_cancel_from_the_api_ends_a_running_statement_with_nothing_applied(two_projects):
    (ada, slow), (bob, _) = two_projects
    api = Api(token_for(ada))
    with worker_threads(1):
        job = services.version_create(project=slow, user=ada, prompt="sleep", sql=LONG_SQL)
        job = _job_until(job, _applying)
        time.sleep(0.3)  # the statement is running
        asked = time.monotonic()
        response = api.post(f"projects/{slow.pk}/jobs/{job.pk}/cancel")
        assert response.status_code == 202, response.content
        assert response.json()["cancel_requested"] is True
        job = _job_until(job, lambda j: j.is_finished, timeout=20)
        took = time.monotonic() - asked
    assert job.state == Job.State.CANCELLED
    assert took < 20, f"cancelling took {took:.1f} s"  # the statement sleeps 40 s
    assert "nothing was applied" in job.error
    body = api.get(f"projects/{slow.pk}/jobs/{job.pk}").json()
    assert body["state"] == "cancelled" and body["error"]["code"] == "cancelled"
    slow.refresh_from_db()
    assert slow.current_version.number == 0 and not _holds_table(slow, "half_done")
    # An ended job cannot be cancelled again; a viewer cannot cancel at all.
    again = api.post(f"projects/{slow.pk}/jobs/{job.pk}/cancel")
    assert again.status_code == 409 and again.json()["code"] == "not_running"
    from checkpoints.models import Membership

    Membership.objects.create(team=slow.team, user=bob, role=Membership.Role.VIEWER)
    queued = services.version_create(project=slow, user=ada, prompt="x", sql="select 1")
    refused = Api(token_for(bob)).post(f"projects/{slow.pk}/jobs/{queued.pk}/cancel")
    assert refused.status_code == 403
    # A queued job is cancelled at once, and no worker runs it afterwards.
    done = api.post(f"{API}/projects/{slow.pk}/jobs/{queued.pk}/cancel")
    assert done.status_code == 200 and done.json()["state"] == "cancelled"
    with worker_threads(1):
        time.sleep(0.5)
    queued.refresh_from_db()
    assert queued.state == Job.State.CANCELLED and queued.started_at is None


def test_an_idle_worker_starts_a_new_job_without_waiting_for_its_poll(one_project):
    ada, project = one_project
    with worker_threads(1, interval=30):
        time.sleep(0.5)  # idle, waiting for a notification
        job = services.version_create(project=project, user=ada, prompt="one", sql="select 1")
        job = _job_until(job, lambda j: j.started_at is not None, timeout=20)
        waited = (job.started_at - job.created_at).total_seconds()
        _job_until(job, lambda j: j.is_finished)
    # Well under the 30 s poll: the enqueue's notification woke the worker.
    assert waited < 15, f"queued {waited:.2f} s with a 30 s poll interval"


def test_polling_still_finds_a_job_whose_notification_was_lost(one_project):
    ada, project = one_project
    trigger = "django_tasks_database_dbtaskresult {} TRIGGER checkpoints_queue_notify"
    with connection.cursor() as cursor:  # the enqueue's NOTIFY is lost
        cursor.execute("ALTER TABLE " + trigger.format("DISABLE"))
    try:
        with worker_threads(1, interval=1.0):
            time.sleep(0.3)
            job = services.version_create(project=project, user=ada, prompt="one", sql="select 1")
            job = _job_until(job, lambda j: j.is_finished, timeout=30)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE " + trigger.format("ENABLE"))
    assert job.state == Job.State.SUCCEEDED
    assert (job.started_at - job.created_at).total_seconds() < 15  # the 1 s poll found it
