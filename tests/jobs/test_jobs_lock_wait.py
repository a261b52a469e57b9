"""A job that meets the agent's lock fails within seconds, saying which table is locked,
by whom and since when; the operator ends those sessions from the failure and the job
then runs. (The attack: a rollback waited for ever behind the agent's ACCESS EXCLUSIVE
lock, and two of them held both workers.)"""

from __future__ import annotations

import re

import psycopg
import pytest

from checkpoints import services
from checkpoints.models import Activity, Job
from tests.web_fixtures import HX, jobs_run_queued, url

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def agent_lock(project):
    """The agent's session: `contacts` locked ACCESS EXCLUSIVE, in an open transaction."""
    conn = psycopg.connect(services.project_connection_uri(project=project))
    conn.execute("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE")
    pid = conn.info.backend_pid
    yield pid
    conn.close()


def _rollback(project, user) -> Job:
    version = project.versions.get(number=1)
    job = services.version_rollback(project=project, version=version, user=user)
    jobs_run_queued()
    job.refresh_from_db()
    return job


def test_a_rollback_behind_the_agents_lock_fails_saying_who_holds_it(project, user, agent_lock):
    job = _rollback(project, user)
    assert job.state == Job.State.FAILED
    assert job.result["error_code"] == "locked"
    assert re.search(
        r"`contacts` is locked by a session of this project since \d\d:\d\d:\d\d "
        rf"\(AccessExclusive, pid {agent_lock}\)",
        job.error,
    ), job.error
    assert (job.finished_at - job.started_at).total_seconds() < 30  # not for ever
    project.refresh_from_db()
    assert project.current_version.number == 3  # nothing changed


def test_the_operator_ends_the_sessions_from_the_failure_then_the_rollback_runs(
    project, user, agent_lock, client
):
    failed = _rollback(project, user)
    assert failed.result["error_code"] == "locked"
    client.force_login(user)
    # (the Activity tab: the App tab's own read of `contacts` would wait for the lock)
    page = client.get(url("project-detail", project.pk) + "?tab=activity").content.decode()
    assert "is locked by a session of this project" in page
    assert 'id="sessions-end"' in page
    confirm = client.get(url("project-sessions-end", project.pk), headers=HX)
    assert confirm.status_code == 200 and b"End the sessions" in confirm.content
    ended = client.post(url("project-sessions-end", project.pk), headers=HX)
    assert ended.status_code == 200
    entry = Activity.objects.filter(project=project, kind=Activity.Kind.SESSIONS_END).get()
    assert entry.actor == user and "Ended 1 open session" in entry.detail
    job = _rollback(project, user)
    assert job.state == Job.State.SUCCEEDED, job.error
    project.refresh_from_db()
    assert project.current_version.number == 1


def test_a_viewer_cannot_end_the_sessions_the_command_line_can(project, user, agent_lock):
    from io import StringIO

    from django.core.management import call_command

    from checkpoints.models import Membership
    from tests.web_fixtures import user_make

    bob = user_make("bob")
    Membership.objects.create(team=project.team, user=bob, role=Membership.Role.VIEWER)
    with pytest.raises(services.NotAllowed):
        services.project_sessions_end(project=project, user=bob)
    assert not Activity.objects.filter(kind=Activity.Kind.SESSIONS_END).exists()
    out = StringIO()
    call_command("end_sessions", str(project.pk), stdout=out)
    assert "Ended 1 session(s)." in out.getvalue()
    entry = Activity.objects.get(kind=Activity.Kind.SESSIONS_END)
    assert entry.actor is None and entry.project == project
