"""Housekeeping never makes a project busy for its agent: a tier move (queued after each
save past CHECKPOINTS_HOT_VERSIONS) gives way to the agent's next action, queued or
running, through the API or MCP, and runs again after it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from django.db import connection

from checkpoints import services, tasks
from checkpoints.jobs.run import job_execute
from checkpoints.mcp import version_calls
from checkpoints.mcp.auth import acting_as
from checkpoints.models import AgentProject, Job
from checkpoints.queue.housekeeping import SUPERSEDED
from tests.api_helpers import Api, token_for
from tests.web_fixtures import engine_project_drop, jobs_run_queued, project_demo, user_make


def tiers(project: AgentProject) -> list[str]:
    versions = project.versions.filter(deleted_at__isnull=True).order_by("number")
    return [v.tier for v in versions]


def save(api: Api, project: AgentProject, n: int, **query):
    sql = f"create table t{n} (id int); insert into t{n} select generate_series(1, 500);"
    return api.post(f"projects/{project.pk}/versions", {"prompt": f"step {n}", "sql": sql}, **query)


@pytest.fixture
def demo(settings) -> Iterator[AgentProject]:
    settings.CHECKPOINTS_HOT_VERSIONS = 5  # nothing moves while it is made
    project = project_demo(user_make("agent"), versions=3)
    settings.CHECKPOINTS_HOT_VERSIONS = 1  # now v0, v1 and v2 should go cold
    yield project
    engine_project_drop(project)


@pytest.mark.django_db
def test_a_queued_tier_move_is_superseded_by_the_agents_save(demo):
    api = Api(token_for(demo.created_by))
    move = tasks.job_enqueue(project=demo, kind=Job.Kind.TIER_MOVE, user=None)
    response = save(api, demo, 4)
    assert response.status_code == 202, response.content
    move.refresh_from_db()
    assert (move.state, move.error) == (Job.State.CANCELLED, SUPERSEDED)
    assert tiers(demo) == ["hot"] * 4
    ran = jobs_run_queued()  # the save, then the tier move it queues
    assert [j.kind for j in ran] == [Job.Kind.CREATE_VERSION, Job.Kind.TIER_MOVE]
    assert all(j.state == Job.State.SUCCEEDED for j in ran), [j.error for j in ran]
    assert tiers(demo) == ["cold", "cold", "cold", "hot", "hot"]  # v3, v4: warm copies


def save_over_mcp(token: str, project: AgentProject, n: int) -> int:
    """What MCP's save_version runs on Django's side: the job id it started."""
    sql = f"create table t{n} (id int);"
    with acting_as(token):
        return version_calls.version_save(
            project_id=project.pk, prompt=f"step {n}", sql=sql, name=None
        )


def save_to_the_end(api: Api, project: AgentProject, n: int):
    """A save with `?wait=true`, followed to its end when the wait's bound ran out first
    (202 + Location: a slow machine, not a busy project)."""
    answer = save(api, project, n, wait="true")
    while answer.status_code == 202:
        answer = api.get(answer["Location"], wait="true")
    return answer


@pytest.mark.parametrize("door", ["api", "mcp"])
@pytest.mark.django_db(transaction=True)
def test_a_running_tier_move_stops_between_two_versions_for_the_agents_save(demo, door):
    token = token_for(demo.created_by)
    api = Api(token)
    engine = services.engine_for(project=demo)
    move = tasks.job_enqueue(project=demo, kind=Job.Kind.TIER_MOVE, user=None)
    moving = threading.Event()

    def hold_until_asked_to_stop(step: str) -> None:
        # The worker, mid-move: it goes on once someone asked it to stop (bounded).
        if step == "freeze_intent_recorded" and not moving.is_set():
            moving.set()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if Job.objects.filter(pk=move.pk, cancel_requested_at__isnull=False).exists():
                    return
                time.sleep(0.02)

    engine.fault_hook = hold_until_asked_to_stop

    def work() -> None:  # the worker, in a thread, with a connection of its own
        try:
            job_execute(move.pk)
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    try:
        worker.start()
        assert moving.wait(60)
        if door == "api":
            response = save(api, demo, 4)
            assert response.status_code == 202, response.content
        else:
            assert Job.objects.get(pk=save_over_mcp(token, demo, 4)).state == Job.State.QUEUED
        worker.join(60)
    finally:
        engine.fault_hook = None
    move.refresh_from_db()
    assert move.state == Job.State.CANCELLED, (move.state, move.error)
    assert tiers(demo) == ["cold", "hot", "hot", "hot"]  # the one it was moving, no more
    jobs_run_queued()
    assert tiers(demo) == ["cold", "cold", "cold", "hot", "hot"]  # v3, v4: warm copies


@pytest.mark.django_db(transaction=True)
def test_twenty_saves_back_to_back_are_never_busy(settings, task_worker):
    settings.CHECKPOINTS_HOT_VERSIONS = 1  # a tier move after every save
    api = Api(token_for(user_make("agent")))
    job = api.post("projects", {"name": "Saver"}, wait="true").json()
    project = AgentProject.objects.get(pk=job["project"])
    try:
        answers = [save_to_the_end(api, project, n) for n in range(1, 21)]
        refused = [a.json() for a in answers if a.status_code == 409]
        assert refused == []
        assert [a.status_code for a in answers] == [200] * 20
        assert [a.json()["version"]["number"] for a in answers] == list(range(1, 21))
        moves = project.jobs.filter(kind=Job.Kind.TIER_MOVE)
        assert moves.exists()  # housekeeping was there, and gave way
    finally:
        engine_project_drop(project)
