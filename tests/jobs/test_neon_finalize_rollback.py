"""The Neon rollback in two steps, through the app, against the emulator over the local
engine: restore into a branch named for the job, then finalize it naming the replaced
branch; cleanup deletes exactly that branch; a job stopped between the two steps leaves
nothing cleanup cannot find by name, and a refused finalize leaves the live database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.utils import timezone

from checkpoints import connections, services
from checkpoints.engines.local import LocalEngine
from checkpoints.engines.neon import NeonEngine
from checkpoints.jobs.cleanup import cleanup_now
from checkpoints.lifecycle.restore_names import replaced_name, restoring_name
from checkpoints.models import AgentProject, Job
from contacts.db import connect
from neon_emulator import NeonEmulator
from neon_emulator.schema import OpenAPIChecker
from tests.postgres_plugin import engine_url
from tests.web_fixtures import jobs_run_queued, user_make

pytestmark = pytest.mark.django_db
API_KEY = "napi_finalize_" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def emulator(pg_server) -> Iterator[NeonEmulator]:
    backend = LocalEngine(engine_url(), control_db=f"cknr_{uuid.uuid4().hex[:8]}")
    try:
        with NeonEmulator(backend, api_key=API_KEY, op_duration=0, checker=OpenAPIChecker()) as emu:
            yield emu
    finally:
        backend.destroy()


@pytest.fixture
def neon(emulator, monkeypatch, settings) -> Iterator[NeonEngine]:
    settings.CHECKPOINTS_ROLLBACK_KEEP_OLD_BRANCH = True  # cleanup deletes it, not the job
    emulator.clear_faults()
    engine = NeonEngine(API_KEY, api_url=emulator.url, backoff_initial=0.01)
    monkeypatch.setattr(connections, "engine_for", lambda *, project: engine)
    before = set(emulator.project_ids())
    yield engine
    engine.close()
    emulator.clear_faults()
    for project_id in set(emulator.project_ids()) - before:
        emulator.drop_project(project_id)
    assert emulator.schema_errors == []


@pytest.fixture
def user():
    return user_make("finalize")


def project_at_v2(user) -> AgentProject:
    job = services.project_create(user=user, name="Finalize")
    jobs_run_queued()
    project = AgentProject.objects.get(pk=job.project_id)
    for n in (1, 2):
        project.refresh_from_db()
        services.version_create(
            project=project, user=user, prompt=f"add t{n}", sql=f"create table t{n} (id int)"
        )
        assert jobs_run_queued()[-1].state == Job.State.SUCCEEDED
    project.refresh_from_db()
    return project


def tables(project: AgentProject) -> set[str]:
    project.refresh_from_db()
    with connect(services.project_connection_uri(project=project)) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def rollback(project: AgentProject, user, number: int) -> Job:
    services.version_rollback(project=project, version=project.versions.get(number=number), user=user)  # fmt: skip
    return jobs_run_queued()[-1]


def test_rollback_names_the_replaced_branch_and_cleanup_deletes_exactly_it(
    neon, emulator, user
) -> None:
    project = project_at_v2(user)
    pid, old_branch = project.engine_project_id, project.active_branch_id
    calls = neon.request_count
    job = rollback(project, user, 1)
    assert job.state == Job.State.SUCCEEDED, job.error
    print(f"API calls of the rollback job: {neon.request_count - calls}")  # noqa: T201
    names = [step["name"] for step in job.steps]
    assert names.index("restore requested") < names.index("finalizing the restore")
    assert names.index("finalizing the restore") < names.index("verifying")
    assert tables(project) == {"t1"}
    project.refresh_from_db()
    assert project.active_branch_id == job.result["new_branch_id"] != old_branch
    assert job.result["orphan_branch_id"] == old_branch
    branches = {b.id: b.name for b in neon.branch_list(pid)}
    assert branches == {old_branch: replaced_name(job.pk, "v1"), project.active_branch_id: "main"}

    plan = cleanup_now(project=project, user=user)
    assert [(r.kind, r.id) for r in plan.removals if r.kind == "branch"] == [("branch", old_branch)]
    assert {b.id for b in neon.branch_list(pid)} == {project.active_branch_id}
    assert tables(project) == {"t1"}


def test_a_job_stopped_between_restore_and_finalize_is_cleaned_up(neon, user) -> None:
    project = project_at_v2(user)
    pid, live = project.engine_project_id, project.active_branch_id
    v1 = project.versions.get(number=1)
    # What a worker killed after the restore's POST leaves: the reaped job, a branch
    # restored and never finalized, the live branch untouched.
    stopped = Job.objects.create(
        project=project, kind=Job.Kind.ROLLBACK, target_version=v1, state=Job.State.FAILED,
        started_at=timezone.now(), finished_at=timezone.now(), error="worker stopped",
    )  # fmt: skip
    half = neon.snapshot_restore(
        pid, v1.snapshot_id, target_branch_id=live, name=restoring_name(stopped.pk, "v1")
    )
    plan = cleanup_now(project=project, user=user)
    removed = [r for r in plan.removals if r.kind == "branch"]
    assert [r.id for r in removed] == [half.branch.id]
    assert f"restored by job #{stopped.pk}, which stopped before finalizing it" in removed[0].reason
    assert {b.id for b in neon.branch_list(pid)} == {live}
    assert tables(project) == {"t1", "t2"}
    # The next rollback works as usual.
    assert rollback(project, user, 1).state == Job.State.SUCCEEDED
    assert tables(project) == {"t1"}


def test_a_branch_named_at_finalize_is_found_without_the_recorded_id(neon, user) -> None:
    project = project_at_v2(user)
    job = rollback(project, user, 1)
    orphan = job.result.pop("orphan_branch_id")  # as if the worker died before recording it
    Job.objects.filter(pk=job.pk).update(result=job.result)
    project.refresh_from_db()
    plan = cleanup_now(project=project, user=user)
    assert [r.id for r in plan.removals if r.kind == "branch"] == [orphan]
    assert {b.id for b in neon.branch_list(project.engine_project_id)} == {project.active_branch_id}


def test_a_refused_finalize_leaves_the_live_database_and_no_branch(neon, emulator, user) -> None:
    project = project_at_v2(user)
    pid, live = project.engine_project_id, project.active_branch_id
    emulator.inject("status", path="/finalize_restore$", method="POST", status=400)
    job = rollback(project, user, 1)
    assert job.state == Job.State.FAILED
    assert job.steps[-1]["name"] == "finalizing the restore"
    project.refresh_from_db()
    assert project.active_branch_id == live
    assert {b.id for b in neon.branch_list(pid)} == {live}
    assert tables(project) == {"t1", "t2"}
