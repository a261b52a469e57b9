"""The Restore tables… flow with the Django client: pick, confirm (what changes per table,
compared with the live database), then the job and its result banner."""

from __future__ import annotations

import re

import pytest

from checkpoints import services
from checkpoints.engines.connect import run_sql
from checkpoints.models import Job, Membership
from contacts import repository
from tests.web_fixtures import (
    HX,
    engine_project_drop,
    jobs_run_queued,
    project_with_notes,
    url,
    user_make,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(user):
    project = project_with_notes(user, ("kept",))
    yield project
    engine_project_drop(project)


def test_pick_confirm_restore(client, user, project):
    client.force_login(user)
    page = client.get(url("project-detail", project.pk)).content.decode()
    assert 'aria-label="Restore tables from v2"' in page
    action = url("version-tables-restore", project.pk, 2)
    picker = client.get(action, headers=HX).content.decode()
    assert 'role="dialog"' in picker and 'value="public.contacts"' in picker
    assert "<html" not in picker
    empty = client.get(action, {"step": "confirm"}, headers=HX).content.decode()
    assert "Choose at least one table" in empty
    confirm = client.get(
        action, {"step": "confirm", "table": "public.contacts"}, headers=HX
    ).content.decode()
    assert 'role="alertdialog"' in confirm and "Restore 1 table from v2?" in confirm
    # From the manifests: v3 added tags, and a contact was added since.
    assert re.search(r"<code>contacts</code> drops column tags and 1 contact", confirm), confirm
    assert not Job.objects.filter(kind=Job.Kind.TABLE_RESTORE).exists()
    client.post(action, {"table": "public.contacts"}, headers=HX)
    job = jobs_run_queued()[0]
    assert job.state == Job.State.SUCCEEDED, job.error
    page = client.get(url("project-detail", project.pk)).content.decode()
    assert "Restored contacts (" in page and "Every other table is untouched." in page
    uri = services.project_connection_uri(project=project)
    assert run_sql(uri, "SELECT body FROM notes") == [("kept",)]
    assert repository.schema_read(uri).variant == 2


def test_a_viewer_sees_no_button_and_is_refused(client, project):
    viewer = user_make("vic")
    Membership.objects.create(user=viewer, team=project.team, role=Membership.Role.VIEWER)
    client.force_login(viewer)
    page = client.get(url("project-detail", project.pk)).content.decode()
    assert "Restore tables…" not in page
    action = url("version-tables-restore", project.pk, 2)
    assert client.get(action, headers=HX).status_code == 403
    assert client.post(action, {"table": "public.contacts"}, headers=HX).status_code == 403
    assert not Job.objects.filter(kind=Job.Kind.TABLE_RESTORE).exists()
