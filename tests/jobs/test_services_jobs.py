"""Services and tasks against the real local engine (jobs run synchronously here)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from checkpoints import services
from checkpoints.models import Activity, Job, Membership, Preview, Version
from contacts import repository
from tests.web_fixtures import engine_project_drop, jobs_run_queued, project_demo, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return user_make()


@pytest.fixture
def project(user):
    project = project_demo(user)
    yield project
    engine_project_drop(project)


def test_new_user_gets_a_personal_team(user):
    membership = Membership.objects.get(user=user)
    assert membership.role == Membership.Role.OWNER
    assert membership.team.personal_for == user
    assert services.team_personal_for(user=user) == membership.team


def test_start_demo_records_v0(project):
    assert project.engine_project_id and project.active_branch_id and project.endpoint_id
    assert project.current_version.number == 0
    job = project.jobs.get()
    assert job.kind == Job.Kind.START_DEMO and job.state == Job.State.SUCCEEDED
    assert [step["state"] for step in job.steps] == ["succeeded"] * len(job.steps)
    uri = services.project_connection_uri(project=project)
    assert repository.schema_read(uri).variant == 0


def test_versions_follow_the_script(user, project):
    for expected in (1, 2, 3):
        services.version_create_next(project=project, user=user)
        jobs_run_queued()
        project.refresh_from_db()
        assert project.current_version.number == expected
        uri = services.project_connection_uri(project=project)
        assert repository.schema_read(uri).variant == expected
    assert list(project.versions.values_list("number", flat=True)) == [0, 1, 2, 3]
    assert project.versions.get(number=3).parent.number == 2
    with pytest.raises(services.ServiceError):
        services.version_create_next(project=project, user=user)


def test_second_job_on_a_busy_project_is_refused(user, project):
    services.version_create_next(project=project, user=user)
    with pytest.raises(services.ProjectBusy) as refused:
        services.version_create_next(project=project, user=user)
    assert "busy" in refused.value.message
    assert refused.value.status == 409
    assert project.jobs.filter(state__in=Job.UNFINISHED).count() == 1


def test_rollback_keeps_connection_string_and_deletes_orphan(user, project):
    for _ in range(3):
        services.version_create_next(project=project, user=user)
        jobs_run_queued()
    project.refresh_from_db()
    uri_before = services.project_connection_uri(project=project)
    repository.contact_create(
        uri_before,
        schema=repository.schema_read(uri_before),
        data={"name": "Katherine Johnson", "email": "kj@example.com", "tags": ["nasa"]},
    )
    old_branch = project.active_branch_id
    v1 = project.versions.get(number=1)

    services.version_rollback(project=project, version=v1, user=user)
    job = jobs_run_queued()[0]
    assert job.state == Job.State.SUCCEEDED, job.error
    project.refresh_from_db()
    assert project.current_version == v1
    assert project.active_branch_id != old_branch
    assert services.project_connection_uri(project=project) == uri_before
    schema, contacts = repository.contacts_list(uri_before)
    assert schema.variant == 1
    assert "kj@example.com" not in {c.email for c in contacts}
    engine = services.engine_for(project=project)
    branch_ids = {b.id for b in engine.branch_list(project.engine_project_id)}
    assert old_branch not in branch_ids
    names = [step["name"] for step in job.steps]
    # The contact added at v3 is kept: compared first, the live database renamed a
    # snapshot by the restore's swap (no copy), then recorded as an automatic version.
    assert names[0] == "keeping the live state"
    assert names.index("restore requested") < names.index("recording the live state")
    after = names[names.index("restore requested") + 1 :]
    assert [n for n in after if n != "recording the live state"][0] == "operations"
    # The old branch's database became the kept version's snapshot: nothing to clean up.
    assert {"waiting for the endpoint", "verifying"} <= set(names)
    activity = Activity.objects.get(kind=Activity.Kind.ROLLBACK)
    assert activity.operation_ids and activity.duration_ms is not None
    assert activity.from_version.number == 3 and activity.to_version == v1


def test_preview_leaves_live_database_alone(user, project):
    for _ in range(3):
        services.version_create_next(project=project, user=user)
        jobs_run_queued()
    project.refresh_from_db()
    # After a rollback the snapshots' source branch is gone: previews still work.
    services.version_rollback(project=project, version=project.versions.get(number=2), user=user)
    jobs_run_queued()
    project.refresh_from_db()
    v1 = project.versions.get(number=1)
    services.preview_open(project=project, version=v1, user=user)
    job = jobs_run_queued()[0]
    assert job.state == Job.State.SUCCEEDED, job.error
    preview = Preview.objects.get()
    assert job.preview == preview
    live = services.project_connection_uri(project=project)
    preview_uri = services.preview_connection_uri(preview=preview)
    assert preview_uri != live
    assert repository.schema_read(preview_uri).variant == 1
    assert repository.schema_read(live).variant == 2

    services.preview_discard(preview=preview, user=user)
    jobs_run_queued()
    preview.refresh_from_db()
    assert preview.discarded_at is not None
    engine = services.engine_for(project=project)
    assert preview.branch_id not in {b.id for b in engine.branch_list(project.engine_project_id)}


def test_expired_previews_are_cleaned_up_after_a_job(user, project):
    v0 = project.versions.get(number=0)
    services.preview_open(project=project, version=v0, user=user)
    jobs_run_queued()
    preview = Preview.objects.get()
    Preview.objects.filter(pk=preview.pk).update(expires_at=timezone.now())
    services.version_create_next(project=project, user=user)
    ran = jobs_run_queued()
    assert [job.kind for job in ran] == [Job.Kind.CREATE_VERSION, Job.Kind.PREVIEW_DISCARD]
    preview.refresh_from_db()
    assert preview.discarded_at is not None
    assert Activity.objects.filter(kind=Activity.Kind.EXPIRE).exists()


def test_start_over_deletes_versions_and_begins_again(user, project):
    services.version_create_next(project=project, user=user)
    jobs_run_queued()
    old_engine_project = project.engine_project_id
    services.project_start_over(project=project, user=user)
    job = jobs_run_queued()[0]
    assert job.state == Job.State.SUCCEEDED, job.error
    project.refresh_from_db()
    assert project.engine_project_id != old_engine_project
    assert project.current_version.number == 0
    assert Version.objects.filter(project=project, deleted_at__isnull=True).count() == 1
    assert Version.objects.filter(project=project, deleted_at__isnull=False).count() == 2


def test_dead_worker_job_is_failed_not_repeated(user, project):
    job = services.version_create_next(project=project, user=user)
    stale = timezone.now() - services.STALE_AFTER * 2
    Job.objects.filter(pk=job.pk).update(
        state=Job.State.RUNNING, started_at=stale, heartbeat_at=stale
    )
    assert services.jobs_fail_stale(project=project) == 1
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and job.error == services.JOB_STALE
    # The task runs later (or again): it must not repeat the work.
    from checkpoints.jobs.run import job_execute

    job_execute(job.pk)
    project.refresh_from_db()
    assert project.current_version.number == 0
    # And the project is free again.
    services.version_create_next(project=project, user=user)
