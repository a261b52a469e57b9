"""The tier policy on the local engine, end to end: older versions go cold after a save,
a rollback and a preview from a cold version are verified against its manifest, Pin
keeps (and brings back) a version hot, and the holdings card and the API show it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from checkpoints import services
from checkpoints.models import Activity, Job, Version
from checkpoints.services import lifecycle
from tests.api_helpers import Api, token_for
from tests.web_fixtures import engine_project_drop, jobs_run_queued, project_demo, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(settings):
    settings.CHECKPOINTS_HOT_VERSIONS = 2
    project = project_demo(user_make("ada"), versions=3)
    yield project
    engine_project_drop(project)


def tiers(project) -> dict[str, str]:
    return {
        v.label: v.tier for v in project.versions.filter(deleted_at__isnull=True).order_by("number")
    }


def test_older_versions_go_cold_after_a_save(project):
    assert tiers(project) == {"v0": "cold", "v1": "cold", "v2": "hot", "v3": "hot"}
    assert project.jobs.filter(kind=Job.Kind.TIER_MOVE, state=Job.State.SUCCEEDED).exists()
    engine = services.engine_for(project=project)
    on_engine = engine.snapshot_tiers(project.engine_project_id)
    for version in project.versions.all():
        tier, size = on_engine[version.snapshot_id]
        assert (version.tier, version.size_bytes) == (tier, size)
    cold = project.versions.get(number=1)
    assert cold.size_bytes < 200_000 < project.versions.get(number=3).size_bytes


def test_rollback_and_preview_from_a_cold_version_are_verified(project):
    user = project.created_by
    v1 = project.versions.get(number=1)
    job = services.version_rollback(project=project, version=v1, user=user)
    jobs_run_queued()
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.error
    assert any("verif" in step["name"] for step in job.steps), job.steps
    project.refresh_from_db()
    assert project.current_version_id == v1.pk

    v0 = project.versions.get(number=0)
    job = services.preview_open(project=project, version=v0, user=user)
    jobs_run_queued()
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.error


def test_a_pinned_version_comes_back_and_stays_hot(project):
    user = project.created_by
    v0 = project.versions.get(number=0)
    services.version_pin(version=v0, user=user)
    jobs_run_queued()
    assert tiers(project)["v0"] == "hot"
    assert Activity.objects.filter(project=project, kind=Activity.Kind.PIN).exists()
    services.version_create(  # v4: v2 goes cold, the pinned v0 does not
        project=project, user=user, prompt="notes", sql="CREATE TABLE notes (id int)"
    )
    jobs_run_queued()
    assert tiers(project) == {"v0": "hot", "v1": "cold", "v2": "cold", "v3": "hot", "v4": "hot"}
    services.version_unpin(version=Version.objects.get(pk=v0.pk), user=user)
    jobs_run_queued()
    assert tiers(project)["v0"] == "cold"
    assert Activity.objects.filter(project=project, kind=Activity.Kind.UNPIN).exists()


def test_holdings_show_tier_size_mode_and_pin(client, project):
    plan = lifecycle.project_holdings(project=project)
    assert plan.storage_mode == "tiered"
    by_version = {h.version: h for h in plan.snapshots}
    assert by_version["v0"].tier == "cold" and by_version["v3"].tier == "hot"
    client.force_login(project.created_by)
    page = client.get(reverse("project-holdings", args=[project.pk]))
    assert b"Storage mode: tiered" in page.content
    assert b'data-tier="cold"' in page.content
    assert page.content.count(b">Pin<") == 4
    answer = client.post(reverse("version-pin", args=[project.pk, 0]), HTTP_HX_REQUEST="true")
    assert answer.status_code == 200 and b">Unpin<" in answer.content


def test_api_pin_and_unpin(project):
    api = Api(token_for(project.created_by))
    base = f"/api/v1/projects/{project.pk}/versions/1"
    pinned = api.post(f"{base}/pin")
    assert pinned.status_code == 200, pinned.content
    assert pinned.json()["pinned"] is True
    jobs_run_queued()
    assert api.get(base).json()["tier"] == "hot"
    unpinned = api.post(f"{base}/unpin")
    assert unpinned.json()["pinned"] is False
