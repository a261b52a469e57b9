"""Warm copies (the local engine's ready copies of recent snapshots) shown with the holdings."""

from __future__ import annotations

import pytest
from django.urls import reverse

from checkpoints import services
from checkpoints.services import lifecycle
from tests.web_fixtures import engine_project_drop, project_demo, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    user = user_make("ada")
    project = project_demo(user, versions=2)
    yield project
    engine_project_drop(project)


def test_holdings_show_the_warm_copies_and_their_storage(client, project):
    engine = services.engine_for(project=project)
    engine.warm_up(project.engine_project_id)  # what the job starts in the background
    plan = lifecycle.project_holdings(project=project)
    assert [item.version for item in plan.warm] == ["v2", "v1"]  # the two most recent
    assert all(item.size > 0 for item in plan.warm)
    assert plan.warm_size == sum(item.size for item in plan.warm)
    assert not any(r.kind == "branch" for r in plan.removals)  # never cleanup candidates

    client.force_login(project.created_by)
    page = client.get(reverse("project-holdings", args=[project.pk]))
    assert page.status_code == 200
    assert b"2</strong> warm copies" in page.content
    assert b'data-warm="v2"' in page.content
    assert b"rolling back to v2 is only a swap" in page.content
