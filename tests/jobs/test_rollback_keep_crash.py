"""A rollback's worker dies at each new step of keeping the live state: before the swap,
the live database and the metadata stay as they were, the job is failed by the reaper
(never re-run), and the next rollback keeps the state again; after the swap (the engine
kept the live database as a snapshot by renaming it), the next job records the kept
snapshot as the automatic version, so nothing is lost.

The death is a BaseException raised where the process would stop: no `except Exception`
handler of the job runs, as with a SIGKILL (the engine's own crash points are killed for
real in tests/engines/test_local_crash.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from checkpoints import connections, services
from checkpoints.jobs import live_keep
from checkpoints.jobs.run import job_execute
from checkpoints.models import Job
from checkpoints.queue import job_reaper
from checkpoints.services import lifecycle
from contacts import repository
from tests.web_fixtures import dead_workers_lock_gone, jobs_run_queued

pytestmark = pytest.mark.django_db


class Died(BaseException):
    """The worker process is gone from here on."""


def _die(*_args, **_kwargs):
    raise Died


class DiesOnRestore:
    """The real engine, except that the process dies as the restore is asked for."""

    def __init__(self, engine):
        self._engine = engine

    def __getattr__(self, name):
        return _die if name == "snapshot_restore" else getattr(self._engine, name)


def _dies_at(monkeypatch, step: str) -> None:
    if step == "as the restore is asked for":
        real = connections.engine_for
        monkeypatch.setattr(connections, "engine_for", lambda **kw: DiesOnRestore(real(**kw)))
    else:  # while comparing: nothing made yet
        monkeypatch.setattr(live_keep, "live_manifest_or_reason", _die)


@pytest.mark.parametrize(
    "step",
    ["while comparing", "as the restore is asked for"],
)
def test_rollback_dies_while_keeping_the_live_state(user, project, monkeypatch, step):
    uri = services.project_connection_uri(project=project)
    repository.contact_create(
        uri, schema=repository.schema_read(uri), data={"name": "Dorothy", "email": "dv@x.org"}
    )
    job = services.version_rollback(
        project=project, version=project.versions.get(number=1), user=user
    )
    with monkeypatch.context() as patch:
        _dies_at(patch, step)
        with pytest.raises(Died):
            job_execute(job.pk)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    dead_workers_lock_gone(project)
    assert job_reaper.jobs_fail_stale(project=project) == 1

    project.refresh_from_db()
    assert project.current_version.number == 3  # the live database was never replaced
    assert repository.schema_read(uri).variant == 3
    assert "dv@x.org" in {c.email for c in repository.contacts_list(uri)[1]}
    assert not project.versions.filter(automatic=True).exists()
    with pytest.raises(services.ServiceError, match="no rollback to undo"):
        services.rollback_undo(project=project, user=user)

    # Nothing was taken: cleanup finds no snapshot the dead job left.
    plan = lifecycle.project_cleanup(project=project, user=user, dry_run=False)
    assert [r for r in plan.removals if r.kind == "snapshot"] == []
    engine = services.engine_for(project=project)
    held = {s.id for s in engine.snapshot_list(project.engine_project_id)}
    assert {v.snapshot_id for v in project.versions.filter(deleted_at__isnull=True)} == held

    # The next rollback works, keeps the state (again, or for the first time), and undoes.
    services.version_rollback(project=project, version=project.versions.get(number=1), user=user)
    assert jobs_run_queued()[0].state == Job.State.SUCCEEDED
    project.refresh_from_db()
    services.rollback_undo(project=project, user=user)
    assert jobs_run_queued()[0].state == Job.State.SUCCEEDED
    assert "dv@x.org" in {c.email for c in repository.contacts_list(uri)[1]}


def test_rollback_dies_after_its_swap_before_recording_the_kept_state(user, project, monkeypatch):
    uri = services.project_connection_uri(project=project)
    repository.contact_create(
        uri, schema=repository.schema_read(uri), data={"name": "Dorothy", "email": "dv@x.org"}
    )
    job = services.version_rollback(
        project=project, version=project.versions.get(number=1), user=user
    )
    with monkeypatch.context() as patch:
        patch.setattr(live_keep, "kept_record", _die)
        with pytest.raises(Died):
            job_execute(job.pk)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    dead_workers_lock_gone(project)
    assert job_reaper.jobs_fail_stale(project=project) == 1
    assert repository.schema_read(uri).variant == 1  # the swap had committed

    # The next job reconciles the swap and records the kept live state.
    services.version_rollback(project=project, version=project.versions.get(number=3), user=user)
    assert jobs_run_queued()[0].state == Job.State.SUCCEEDED
    project.refresh_from_db()
    kept = project.versions.get(automatic=True)
    assert kept.name == "Before rollback to v1" and kept.parent.number == 3
    services.version_rollback(project=project, version=kept, user=user)
    assert jobs_run_queued()[0].state == Job.State.SUCCEEDED
    assert "dv@x.org" in {c.email for c in repository.contacts_list(uri)[1]}
