"""The queue keeps the task paths stored in queued rows working."""

from __future__ import annotations

import pytest
from django_tasks_db.models import DBTaskResult

from checkpoints import tasks
from checkpoints.worker import ListeningWorker

pytestmark = pytest.mark.django_db(transaction=True)

OLD_PATH = "checkpoints.lifecycle.cleanup_periodic"


def _worker() -> ListeningWorker:
    return ListeningWorker(
        queue_names=["default"],
        interval=0.1,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=1,
        worker_id="test-queue-worker",
        excluded_queue_names=[],
    )


@pytest.fixture(autouse=True)
def empty_queue():
    """The queue this test drives is its own: servers and workers other tests started in
    subprocesses commit their rows (the worker queues the periodic cleanup after a job), and
    a test transaction cannot roll those back."""
    DBTaskResult.objects.all().delete()


def test_a_periodic_cleanup_queued_under_its_old_path_still_runs_once(settings):
    tasks.cleanup_periodic.enqueue()
    row = DBTaskResult.objects.get(task_path=tasks.PERIODIC_TASK_PATH)
    DBTaskResult.objects.filter(pk=row.pk).update(task_path=OLD_PATH)  # queued before the move
    settings.CHECKPOINTS_CLEANUP_INTERVAL_MINUTES = 60
    assert tasks.cleanup_schedule_ensure() is False  # the old row counts as scheduled
    settings.CHECKPOINTS_CLEANUP_INTERVAL_MINUTES = 0  # run, it does not enqueue itself again
    _worker().run()
    row.refresh_from_db()
    assert row.task_path == tasks.PERIODIC_TASK_PATH
    assert row.status == "SUCCESSFUL"
