"""What a project of 20 versions holds before and after cleanup (printed, and saved to
test-artifacts/cleanup-20-versions.txt).

The project: the demo's v0..v3, then 16 versions that each add 2,000 contacts; three
rollbacks that keep their `(old)` branch for cleanup; an expired preview; a branch a failed
job left behind; the restore window set to the last 5 versions.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from checkpoints import services
from checkpoints.models import AgentProject, Preview
from checkpoints.services import lifecycle
from tests.web_fixtures import engine_project_drop, jobs_run_queued, project_demo, user_make

pytestmark = pytest.mark.django_db

ADD_ROWS = (
    "INSERT INTO contacts (name, email) SELECT 'Person ' || g || '-{n}', "
    "'p' || g || '-{n}@example.com' FROM generate_series(1, 2000) g"
)


def test_twenty_versions_before_and_after_cleanup(settings, artifacts_dir, capsys):
    settings.CHECKPOINTS_ROLLBACK_KEEP_OLD_BRANCH = True
    user = user_make("report")
    project = project_demo(user, versions=3)
    try:
        for n in range(4, 20):
            services.version_create(
                project=project,
                user=user,
                prompt=f"Add 2,000 contacts ({n})",
                sql=ADD_ROWS.format(n=n),
            )
            jobs_run_queued()
            project.refresh_from_db()
            if n in (8, 12, 16):  # roll back one step, then carry on from there
                services.version_rollback(
                    project=project, version=project.versions.get(number=n - 1), user=user
                )
                jobs_run_queued()
                project.refresh_from_db()
        assert project.versions.filter(deleted_at__isnull=True).count() == 20
        services.preview_open(project=project, version=project.versions.get(number=3), user=user)
        jobs_run_queued()
        Preview.objects.filter(project=project).update(expires_at=timezone.now() - timedelta(1))
        engine = services.engine_for(project=project)
        engine.snapshot_restore(
            project.engine_project_id,
            project.versions.get(number=2).snapshot_id,
            target_branch_id=project.active_branch_id,
            name="left by a failed job",
        )
        lifecycle.restore_window_set(
            project=project, user=user, window=AgentProject.RestoreWindow.VERSIONS, count=5
        )
        project.refresh_from_db()

        # Fresh from the engine: the leftover above was made behind the jobs' back.
        before = lifecycle.project_holdings(project=project, engine=engine)
        call_command("cleanup", "--project", str(project.pk))
        after = lifecycle.project_holdings(project=project)
        out = capsys.readouterr().out

        def line(plan, when):
            return (
                f"{when}: {len(plan.branches)} branches ({plan.branches_size / 2**20:.1f} MB), "
                f"{len(plan.snapshots)} snapshots ({plan.snapshots_size / 2**20:.1f} MB)"
            )

        report = "\n".join([line(before, "before"), line(after, "after"), "", out])
        (artifacts_dir / "cleanup-20-versions.txt").write_text(report)
        with capsys.disabled():
            print("\n" + report)
        assert len(after.branches) == 1 and after.branches[0].id == project.active_branch_id
        assert len(after.snapshots) == 5 and after.removals == []
        assert len(before.branches) == 6  # active, 3 orphans, expired preview, leftover
        assert len(before.snapshots) == 20
    finally:
        engine_project_drop(project)
