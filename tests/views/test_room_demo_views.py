"""Issue 33 with the Django client, on the real local engine: a share link is prepared by
its maker (a visitor never starts a job; a busy project refuses the link), the owner's
result banner and Undo outlive a share's preparation, the holdings card names the live
branch as live even from a listing older than the last rollback, "Move to v3" going
forward, and the demo steps fill what they add."""

from __future__ import annotations

import pytest
from django.test import Client

from checkpoints import services
from checkpoints.models import AgentProject, Job, ShareLink
from checkpoints.services import sharing
from contacts import repository
from tests.web_fixtures import HX, jobs_run_queued, url

pytestmark = pytest.mark.django_db


def _rolled_back_to_v1(project: AgentProject, user) -> str:
    """Roll back to v1; answers the listing stored before it (as if the job's own listing
    had failed afterwards)."""
    project.refresh_from_db()
    before = project.engine_listing
    services.version_rollback(project=project, version=project.versions.get(number=1), user=user)
    jobs_run_queued()
    project.refresh_from_db()
    return before


def test_a_link_is_prepared_by_its_maker_and_a_visitor_starts_nothing(client_ada, project, user):
    _rolled_back_to_v1(project, user)
    made = client_ada.post(url("version-share", project.pk, 3), {"hours": "24"}, headers=HX)
    assert made.status_code == 201
    job = Job.objects.get(project=project, kind=Job.Kind.SHARE_OPEN)
    assert job.created_by == user and job.state == Job.State.QUEUED

    # While it runs, a second action (another link) is refused: no link, no job.
    busy = client_ada.post(url("version-share", project.pk, 2), {"hours": "24"}, headers=HX)
    assert busy.status_code == 422 and "busy" in busy.content.decode()
    assert ShareLink.objects.filter(version__number=2).count() == 0
    jobs_run_queued()

    # The owner's page still shows the rollback, with its Undo (banner and timeline).
    page = client_ada.get(url("project-detail", project.pk)).content.decode()
    assert "Rolled back from v3 to v1." in page and "Undo rollback" in page
    assert "Undo the last rollback" in page and "Open share link" not in page
    # The link's preview belongs to the link, not to the "Open previews" list.
    assert "Open previews" not in page

    # A link whose view is gone is "not available" to visitors: it starts no job.
    share = ShareLink.objects.get()
    share.preview.discarded_at = share.preview.created_at
    share.preview.save()
    share.refresh_from_db()
    jobs = Job.objects.count()
    assert sharing.share_view(share=share).state == "failed"
    assert Job.objects.count() == jobs


def test_holdings_name_the_live_branch_as_live_from_an_older_listing(client_ada, project, user):
    stale = _rolled_back_to_v1(project, user)
    fresh = client_ada.get(url("project-holdings", project.pk), headers=HX).content.decode()
    assert (
        '<span class="badge badge-live">live</span> kept: the active branch (serves the app)'
        in fresh
    )
    assert "after the last job" in fresh and "orphan" not in fresh

    AgentProject.objects.filter(pk=project.pk).update(engine_listing=stale)
    shown = client_ada.get(url("project-holdings", project.pk), headers=HX).content.decode()
    assert (
        '<span class="badge badge-live">live</span> kept: the active branch (serves the app)'
        in shown
    )
    assert "orphan of the verified rollback" not in shown
    assert "replaced by the last rollback" in shown
    assert "before the last job (Roll back v1): the next job lists again" in shown


def test_going_forward_reads_move_to(client_ada, project, user):
    _rolled_back_to_v1(project, user)
    forward = client_ada.get(url("version-rollback", project.pk, 3), headers=HX).content.decode()
    assert "Move to v3?" in forward and "Changes made after v3" not in forward
    back = client_ada.get(url("version-rollback", project.pk, 0), headers=HX).content.decode()
    assert "Roll back to v0?" in back and "Changes made after v0" in back


def test_each_demo_step_shows_in_the_table(project):
    uri = services.project_connection_uri(project=project)
    schema, contacts = repository.contacts_list(uri)
    assert schema.variant == 3
    by_email = {c.email: c for c in contacts}
    assert by_email["ada@example.com"].role == "Mathematician"
    assert by_email["alan@example.com"].company == "Bletchley Park"
    assert all(c.role and c.company and c.tags for c in contacts), contacts
    assert by_email["grace@example.com"].tags == ["compilers", "navy"]


def test_the_preview_page_is_side_by_side(client_ada, project, user):
    _rolled_back_to_v1(project, user)
    services.preview_open(project=project, version=project.versions.get(number=3), user=user)
    jobs_run_queued()
    preview = project.previews.get()
    page = client_ada.get(url("preview-detail", project.pk, preview.pk)).content.decode()
    assert 'id="pane-live"' in page and 'id="pane-version"' in page
    assert "Live app (v1)" in page and "Preview of v3" in page
    assert page.count('class="only-here"') == 3  # role, company, tags: only in v3
    assert 'id="preview-connection"' in page and "********" in page
    assert preview.connection_uri.split("@")[0].split(":")[-1] not in page  # no password
    assert "Discard preview" in page and "Roll back to this version" in page
    anonymous = Client().get(url("preview-detail", project.pk, preview.pk))
    assert anonymous.status_code == 302
