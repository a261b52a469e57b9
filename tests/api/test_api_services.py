"""The generic use cases behind the API: any project, versions from a prompt and SQL."""

from __future__ import annotations

import pytest

from checkpoints import services
from checkpoints.engines.connect import run_sql
from checkpoints.jobs.sql import SQL_FAILED
from checkpoints.models import AgentProject, Job, Version
from tests.web_fixtures import engine_project_drop, jobs_run_queued, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return user_make("grace")


@pytest.fixture
def project(user):
    job = services.project_create(user=user, name="Inventory")
    jobs_run_queued()
    project = AgentProject.objects.get(pk=job.project_id)
    yield project
    engine_project_drop(project)


def tables(uri: str) -> set[str]:
    rows = run_sql(uri, "select tablename from pg_tables where schemaname = 'public'")
    return {row[0] for row in rows}


def version_make(project, user, prompt, sql=None) -> Job:
    job = services.version_create(project=project, user=user, prompt=prompt, sql=sql)
    jobs_run_queued()
    job.refresh_from_db()
    project.refresh_from_db()
    return job


def test_project_create_saves_empty_v0(project):
    job = project.jobs.get()
    assert job.kind == Job.Kind.CREATE_PROJECT and job.state == Job.State.SUCCEEDED, job.error
    assert project.current_version.number == 0
    assert tables(services.project_connection_uri(project=project)) == set()


def test_sql_versions_then_rollback_and_preview_verify_by_fingerprint(user, project):
    version_make(project, user, "Add items", "create table items (id int primary key);")
    version_make(
        project, user, "Add orders", "create table orders (id int); insert into orders values (1)"
    )
    assert project.current_version.number == 2
    assert project.current_version.name == "Add orders"
    uri = services.project_connection_uri(project=project)
    assert tables(uri) == {"items", "orders"}

    v1 = project.versions.get(number=1)
    services.version_rollback(project=project, version=v1, user=user)
    job = jobs_run_queued()[0]
    assert job.state == Job.State.SUCCEEDED, job.error
    assert tables(uri) == {"items"}

    services.preview_open(project=project, version=project.versions.get(number=2), user=user)
    job = jobs_run_queued()[0]
    assert job.state == Job.State.SUCCEEDED, job.error
    assert tables(services.preview_connection_uri(preview=job.preview)) == {"items", "orders"}
    # A version made after a rollback continues the numbering.
    version_make(project, user, "Add notes", "create table notes (id int)")
    assert project.current_version.number == 3 and project.current_version.parent == v1


def test_failing_statement_saves_nothing_and_is_named(user, project):
    job = version_make(
        project,
        user,
        "Broken",
        "create table a (id int);\ninsert into a values (1);\ninsert into missing values (2);",
    )
    assert job.state == Job.State.FAILED
    assert job.result["error_code"] == "sql_failed"
    assert "Statement 3 of 3 failed" in job.error
    assert "Statement 3: insert into missing values (2)" in job.error
    assert SQL_FAILED.split("{")[0] in job.error
    assert project.versions.count() == 1
    assert tables(services.project_connection_uri(project=project)) == set()


def test_transaction_control_is_refused(user, project):
    with pytest.raises(services.ServiceError) as refused:
        services.version_create(
            project=project, user=user, prompt="x", sql="create table a (id int); commit;"
        )
    assert "Statement 2" in refused.value.message and "COMMIT" in refused.value.message


def test_rename_and_delete_version(user, project):
    version_make(project, user, "Add items", "create table items (id int)")
    v1 = project.versions.get(number=1)
    services.version_rename(version=v1, user=user, name="Items table")
    engine = services.engine_for(project=project)
    names = {s.id: s.name for s in engine.snapshot_list(project.engine_project_id)}
    assert names[v1.snapshot_id] == "Items table"

    services.version_delete(version=v1, user=user)
    job = jobs_run_queued()[0]
    assert job.state == Job.State.SUCCEEDED, job.error
    v1.refresh_from_db()
    assert v1.deleted_at is not None and v1.deleted_by == user
    assert v1.snapshot_id not in {s.id for s in engine.snapshot_list(project.engine_project_id)}
    with pytest.raises(services.ServiceError) as refused:
        services.version_rollback(project=project, version=v1, user=user)
    assert refused.value.message == services.VERSION_DELETED
    assert Version.objects.filter(pk=v1.pk).exists()
    # Numbers are not reused after a delete.
    version_make(project, user, "Again", None)
    assert project.current_version.number == 2
