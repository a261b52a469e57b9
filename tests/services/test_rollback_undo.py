"""Nothing is lost by a rollback (the live state is kept as an automatic version first)
and a rollback can be undone: services and jobs against the real local engine."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from checkpoints import services
from checkpoints.lifecycle import manifest as manifests
from checkpoints.models import Activity, AgentProject, Job
from checkpoints.services import lifecycle
from contacts import repository
from tests.web_fixtures import engine_project_drop, jobs_run_queued, project_demo

pytestmark = pytest.mark.django_db

KJ = {"name": "Katherine Johnson", "email": "kj@example.com", "tags": ["nasa"]}


def _run() -> Job:
    job = jobs_run_queued()[0]
    assert job.state == Job.State.SUCCEEDED, job.error
    return job


def _emails(uri: str) -> set[str]:
    return {c.email for c in repository.contacts_list(uri)[1]}


def _rollback(project: AgentProject, user, number: int) -> Job:
    services.version_rollback(
        project=project, version=project.versions.get(number=number), user=user
    )
    job = _run()
    project.refresh_from_db()
    return job


def test_nothing_kept_when_the_live_database_matches_its_version(user, project):
    job = _rollback(project, user, 1)
    assert not project.versions.filter(automatic=True).exists()
    keep = next(s for s in job.steps if s["name"] == "keeping the live state")
    assert "matches v3" in keep["detail"]
    # Undo goes back to v3 itself: it holds what the rollback replaced.
    assert services.undo_version(project=project).number == 3
    services.rollback_undo(project=project, user=user)
    _run()
    project.refresh_from_db()
    assert project.current_version.number == 3
    assert not project.versions.filter(automatic=True).exists()


def test_live_state_kept_then_undone_then_undone_again(user, project):
    uri = services.project_connection_uri(project=project)
    repository.contact_create(uri, schema=repository.schema_read(uri), data=KJ)
    v3 = project.current_version
    _rollback(project, user, 1)
    kept = project.versions.get(automatic=True)
    assert (kept.number, kept.name, kept.parent) == (4, "Before rollback to v1", v3)
    assert kept.manifest["exact"] is True
    assert kept.manifest["tables"]["public.contacts"]["rows"] == (
        v3.manifest["tables"]["public.contacts"]["rows"] + 1
    )
    assert project.current_version.number == 1
    assert "kj@example.com" not in _emails(uri) and repository.schema_read(uri).variant == 1

    assert services.undo_version(project=project) == kept
    services.rollback_undo(project=project, user=user)
    job = _run()
    project.refresh_from_db()
    assert project.current_version == kept
    assert services.project_connection_uri(project=project) == uri
    assert "kj@example.com" in _emails(uri) and repository.schema_read(uri).variant == 3
    assert Activity.objects.filter(kind=Activity.Kind.UNDO, to_version=kept).exists()
    assert job.result["undo_version_id"] == project.versions.get(number=1).pk  # v1 unchanged

    # Undo of the undo: just another rollback, back to v1.
    services.rollback_undo(project=project, user=user)
    _run()
    project.refresh_from_db()
    assert project.current_version.number == 1
    assert project.versions.filter(automatic=True).count() == 1


def test_changes_after_the_rollback_are_kept_by_the_undo_too(user, project):
    uri = services.project_connection_uri(project=project)
    _rollback(project, user, 1)
    repository.contact_create(uri, schema=repository.schema_read(uri), data=KJ)
    services.rollback_undo(project=project, user=user)
    job = _run()
    project.refresh_from_db()
    kept = project.versions.get(automatic=True)
    assert kept.name == "Before undo (back to v3)" and kept.parent.number == 1
    assert job.result["undo_version_id"] == kept.pk


def test_nothing_to_undo_once_a_version_was_saved(user):
    project = project_demo(user, versions=1)
    try:
        with pytest.raises(services.ServiceError, match="no rollback to undo"):
            services.rollback_undo(project=project, user=user)
        _rollback(project, user, 0)
        services.version_create_next(project=project, user=user)
        _run()
        project.refresh_from_db()
        with pytest.raises(services.ServiceError, match="no rollback to undo"):
            services.rollback_undo(project=project, user=user)
    finally:
        engine_project_drop(project)


def test_the_demo_script_ignores_automatic_versions(user):
    project = project_demo(user, versions=1)
    try:
        uri = services.project_connection_uri(project=project)
        repository.contact_create(uri, schema=repository.schema_read(uri), data=KJ)
        _rollback(project, user, 0)
        assert project.versions.get(automatic=True).number == 2
        assert services.version_next_number(project=project) == 2  # step 2 of the script
        services.version_create_next(project=project, user=user)
        _run()
        project.refresh_from_db()
        assert project.current_version.number == 3 and not project.current_version.automatic
        assert repository.schema_read(uri).variant == 2
    finally:
        engine_project_drop(project)


def test_undo_after_cleanup_inside_the_window(user, project):
    project.restore_window = AgentProject.RestoreWindow.DAYS
    project.restore_window_count = 7
    project.save()
    uri = services.project_connection_uri(project=project)
    repository.contact_create(uri, schema=repository.schema_read(uri), data=KJ)
    _rollback(project, user, 1)
    kept = project.versions.get(automatic=True)
    assert kept.expires_at and kept.expires_at > timezone.now() + timedelta(days=6)
    lifecycle.project_cleanup(project=project, user=user, dry_run=False)
    kept.refresh_from_db()
    assert kept.deleted_at is None
    engine = services.engine_for(project=project)
    assert kept.snapshot_id in {s.id for s in engine.snapshot_list(project.engine_project_id)}
    services.rollback_undo(project=project, user=user)
    _run()
    project.refresh_from_db()
    assert project.current_version == kept and "kj@example.com" in _emails(uri)


def test_an_expired_automatic_version_is_cleaned_up_like_any_other(user, project):
    project.restore_window = AgentProject.RestoreWindow.DAYS
    project.restore_window_count = 7
    project.save()
    uri = services.project_connection_uri(project=project)
    repository.contact_create(uri, schema=repository.schema_read(uri), data=KJ)
    _rollback(project, user, 1)
    kept = project.versions.get(automatic=True)
    kept.created_at = timezone.now() - timedelta(days=8)  # out of the window
    kept.expires_at = timezone.now() - timedelta(days=1)
    kept.save()
    lifecycle.project_cleanup(project=project, user=user, dry_run=False)
    kept.refresh_from_db()
    assert kept.deleted_at is not None
    with pytest.raises(services.ServiceError):
        services.rollback_undo(project=project, user=user)
    live = manifests.manifest_of_uri(uri)
    assert live is not None and manifests.manifests_equal(live, project.current_version.manifest)
