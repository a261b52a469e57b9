"""The team page's Neon card and the adopt page, driven as a person would (Django's
client, real HTTP to the emulator behind): a bad key's message in the form, an account
with its snapshot limit, adopting a project and importing its snapshot, a project on a
removed key that explains itself, and no page, API answer or log that shows a key."""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from checkpoints.engines.neon import account
from checkpoints.engines.operations import wait_for_operations
from checkpoints.models import AgentProject, EngineConnection, Job
from checkpoints.signals import team_personal_for
from tests.api_helpers import Api, token_for
from tests.neon.conftest import KEY_A, neon_engine, raw_project
from tests.web_fixtures import jobs_run_queued, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada():
    return user_make("ada-pages")


@pytest.fixture
def client(ada) -> Client:
    client = Client()
    client.force_login(ada)
    return client


def test_the_neon_card_adopt_import_and_remove_without_showing_a_key(
    ada, client, emulator, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    team = team_personal_for(user=ada)
    add_url = reverse("neon-account-add", args=[team.pk])
    answers = []

    bad = client.post(
        add_url, {"name": "Ours", "api_key": "napi_bad_key_0000", "api_url": emulator.url}
    )
    assert bad.status_code == 400
    assert escape(account.KEY_REFUSED) in bad.content.decode()
    assert (
        'value="Ours"' in bad.content.decode() and "napi_bad_key_0000" not in bad.content.decode()
    )

    form = {"name": "Ours", "api_key": KEY_A, "api_url": emulator.url, "snapshot_limit": "10"}
    added = client.post(add_url, form, follow=True)
    answers.append(added.content.decode())
    assert "Neon account “Ours” added" in answers[-1]
    assert "10 manual snapshots per project (the owner&#x27;s setting)" in answers[-1]
    connection = EngineConnection.objects.get(team=team, kind=EngineConnection.Kind.NEON)

    created = raw_project(emulator, KEY_A, "console-app")
    with neon_engine(emulator, KEY_A) as engine:
        pid, root = created.project.id, created.branch.id
        made = engine.snapshot_create(pid, root, name="from the console")
        wait_for_operations(engine, pid, made.operations)
    adopt_url = reverse("neon-adopt", args=[team.pk, connection.pk])
    page = client.get(adopt_url)
    answers.append(page.content.decode())
    assert f'value="{pid}/{root}"' in answers[-1]
    assert "never deletes what it did not create" in answers[-1]
    adopted = client.post(adopt_url, {"pick": f"{pid}/{root}", "name": "Console app"})
    assert adopted.status_code == 302
    jobs_run_queued()
    project = AgentProject.objects.get(engine_project_id=pid)
    assert project.jobs.first().state == Job.State.SUCCEEDED, project.jobs.first().error
    detail = client.get(reverse("project-detail", args=[project.pk]))
    answers.append(detail.content.decode())
    assert "Adopted from Neon" in answers[-1] and "from the console" in answers[-1]
    imported = client.post(
        reverse("neon-snapshot-import", args=[project.pk, made.snapshot.id]), follow=True
    )
    answers.append(imported.content.decode())
    assert "Snapshot “from the console” is now v1." in answers[-1]

    api = Api(token_for(ada))
    answers.append(str(api.get(f"/api/v1/projects/{project.pk}").json()))
    answers.append(str(api.get("/api/v1/projects").json()))

    removed = client.post(
        reverse("neon-account-remove", args=[team.pk, connection.pk]), follow=True
    )
    answers.append(removed.content.decode())
    assert "nothing was deleted in Neon" in answers[-1]
    detail = client.get(reverse("project-detail", args=[project.pk]))
    answers.append(detail.content.decode())
    assert detail.status_code == 200
    assert "whose API key was removed from the team" in answers[-1]
    answers.append(client.get(reverse("team-detail", args=[team.pk])).content.decode())
    blob = "\n".join([*answers, caplog.text, *(repr(r.args) for r in caplog.records)])
    assert caplog.records and KEY_A not in blob


def test_a_viewer_sees_no_forms_and_may_not_add(emulator) -> None:
    owner, viewer = user_make("owner-neon-pages"), user_make("viewer-neon-pages")
    team = team_personal_for(user=owner)
    team.memberships.create(user=viewer, role="viewer")
    client = Client()
    client.force_login(viewer)
    page = client.get(reverse("team-detail", args=[team.pk])).content.decode()
    assert "Neon accounts" in page and 'id="neon-account-add"' not in page
    refused = client.post(
        reverse("neon-account-add", args=[team.pk]), {"api_key": KEY_A, "api_url": emulator.url}
    )
    assert refused.status_code == 403
    assert not team.connections.exists()
