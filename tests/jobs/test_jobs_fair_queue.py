"""The fair queue: a team's jobs queue behind its own, never in front of another team's.

The claim decisions are asserted one by one on a worker's own `_claim` (no thread, no
timing); then a real flood of slow versions in three projects of one team, on two real
workers, while another team's trivial version runs to the end."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from checkpoints import services, tasks
from checkpoints.jobs import run as job_run
from checkpoints.jobs.registry import RUNNERS
from checkpoints.models import AgentProject, Job
from checkpoints.queue import job_state, jobs_live
from checkpoints.worker import ListeningWorker
from tests.conftest import worker_threads
from tests.web_fixtures import engine_project_drop, project_demo, user_make

pytestmark = pytest.mark.django_db(transaction=True)

SLOW_SQL = "select pg_sleep(30)"


def _worker() -> ListeningWorker:
    return ListeningWorker(
        queue_names=["default"],
        interval=0.1,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="fair-test",
        excluded_queue_names=[],
    )


def _project(user, name: str) -> AgentProject:
    return AgentProject.objects.create(team=user.personal_team, name=name, engine_name="local")


def _claimed_job(worker: ListeningWorker) -> Job | None:
    task = worker._claim()
    return None if task is None else Job.objects.get(task_id=str(task.id))


def _queue(project: AgentProject, user) -> Job:
    return tasks.job_enqueue(project=project, kind=Job.Kind.CREATE_VERSION, user=user)


def test_a_flood_of_one_team_leaves_the_next_worker_to_another_team(settings):
    settings.CHECKPOINTS_WORKERS_PER_TEAM = 1
    ada, bob = user_make("ada"), user_make("bob")
    flood = [_queue(_project(ada, f"a{n}"), ada) for n in range(3)]
    other = _queue(_project(bob, "b"), bob)
    worker = _worker()

    assert _claimed_job(worker) == flood[0]  # the oldest job first
    assert _claimed_job(worker) == other  # not ada's next: ada holds her one worker
    assert _claimed_job(worker) is None  # ada's others wait behind her own
    Job.objects.filter(pk=flood[0].pk).update(state=Job.State.SUCCEEDED)
    assert _claimed_job(worker) == flood[1]  # her slot is free again: her next in order
    assert _claimed_job(worker) is None


def test_the_team_holding_fewer_workers_goes_first(settings):
    settings.CHECKPOINTS_WORKERS_PER_TEAM = 2
    ada, bob = user_make("ada"), user_make("bob")
    flood = [_queue(_project(ada, f"a{n}"), ada) for n in range(3)]
    worker = _worker()
    assert _claimed_job(worker) == flood[0]
    other = _queue(_project(bob, "b"), bob)  # queued after all of ada's
    assert _claimed_job(worker) == other  # bob holds none, ada one
    assert _claimed_job(worker) == flood[1]  # ada's second slot
    assert _claimed_job(worker) is None


def test_tasks_of_no_team_are_never_held_back(settings):
    settings.CHECKPOINTS_WORKERS_PER_TEAM = 1
    ada = user_make("ada")
    first, _ = (_queue(_project(ada, f"a{n}"), ada) for n in range(2))
    tasks.preview_expire.enqueue(12345)  # belongs to no team
    worker = _worker()
    assert _claimed_job(worker) == first
    task = worker._claim()
    assert task is not None and task.task_path == "checkpoints.tasks.preview_expire"
    assert worker._claim() is None


def _left_running(job: Job, *, beat_seconds_ago: float) -> None:
    """The job as a worker leaves it when `make run` stops mid-job: still RUNNING."""
    beat = timezone.now() - timedelta(seconds=beat_seconds_ago)
    Job.objects.filter(pk=job.pk).update(
        state=Job.State.RUNNING, started_at=beat, heartbeat_at=beat
    )


def test_a_job_a_stopped_worker_left_running_holds_no_worker(settings):
    """Ctrl-C mid-job, `make run` again: the team's next job does not wait for the reaper."""
    settings.CHECKPOINTS_WORKERS_PER_TEAM = 1
    ada = user_make("ada")
    interrupted, following = (_queue(_project(ada, f"a{n}"), ada) for n in range(2))
    worker = _worker()
    assert _claimed_job(worker) == interrupted
    _left_running(interrupted, beat_seconds_ago=0)  # no lock: its worker is gone
    assert _claimed_job(worker) == following


def test_a_running_job_holds_its_worker_while_its_worker_holds_the_lock(settings):
    settings.CHECKPOINTS_WORKERS_PER_TEAM = 1
    ada = user_make("ada")
    running, waiting = (_queue(_project(ada, f"a{n}"), ada) for n in range(2))
    worker = _worker()
    assert _claimed_job(worker) == running
    _left_running(running, beat_seconds_ago=600)  # beats missed, but its worker lives
    with jobs_live.ProjectLock(running.project_id) as lock:
        assert lock.conn is not None
        assert _claimed_job(worker) is None
    assert _claimed_job(worker) == waiting


def test_a_job_is_marked_running_only_once_its_worker_holds_the_lock(monkeypatch):
    """No moment in which a live worker's running job would read as a stopped one's."""
    ada = user_make("ada")
    job = _queue(_project(ada, "a"), ada)
    locked_when_running: list[bool] = []

    def transition(job_id, state, **fields):
        if state == Job.State.RUNNING:
            locked_when_running.append(job.project_id in jobs_live.projects_locked())
        return job_state.job_transition(job_id, state, **fields)

    monkeypatch.setattr(job_run, "job_transition", transition)
    monkeypatch.setitem(RUNNERS, job.kind, lambda run: None)
    job_run.job_execute(job.pk)
    assert locked_when_running == [True]
    assert Job.objects.get(pk=job.pk).state == Job.State.SUCCEEDED
    assert job.project_id not in jobs_live.projects_locked()


def test_housekeeping_after_a_job_runs_with_the_project_lock_released(monkeypatch):
    """A tier move a save queues is taken by the other worker at once: it must get the
    project's lock, or it would run uncounted by the fair queue."""
    ada = user_make("ada")
    job = _queue(_project(ada, "a"), ada)
    locked_in_housekeeping: list[bool] = []

    def runner(run):
        run.after_success(
            lambda: locked_in_housekeeping.append(job.project_id in jobs_live.projects_locked())
        )

    monkeypatch.setitem(RUNNERS, job.kind, runner)
    job_run.job_execute(job.pk)
    assert locked_in_housekeeping == [False]


@pytest.fixture
def teams():
    ada, bob = user_make("ada"), user_make("bob")
    flood = [project_demo(ada) for _ in range(3)]
    quick = project_demo(bob)
    yield ada, flood, bob, quick
    for project in [*flood, quick]:
        engine_project_drop(project)


def _until(check, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("the condition did not come true")


def test_another_teams_version_runs_while_a_flood_holds_its_own_queue(teams, settings):
    settings.CHECKPOINTS_WORKERS_PER_TEAM = 1
    ada, flood, bob, quick = teams
    with worker_threads(2):
        slow = [
            services.version_create(project=p, user=ada, prompt="slow", sql=SLOW_SQL) for p in flood
        ]
        _until(lambda: Job.objects.filter(pk=slow[0].pk, state=Job.State.RUNNING).exists())
        version = services.version_create(project=quick, user=bob, prompt="t", sql="select 1")
        version = _until(lambda: Job.objects.filter(pk=version.pk, state__in=Job.FINISHED).first())
        states = list(Job.objects.filter(pk__in=[j.pk for j in slow]).values_list("state"))
        for job in slow:  # end the flood
            services.job_cancel(job=job, user=ada)
        _until(lambda: not Job.objects.filter(state__in=Job.UNFINISHED).exists())
    assert version.state == Job.State.SUCCEEDED, version.error
    # ada's first is still running and her others still queued: bob's went before them.
    assert sorted(s for (s,) in states) == ["queued", "queued", "running"]
