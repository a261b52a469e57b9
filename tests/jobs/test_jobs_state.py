"""A job's state only moves forward; the heartbeat survives database errors; a job is
reaped only when its worker is gone; waits are bounded and answer when the job changes.
Metadata only (no engine): a job row is enough."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from django.utils import timezone

from checkpoints import services
from checkpoints.api.models import ApiToken
from checkpoints.jobs import heartbeat
from checkpoints.jobs import run as run_mod
from checkpoints.models import AgentProject, Job, Team
from checkpoints.queue import job_waits, jobs_live
from checkpoints.queue.job_state import job_transition
from tests.api_helpers import Api, token_for
from tests.web_fixtures import url, user_make

State = Job.State


@pytest.fixture
def job(db):
    user = user_make()
    team = Team.objects.get(personal_for=user)
    project = AgentProject.objects.create(team=team, name="p", engine_name="local")
    return Job.objects.create(project=project, kind=Job.Kind.CREATE_VERSION, created_by=user)


def _state(job: Job) -> str:
    job.refresh_from_db()
    return job.state


@pytest.mark.parametrize(
    "path, refused",
    [
        ([State.RUNNING, State.SUCCEEDED], [State.FAILED, State.RUNNING, State.CANCELLED]),
        ([State.RUNNING, State.FAILED], [State.SUCCEEDED, State.RUNNING, State.CANCELLED]),
        ([State.CANCELLED], [State.RUNNING, State.SUCCEEDED, State.FAILED]),
        ([State.FAILED], [State.RUNNING, State.SUCCEEDED]),
    ],
)
def test_states_only_move_forward(job, path, refused):
    for state in path:
        assert job_transition(job.pk, state)
    for state in refused:
        assert not job_transition(job.pk, state)
        assert _state(job) == path[-1]
    assert not job_transition(job.pk, State.RUNNING)  # a finished job never runs again


def test_a_reaped_job_is_not_turned_back_into_succeeded(job):
    assert job_transition(job.pk, State.RUNNING, started_at=timezone.now())
    run = run_mod.JobRun(Job.objects.get(pk=job.pk))
    assert job_transition(job.pk, State.FAILED, error=services.JOB_STALE)
    run_mod.job_finish(run, state=State.SUCCEEDED)
    job.refresh_from_db()
    assert job.state == State.FAILED and job.error == services.JOB_STALE


def test_a_stale_job_is_reaped_only_once_its_worker_lets_go_of_the_project(job):
    stale = timezone.now() - services.STALE_AFTER * 2
    Job.objects.filter(pk=job.pk).update(state=State.RUNNING, started_at=stale, heartbeat_at=stale)
    with jobs_live.ProjectLock(job.project_id) as lock:  # the worker lives, beats stuck
        assert lock.conn is not None
        assert services.jobs_fail_stale() == 0
        assert _state(job) == State.RUNNING
    assert services.jobs_fail_stale() == 1  # its connection closed: the worker is gone
    assert _state(job) == State.FAILED


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_survives_a_database_error(monkeypatch, pg_server):
    user = user_make()
    project = AgentProject.objects.create(
        team=Team.objects.get(personal_for=user), name="p", engine_name="local"
    )
    job = Job.objects.create(project=project, kind=Job.Kind.CREATE_VERSION, state=State.RUNNING)
    monkeypatch.setattr(heartbeat, "HEARTBEAT_SECONDS", 0.05)
    with heartbeat.Heartbeat(job.pk, project.pk) as heart:
        deadline = time.monotonic() + 10
        while heart.backend_pid is None and time.monotonic() < deadline:
            time.sleep(0.02)
        with psycopg.connect(pg_server.url("postgres"), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [heart.backend_pid])
        killed_at, beats = timezone.now(), heart.beats
        while heart.beats < beats + 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert heart.beats >= beats + 3, "the heartbeat stopped after a database error"
    job.refresh_from_db()
    assert job.heartbeat_at > killed_at


@pytest.mark.django_db(transaction=True)
def test_status_and_api_waits_are_bounded(client, settings):
    settings.CHECKPOINTS_STATUS_WAIT_SECONDS = 0.5
    settings.CHECKPOINTS_API_WAIT_SECONDS = 3
    user = user_make()
    project = AgentProject.objects.create(
        team=Team.objects.get(personal_for=user), name="p", engine_name="local"
    )
    job = Job.objects.create(project=project, kind=Job.Kind.CREATE_VERSION, created_by=user)
    client.force_login(user)
    status = url("job-status", project.pk, job.pk)
    seen = job_waits.job_marker(job)

    # Nothing changes: the status request answers after its bound (0.5 s), not never.
    started = time.monotonic()
    assert client.get(f"{status}?seen={seen}").status_code == 200
    assert 0.4 < time.monotonic() - started < 10

    # It changes: the waiting request answers at once, with the new state.
    def start_later() -> None:
        time.sleep(0.3)
        job_transition(job.pk, State.RUNNING, started_at=timezone.now())

    settings.CHECKPOINTS_STATUS_WAIT_SECONDS = 60
    threading.Thread(target=start_later).start()
    started = time.monotonic()
    response = client.get(f"{status}?seen={seen}")
    assert time.monotonic() - started < 30  # the change, not the 60 s bound, ended it
    assert b"badge-running" in response.content

    # ?wait=true: bounded by the setting, then 202 + Location.
    api = Api(token_for(user))
    started = time.monotonic()
    response = api.get(f"projects/{project.pk}/jobs/{job.pk}", wait="true")
    assert response.status_code == 200 and 2.5 < time.monotonic() - started < 30
    settings.CHECKPOINTS_API_WAIT_SECONDS = 60
    # A token whose waiting slots are all taken (two waits elsewhere) answers at once.
    token = ApiToken.objects.get(user=user)
    holders = [jobs_live.metadata_connect() for _ in range(2)]
    try:
        for slot, holder in enumerate(holders):
            holder.execute(
                "SELECT pg_advisory_lock(%s, %s)", [jobs_live.WAIT_SLOT_TOKEN + slot, token.pk]
            )
        started = time.monotonic()
        response = api.post(f"projects/{project.pk}/jobs/{job.pk}/cancel")
        assert response.status_code == 202
        waited = api.get(f"projects/{project.pk}/jobs/{job.pk}", wait="true")
        # At once, not after the 60 s wait: no slot was free to wait in.
        assert time.monotonic() - started < 30 and waited.status_code == 200
    finally:
        for holder in holders:
            holder.close()


@pytest.mark.django_db(transaction=True)
def test_stale_jobs_are_reaped_by_the_worker_not_by_page_or_status_reads(client):
    user = user_make()
    project = AgentProject.objects.create(
        team=Team.objects.get(personal_for=user), name="p", engine_name="local"
    )
    stale = timezone.now() - services.STALE_AFTER * 2
    job = Job.objects.create(
        project=project,
        kind=Job.Kind.CREATE_VERSION,
        created_by=user,
        state=State.RUNNING,
        started_at=stale,
        heartbeat_at=stale,
    )
    client.force_login(user)
    assert client.get(url("job-status", project.pk, job.pk)).status_code == 200
    assert client.get(url("project-detail", project.pk)).status_code == 200
    Api(token_for(user)).get(f"projects/{project.pk}/jobs/{job.pk}")
    assert _state(job) == State.RUNNING  # reads never write
    from tests.conftest import worker_threads

    with worker_threads(1, interval=0.1):
        deadline = time.monotonic() + 10
        while _state(job) == State.RUNNING and time.monotonic() < deadline:
            time.sleep(0.05)
    assert job.state == State.FAILED and job.error == services.JOB_STALE
