"""Removing a member rotates the passwords of the team's projects and ends their sessions:
a connection string the removed member saved stops working (issue 27)."""

from __future__ import annotations

import psycopg
import pytest
from django.test import Client
from django.urls import reverse

from checkpoints import services
from checkpoints.models import Activity, Invitation, Preview, Team
from checkpoints.services import teams
from tests.web_fixtures import HX, engine_project_drop, jobs_run_queued, project_demo, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob():
    return user_make("bob")


@pytest.fixture
def bobs_project(bob):
    project = project_demo(bob, versions=1)
    yield project
    engine_project_drop(project)


def _join(team: Team, by, who: str) -> None:
    teams.member_invite(team=team, by=by, who=who, role="operator")
    invitation = Invitation.objects.get(team=team, user__username=who)
    teams.invitation_accept(invitation=invitation, user=invitation.user)


def _opens(uri: str) -> bool:
    try:
        with psycopg.connect(uri, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def test_removing_a_member_rotates_the_team_passwords_and_ends_sessions(bob, bobs_project):
    ada = user_make("ada")
    team = bobs_project.team
    _join(team, bob, "ada")
    saved = services.project_connection_uri(project=bobs_project)  # Ada copies it
    services.preview_open(
        project=bobs_project, version=bobs_project.versions.get(number=1), user=ada
    )
    jobs_run_queued()
    saved_preview = Preview.objects.get(project=bobs_project).connection_uri  # and this one
    assert _opens(saved_preview)
    session = psycopg.connect(saved, autocommit=True)
    session.execute("SELECT 1")
    client = Client()
    client.force_login(bob)
    membership = team.memberships.get(user=ada)
    response = client.post(reverse("member-remove", args=[team.pk, membership.pk]), headers=HX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "ada left the team." in page
    assert "passwords of the team’s 1 project were rotated" in page
    assert not _opens(saved)
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")  # her open session was ended
    session.close()
    bobs_project.refresh_from_db()
    fresh = services.project_connection_uri(project=bobs_project)
    assert fresh != saved and _opens(fresh)
    assert not _opens(saved_preview)  # the preview's own role got a new password too
    fresh_preview = Preview.objects.get(project=bobs_project).connection_uri
    assert fresh_preview != saved_preview and _opens(fresh_preview)
    rotation = Activity.objects.get(project=bobs_project, kind=Activity.Kind.ROTATE)
    assert rotation.actor == bob and "ada left team" in rotation.detail


def test_leaving_a_team_rotates_too_and_the_team_page_warns_before(bob, bobs_project):
    ada = user_make("ada")
    team = bobs_project.team
    _join(team, bob, "ada")
    saved = services.project_connection_uri(project=bobs_project)
    client = Client()
    client.force_login(ada)
    page = client.get(reverse("team-detail", args=[team.pk])).content.decode()
    assert "rotates the passwords of this team’s projects" in page
    membership = team.memberships.get(user=ada)
    response = client.post(reverse("member-remove", args=[team.pk, membership.pk]))
    assert response.status_code == 302
    assert not _opens(saved)
    bobs_project.refresh_from_db()
    assert _opens(services.project_connection_uri(project=bobs_project))
