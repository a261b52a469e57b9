"""Restore tables (issue 16): the service, the job on the real local engine, its failure
and its leftovers."""

from __future__ import annotations

import pytest

from checkpoints import services
from checkpoints.engines import tables as engine_tables
from checkpoints.engines.connect import connect, run_sql
from checkpoints.jobs.cleanup import cleanup_now
from checkpoints.lifecycle.manifest import manifest_read
from checkpoints.models import Activity, Job, Membership, Version
from checkpoints.serialize import JOB_ERROR_STATUS
from contacts import repository
from tests.web_fixtures import engine_project_drop, jobs_run_queued, project_with_notes, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return user_make()


@pytest.fixture
def project(user):
    project = project_with_notes(user, ("kept", "also kept"))
    yield project
    engine_project_drop(project)


def _tables(uri: str) -> dict:
    with connect(uri) as conn:
        return manifest_read(conn)["tables"]


def test_contacts_from_v2_others_untouched_live_state_kept(user, project):
    v2 = project.versions.get(number=2)
    uri = services.project_connection_uri(project=project)
    branches_before = {
        b.id for b in services.engine_for(project=project).branch_list(project.engine_project_id)
    }
    services.version_tables_restore(version=v2, user=user, tables=["contacts"])
    job = jobs_run_queued()[0]
    assert job.state == Job.State.SUCCEEDED, job.error
    live = _tables(uri)
    assert live["public.contacts"]["columns"] == v2.manifest["tables"]["public.contacts"]["columns"]
    assert live["public.contacts"]["rows"] == v2.manifest["tables"]["public.contacts"]["rows"]
    assert "kj@example.com" not in {c.email for c in repository.contacts_list(uri)[1]}
    assert run_sql(uri, "SELECT body FROM notes ORDER BY id") == [("kept",), ("also kept",)]
    names = [step["name"] for step in job.steps]
    assert names.index("opening the version") < names.index("keeping the live state")
    assert names.index("recording the live state") < names.index("restoring 1 table")
    assert names.index("restoring 1 table") < names.index("verifying") < names.index("cleaning up")
    assert all(step["state"] == "succeeded" for step in job.steps)
    kept = Version.objects.get(automatic=True)
    assert kept.name == "Before restoring tables from v2"
    assert "public.notes" in kept.manifest["tables"]
    project.refresh_from_db()
    assert project.current_version.number == 3  # the live database is no single version
    assert services.project_connection_uri(project=project) == uri
    engine = services.engine_for(project=project)
    assert {b.id for b in engine.branch_list(project.engine_project_id)} == branches_before
    activity = Activity.objects.get(kind=Activity.Kind.TABLE_RESTORE)
    assert "Restored contacts from v2" in activity.detail and kept.label in activity.detail


def test_a_failure_midway_leaves_the_live_database_and_no_branch(user, project, monkeypatch):
    v2 = project.versions.get(number=2)
    uri = services.project_connection_uri(project=project)
    before = _tables(uri)
    engine = services.engine_for(project=project)
    branches_before = {b.id for b in engine.branch_list(project.engine_project_id)}

    def copy_then_fail(source, live, key):
        copied = real_copy(source, live, key)
        raise RuntimeError(f"injected after copying {copied} rows")

    real_copy = engine_tables._rows_copy
    monkeypatch.setattr(engine_tables, "_rows_copy", copy_then_fail)
    services.version_tables_restore(version=v2, user=user, tables=["contacts"])
    job = jobs_run_queued()[0]
    assert job.state == Job.State.FAILED and "injected" in job.error
    assert _tables(uri) == before
    assert {b.id for b in engine.branch_list(project.engine_project_id)} == branches_before
    assert job.steps[-1]["name"] == "cleaning up"


def test_a_leftover_temporary_branch_is_removed_by_cleanup(user, project):
    """A worker that died mid-restore leaves its temporary branch: cleanup removes it."""
    v2 = project.versions.get(number=2)
    engine = services.engine_for(project=project)
    left = engine.snapshot_restore(
        project.engine_project_id,
        v2.snapshot_id,
        target_branch_id=project.active_branch_id,
        finalize_restore=False,
        name=f"tables-{v2.label}-999",
    ).branch
    plan = cleanup_now(project=project, user=user)
    assert left.id in {r.id for r in plan.removals if r.kind == "branch"}
    assert left.id not in {b.id for b in engine.branch_list(project.engine_project_id)}


def test_validation_roles_and_busy(user, project):
    v2 = project.versions.get(number=2)
    with pytest.raises(services.ServiceError, match="v2 has no table orders: choose among"):
        services.version_tables_restore(version=v2, user=user, tables=["orders"])
    with pytest.raises(services.ServiceError, match="Choose at least one table"):
        services.version_tables_restore(version=v2, user=user, tables=[])
    viewer = user_make("vic")
    Membership.objects.create(user=viewer, team=project.team, role=Membership.Role.VIEWER)
    with pytest.raises(services.NotAllowed):
        services.version_tables_restore(version=v2, user=viewer, tables=["contacts"])
    services.version_tables_restore(version=v2, user=user, tables=["contacts"])
    with pytest.raises(services.ProjectBusy):
        services.version_tables_restore(version=v2, user=user, tables=["contacts"])
    assert Job.objects.get(kind=Job.Kind.TABLE_RESTORE).result["request"] == {
        "tables": ["public.contacts"],
        "include_dependencies": False,
    }
    jobs_run_queued()


def test_cli_restores_tables_and_prints_rows(user, project):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    args = ["restore-tables", "--project", str(project.pk), "--user", user.username]
    call_command("versions", *args, "--version", "2", "--table", "contacts", stdout=out)
    assert "Restored 1 table(s) from v2" in out.getvalue()
    assert "public.contacts" in out.getvalue()
    uri = services.project_connection_uri(project=project)
    assert run_sql(uri, "SELECT count(*) FROM notes") == [(2,)]
    with pytest.raises(CommandError, match="v2 has no table orders"):
        call_command("versions", *args, "--version", "2", "--table", "orders")


def test_api_restore_tables(user, project):
    from tests.api_helpers import Api, token_for

    api = Api(token_for(user))
    url = f"projects/{project.pk}/versions/2/restore-tables"
    assert api.post(url, {"tables": "contacts"}).status_code == 400
    assert api.post(url, {"tables": ["orders"]}).json()["code"] == "invalid"
    accepted = api.post(url, {"tables": ["contacts"]})
    assert accepted.status_code == 202
    assert api.post(url, {"tables": ["contacts"]}).status_code == 409  # busy
    jobs_run_queued()
    job = api.get(accepted["Location"]).json()
    assert job["state"] == "succeeded", job
    uri = services.project_connection_uri(project=project)
    assert run_sql(uri, "SELECT count(*) FROM notes") == [(2,)]


def test_a_foreign_key_from_live_refuses_before_anything_is_kept(user, project):
    v2 = project.versions.get(number=2)
    uri = services.project_connection_uri(project=project)
    run_sql(uri, "CREATE TABLE calls (id int PRIMARY KEY, contact_id uuid REFERENCES contacts)")
    before = _tables(uri)
    services.version_tables_restore(version=v2, user=user, tables=["contacts"])
    job = jobs_run_queued()[0]
    assert job.state == Job.State.FAILED
    assert "cannot be restored alone: calls in the live database references contacts" in job.error
    assert job.result["error_code"] == "tables_refused"  # the same code on every door
    assert JOB_ERROR_STATUS["tables_refused"] == 409  # the API: a refusal, not a 502
    assert _tables(uri) == before
    assert not Version.objects.filter(automatic=True).exists()
    assert [s["name"] for s in job.steps][-2:] == ["checking foreign keys", "cleaning up"]
