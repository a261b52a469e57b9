"""Lifecycle pages and htmx fragments with the Django client, on the real local engine."""

from __future__ import annotations

import json
import time

import pytest

from checkpoints import services
from checkpoints.engines.connect import connect
from checkpoints.models import Job
from checkpoints.views.lifecycle import rollback_note
from tests.web_fixtures import (
    HX,
    jobs_run_queued,
    url,
)

pytestmark = pytest.mark.django_db


def test_inline_rename_then_delete_keeps_history_and_refuses_rollback(client_ada, user, project):
    # Rename v2 inline: the name swaps for a form, then back with the new name.
    form = client_ada.get(url("version-rename", project.pk, 2), headers=HX).content.decode()
    assert form.lstrip().startswith('<form id="version-name-2"') and 'name="name"' in form
    bad = client_ada.post(url("version-rename", project.pk, 2), {"name": " "}, headers=HX)
    assert bad.status_code == 422 and services.NAME_REQUIRED in bad.content.decode()
    done = client_ada.post(url("version-rename", project.pk, 2), {"name": "Roles"}, headers=HX)
    assert done.content.decode().lstrip().startswith('<span id="version-name-2"')
    assert "<strong>Roles</strong>" in done.content.decode()
    engine = services.engine_for(project=project)
    v2 = project.versions.get(number=2)
    names = {s.id: s.name for s in engine.snapshot_list(project.engine_project_id)}
    assert names[v2.snapshot_id] == "Roles"

    # Delete v2: a confirmation, then a job; the row stays, marked deleted.
    confirm = client_ada.get(url("version-delete", project.pk, 2), headers=HX).content.decode()
    assert "Delete v2?" in confirm and "stays in the" in confirm
    response = client_ada.post(url("version-delete", project.pk, 2), headers=HX)
    assert "jobStarted" in json.loads(response["HX-Trigger"])
    jobs_run_queued()
    page = client_ada.get(url("project-detail", project.pk)).content.decode()
    assert 'class="version-row is-deleted"' in page
    assert "Deleted " in page and " by ada" in page
    assert 'aria-label="Roll back to v2"' not in page and 'aria-label="Preview v2"' not in page
    assert 'aria-label="Roll back to v1"' in page
    # The server refuses a rollback or a preview of it with a readable message.
    for name in ("version-rollback", "version-preview"):
        refused = client_ada.post(url(name, project.pk, 2), headers=HX)
        assert refused.status_code == 400
        assert services.VERSION_DELETED in refused.content.decode()
    assert not project.jobs.filter(state__in=Job.UNFINISHED).exists()


def test_restore_window_diff_rollback_sentence_and_cleanup_dry_run(client_ada, user, project):
    page = client_ada.get(url("project-detail", project.pk)).content.decode()
    assert "Every version is kept until you delete it." in page
    assert "rolling back drops columns role, company, tags" in page  # next to v1's button
    assert "Save a version as of" not in page  # the local engine has no point in time

    response = client_ada.post(
        url("project-restore-window", project.pk), {"window": "versions", "count": "2"}, headers=HX
    )
    page = response.content.decode()
    assert response.status_code == 200 and "The last 2 versions are kept." in page
    assert page.count("the next cleanup removes it") == 2  # v0 and v1
    assert "kept while it is the current version" in page

    diff = client_ada.get(url("version-diff", project.pk), {"from": 1, "to": 3}, headers=HX)
    text = diff.content.decode()
    assert text.lstrip().startswith('<div id="version-diff"')
    assert "adds columns role, company, tags" in text and "contacts.tags" in text

    confirm = client_ada.get(url("version-rollback", project.pk, 1), headers=HX).content.decode()
    assert "Rolling back to v1 drops columns role, company, tags." in confirm

    holdings = client_ada.get(url("project-holdings", project.pk), headers=HX).content.decode()
    assert 'data-branch="main"' in holdings and "kept: the active branch" in holdings
    assert "4</strong> snapshots" in holdings and "Clean up…" in holdings
    plan = client_ada.get(url("project-cleanup", project.pk), headers=HX).content.decode()
    assert "Cleanup would remove 2 items" in plan and "Clean up now" in plan
    assert "v0 expired" in plan and "v1 expired" in plan
    client_ada.post(url("project-cleanup", project.pk), headers=HX)
    jobs_run_queued()
    job = project.jobs.get(kind=Job.Kind.CLEANUP)
    assert job.state == Job.State.SUCCEEDED, job.error
    plan = client_ada.get(url("project-cleanup", project.pk), headers=HX).content.decode()
    assert "Nothing to clean up." in plan and "2</strong> snapshots" in plan


def test_rollback_sentence_is_empty_without_manifests(user, project):
    v1 = project.versions.get(number=1)
    v1.manifest = None
    v1.save()
    assert rollback_note.rollback_sentence(project, v1) == ""


def test_rollback_confirmation_says_plainly_when_the_live_database_does_not_answer(
    client_ada, project
):
    """A GET that only reads: a locked live database costs a bounded wait, then a plain
    sentence (and the confirmation still works); an unreachable one says so too."""
    uri = services.project_connection_uri(project=project)
    with connect(uri, autocommit=False) as holder:
        holder.execute("lock table contacts in access exclusive mode")
        started = time.monotonic()
        confirm = client_ada.get(url("version-rollback", project.pk, 1), headers=HX)
        waited = time.monotonic() - started
        holder.rollback()
    text = confirm.content.decode()
    assert confirm.status_code == 200 and "Roll back to v1" in text
    assert waited < rollback_note.READ_SECONDS * 3 + 2, waited
    assert (
        f"could not be read from the live database within {rollback_note.READ_SECONDS} s "
        "(it did not answer in time)"
    ) in text
    project.connection_uri = "postgresql://nobody:secret@127.0.0.1:1/nothing"
    project.save(update_fields=["connection_uri"])
    sentence = rollback_note.rollback_sentence(project, project.versions.get(number=1))
    assert sentence.startswith("What rolling back to v1 changes could not be read")
    assert "secret" not in sentence
