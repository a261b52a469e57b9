"""Version lifecycle against the real local engine: rename, delete, restore window, cleanup."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from checkpoints import services
from checkpoints.models import Activity, AgentProject, Job, Preview, Version
from checkpoints.services import lifecycle
from contacts.db import connect
from tests.web_fixtures import jobs_run_queued

pytestmark = pytest.mark.django_db
Window = AgentProject.RestoreWindow


def engine_of(project):
    return services.engine_for(project=project)


def snapshot_names(project) -> dict[str, str]:
    return {s.id: s.name for s in engine_of(project).snapshot_list(project.engine_project_id)}


def branch_names(project) -> set[str]:
    return {b.name for b in engine_of(project).branch_list(project.engine_project_id)}


def test_rename_round_trips_to_the_engine(user, project):
    v2 = project.versions.get(number=2)
    services.version_rename(version=v2, user=user, name="  Role and company  ")
    v2.refresh_from_db()
    assert v2.name == "Role and company"
    assert snapshot_names(project)[v2.snapshot_id] == "Role and company"
    with pytest.raises(services.ServiceError, match="Give a name"):
        services.version_rename(version=v2, user=user, name=" ")


def test_delete_keeps_history_and_blocks_rollback_and_preview(user, project):
    v2 = project.versions.get(number=2)
    job = services.version_delete(version=v2, user=user)
    jobs_run_queued()
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
    v2.refresh_from_db()
    assert v2.deleted_at is not None and v2.deleted_by == user
    assert Version.objects.filter(pk=v2.pk).exists()  # the audit trail stays whole
    assert v2.snapshot_id not in snapshot_names(project)
    for action in (services.version_rollback, services.preview_open):
        with pytest.raises(services.ServiceError) as refused:
            action(project=project, version=v2, user=user)
        assert refused.value.message == services.VERSION_DELETED
    assert Activity.objects.filter(kind=Activity.Kind.DELETE, to_version=v2).exists()


def test_restore_window_last_n_expires_older_versions_but_never_the_current(user, project):
    v3 = project.versions.get(number=3)
    assert set(project.versions.values_list("expires_at", flat=True)) == {None}
    changed = lifecycle.restore_window_set(
        project=project, user=user, window=Window.VERSIONS, count=2
    )
    assert changed == 2
    expired = project.versions.filter(expires_at__lte=timezone.now())
    assert sorted(expired.values_list("number", flat=True)) == [0, 1]
    # A new version pushes v2 out; the current version is never given an expiry here.
    project.refresh_from_db()
    job = services.version_create(project=project, user=user, prompt="Add notes", sql="")
    jobs_run_queued()
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.error
    assert project.versions.get(number=2).expires_at is not None
    v3.refresh_from_db()
    assert v3.expires_at is None
    # Back to forever: every live version but the current one is kept again.
    lifecycle.restore_window_set(project=project, user=user, window=Window.FOREVER, count=None)
    assert set(project.versions.values_list("expires_at", flat=True)) == {None}
    with pytest.raises(services.ServiceError, match="from 1 to 3650"):
        lifecycle.restore_window_set(project=project, user=user, window=Window.DAYS, count=0)


def test_days_window_sets_the_engine_expiry_of_new_versions(user, project):
    lifecycle.restore_window_set(project=project, user=user, window=Window.DAYS, count=7)
    project.refresh_from_db()
    v2 = project.versions.get(number=2)
    assert v2.expires_at == v2.created_at + timedelta(days=7)
    services.version_create(project=project, user=user, prompt="Add notes", sql="")
    jobs_run_queued()
    v4 = project.versions.get(number=4)
    assert v4.expires_at is not None
    assert timedelta(days=7) - (v4.expires_at - timezone.now()) < timedelta(minutes=1)
    snap = {s.id: s for s in engine_of(project).snapshot_list(project.engine_project_id)}
    assert snap[v4.snapshot_id].expires_at == v4.expires_at


def test_expiry_and_window_drive_cleanup_which_keeps_active_branch_and_in_window(user, project):
    project.versions.filter(number__in=[0, 1]).update(
        created_at=timezone.now() - timedelta(days=10)
    )
    project.versions.filter(number=3).update(created_at=timezone.now() - timedelta(days=30))
    lifecycle.restore_window_set(project=project, user=user, window=Window.DAYS, count=7)
    project.refresh_from_db()
    plan = lifecycle.project_cleanup(project=project, user=user, dry_run=True)
    removed = {(r.kind, r.name) for r in plan.removals}
    # v3 is current (kept though 30 days old); v2 is inside the window.
    assert removed == {("snapshot", "v0"), ("snapshot", "v1")}
    active = [b for b in plan.branches if b.role == "active"]
    assert len(active) == 1 and active[0].id == project.active_branch_id
    assert project.versions.filter(deleted_at__isnull=True).count() == 4  # dry run: nothing

    plan = lifecycle.project_cleanup(project=project, user=user, dry_run=False)
    assert all(r.done for r in plan.removals)
    gone = project.versions.filter(deleted_at__isnull=False)
    assert sorted(gone.values_list("number", flat=True)) == [0, 1]
    assert {v.deleted_reason[:8] for v in gone} == {"cleanup:"}
    names = set(snapshot_names(project).values())
    assert names == {"v2", "v3"}
    logged = Activity.objects.filter(kind=Activity.Kind.CLEANUP, detail__startswith="Removed")
    assert logged.count() == 2
    job = project.jobs.filter(kind=Job.Kind.CLEANUP).get()
    assert job.state == Job.State.SUCCEEDED and job.result["cleanup"]["removals"]
    # Nothing left to do; the active branch still serves v3.
    assert lifecycle.project_cleanup(project=project, user=user, dry_run=True).removals == []
    assert project.versions.get(number=3).deleted_at is None


def test_cleanup_removes_orphans_previews_and_leftovers_but_not_a_live_preview(
    user, project, settings
):
    settings.CHECKPOINTS_ROLLBACK_KEEP_OLD_BRANCH = True
    v1, v2 = project.versions.get(number=1), project.versions.get(number=2)
    services.version_rollback(project=project, version=v1, user=user)
    jobs_run_queued()
    project.refresh_from_db()
    assert project.current_version == v1
    assert "main (old)" in branch_names(project)
    # Two previews: one live, one expired.
    for version in (v1, v2):
        services.preview_open(project=project, version=version, user=user)
        jobs_run_queued()
    expired = Preview.objects.get(version=v2)
    Preview.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(1))
    live = Preview.objects.get(version=v1)
    # A branch a failed job left behind (restored, never recorded) and a stray snapshot.
    engine = engine_of(project)
    stray = engine.snapshot_restore(
        project.engine_project_id,
        v2.snapshot_id,
        target_branch_id=project.active_branch_id,
        name="half-made preview",
    )
    engine.snapshot_create(project.engine_project_id, project.active_branch_id, name="stray")

    plan = lifecycle.project_cleanup(project=project, user=user, dry_run=True)
    reasons = {r.name: r.reason for r in plan.removals}
    assert set(reasons) == {"main (old)", "half-made preview", expired.branch_id, "stray"} or (
        {"main (old)", "half-made preview", "stray"} <= set(reasons)
    )
    assert "verified rollback to v1" in reasons["main (old)"]
    assert "failed job" in reasons["half-made preview"]
    assert live.branch_id not in {r.id for r in plan.removals}

    lifecycle.project_cleanup(project=project, user=user, dry_run=False)
    left = {b.id for b in engine.branch_list(project.engine_project_id)}
    assert left == {project.active_branch_id, live.branch_id}
    assert stray.branch.id not in left
    assert "stray" not in snapshot_names(project).values()
    expired.refresh_from_db()
    live.refresh_from_db()
    assert expired.discarded_at is not None and live.discarded_at is None
    assert project.versions.filter(deleted_at__isnull=False).count() == 0


def test_cleanup_refuses_while_a_job_runs_and_the_command_prints_the_plan(user, project, capsys):
    busy = Job.objects.create(project=project, kind=Job.Kind.CREATE_VERSION, state="running")
    busy.heartbeat_at = timezone.now()
    busy.save()
    with pytest.raises(services.ProjectBusy):
        lifecycle.project_cleanup(project=project, user=user, dry_run=False)
    Job.objects.filter(pk=busy.pk).update(state=Job.State.FAILED)
    call_command("cleanup", "--project", str(project.pk), "--dry-run")
    out = capsys.readouterr().out
    assert f"project {project.pk}" in out and "nothing to remove" in out
    assert "main" in out  # the holdings table lists the active branch


def test_manifests_and_diffs_from_v0_to_v3_and_for_a_rollback(user, project):
    v0, v1, v2, v3 = (project.versions.get(number=n) for n in range(4))
    contacts = v1.manifest["tables"]["public.contacts"]
    assert contacts["rows"] == 3 and contacts["checksum_kind"] == "rows"
    assert [name for name, _ in contacts["columns"]] == ["id", "name", "email"]
    assert v0.manifest["tables"] == {}

    d01 = lifecycle.version_diff(old=v0, new=v1)
    assert d01.changes["tables_added"] == ["contacts"]
    assert d01.summary == "adds table contacts (3 rows)"
    d12 = lifecycle.version_diff(old=v1, new=v2)
    assert d12.changes["tables"] == {"contacts": {"columns_added": ["role", "company"]}}
    d23 = lifecycle.version_diff(old=v2, new=v3)
    assert d23.changes["tables"]["contacts"]["columns_added"] == ["tags"]
    assert d23.summary == "adds column tags"
    assert lifecycle.version_diff(old=v3, new=v1).summary == "drops columns role, company, tags"
    assert lifecycle.version_diff(old=v3, new=v3).changes["empty"]

    # The live database has one more contact than v3: rolling back to v1 drops it too.
    uri = services.project_connection_uri(project=project)
    with connect(uri) as conn:
        conn.execute(
            "INSERT INTO contacts (name, email, role) VALUES ('Katherine', 'kj@example.com', 'x')"
        )
    diff = lifecycle.rollback_diff(project=project, version=v1)
    assert diff.summary == "drops columns role, company, tags and 1 contact"
    # An edit that keeps the count is seen by the checksum.
    with connect(uri) as conn:
        conn.execute("UPDATE contacts SET name = 'Ada King' WHERE name = 'Ada Lovelace'")
        conn.execute("DELETE FROM contacts WHERE email = 'kj@example.com'")
    assert lifecycle.rollback_diff(project=project, version=v3).summary == (
        "changes rows of contacts"
    )
    # After the rollback the live database matches v1's manifest exactly.
    services.version_rollback(project=project, version=v1, user=user)
    jobs_run_queued()
    assert lifecycle.rollback_diff(project=project, version=v1).changes["empty"]
