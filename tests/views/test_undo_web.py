"""Undo rollback in the page: the banner's button, its confirmation (what it changes,
read from the live database), the automatic version shown apart."""

from __future__ import annotations

import re

import pytest

from checkpoints import services
from checkpoints.models import Job
from contacts import repository
from tests.web_fixtures import (
    HX,
    jobs_run_queued,
    url,
)

pytestmark = pytest.mark.django_db


def test_rollback_then_undo_in_the_page(client_ada, project):
    uri = services.project_connection_uri(project=project)
    repository.contact_create(
        uri, schema=repository.schema_read(uri), data={"name": "Mary Jackson", "email": "mj@x.org"}
    )
    confirm = client_ada.get(url("version-rollback", project.pk, 1), headers=HX).content.decode()
    assert "1 contact" in confirm and "automatic version" in confirm
    client_ada.post(url("version-rollback", project.pk, 1))
    jobs_run_queued()
    page = client_ada.get(url("project-detail", project.pk)).content.decode()
    assert "Rolled back from v3 to v1." in page
    assert "kept as" in page and 'class="badge badge-automatic"' in page
    assert re.search(r'class="version-row[^"]*is-automatic[^"]*" data-version="v4"', page)
    assert 'class="chip chip-automatic"' in page
    assert url("rollback-undo", project.pk) in page and "Undo rollback" in page

    undo = client_ada.get(url("rollback-undo", project.pk), headers=HX).content.decode()
    assert "Undo the rollback?" in undo
    # Compared with the live database (v1 now): the undo adds the tags column and the contact.
    assert "Undoing the rollback" in undo and "tags" in undo and "1 contact" in undo
    client_ada.post(url("rollback-undo", project.pk))
    jobs_run_queued()
    project.refresh_from_db()
    assert project.current_version.number == 4
    page = client_ada.get(url("project-detail", project.pk)).content.decode()
    assert "Rollback undone (v1 → v4)." in page
    # An undo can be undone too.
    assert url("rollback-undo", project.pk) in page
    assert "mj@x.org" in {c.email for c in repository.contacts_list(uri)[1]}


def test_no_undo_button_without_a_rollback(client_ada, project):
    page = client_ada.get(url("project-detail", project.pk)).content.decode()
    assert "Undo rollback" not in page
    refused = client_ada.post(url("rollback-undo", project.pk), headers=HX)
    assert refused.status_code == 409 and "no rollback to undo" in refused.content.decode()
    assert not Job.objects.filter(kind=Job.Kind.ROLLBACK).exists()
