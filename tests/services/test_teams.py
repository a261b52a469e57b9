"""Teams: personal team on first login, the current team, members and roles, the last-owner
rule, activity per person, and database isolation between teams' projects."""

from __future__ import annotations

import re

import psycopg
import pytest
from django.http import HttpRequest
from django.test import Client
from django.urls import reverse

from checkpoints import services
from checkpoints.models import Activity, AgentProject, Invitation, Job, Membership, Team
from checkpoints.services import teams
from tests.web_fixtures import HX, engine_project_drop, project_demo, user_make

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery-staple"


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def personal(user) -> Team:
    return Team.objects.get(personal_for=user)


def join(team: Team, by, who: str, role: str) -> Membership:
    """`by` invites `who`, who accepts: the only way into someone else's team."""
    teams.member_invite(team=team, by=by, who=who, role=role)
    invitation = Invitation.objects.get(team=team, user__username=who)
    return teams.invitation_accept(invitation=invitation, user=invitation.user)


@pytest.fixture
def ada():
    return user_make("ada")


@pytest.fixture
def bob():
    user = user_make("bob")
    user.email = "bob@example.com"
    user.save()
    return user


# Personal team and the current team ---------------------------------------------------


def test_first_login_gets_a_personal_team_idempotently(ada):
    Team.objects.filter(personal_for=ada).delete()  # a user made before teams existed
    client = Client()
    assert client.login(request=HttpRequest(), username="ada", password=PASSWORD)
    team = personal(ada)
    assert Membership.objects.get(team=team, user=ada).role == "owner"
    client.logout()
    assert client.login(request=HttpRequest(), username="ada", password=PASSWORD)
    assert Team.objects.filter(personal_for=ada).count() == 1
    assert Membership.objects.filter(user=ada).count() == 1


def test_home_lists_the_current_team_and_start_demo_creates_there(ada, bob):
    shared = teams.team_create(user=bob, name="Platform")
    join(shared, bob, "ada", "operator")
    mine = AgentProject.objects.create(team=personal(ada), name="Mine", engine_name="local")
    theirs = AgentProject.objects.create(team=shared, name="Shared thing", engine_name="local")
    client = login(ada)
    home = client.get(reverse("home")).content.decode()
    assert "Mine" in home and "Shared thing" not in home
    assert "ada’s team" in home  # the switcher shows the current team
    response = client.post(reverse("team-switch"), {"team": shared.pk})
    assert response.status_code == 302 and response["Location"] == reverse("home")
    home = client.get(reverse("home")).content.decode()
    assert "Shared thing" in home and "Mine" not in home
    # Pages of every team the user belongs to stay reachable, whatever the current team.
    assert client.get(reverse("project-detail", args=[mine.pk])).status_code == 200
    client.post(reverse("project-start-demo"))
    created = AgentProject.objects.exclude(pk__in=[mine.pk, theirs.pk]).get()
    assert created.team == shared
    assert Job.objects.get(project=created).kind == Job.Kind.START_DEMO


def test_switching_to_a_foreign_team_is_404_and_a_viewer_cannot_start_demo(ada, bob):
    client = login(ada)
    assert client.post(reverse("team-switch"), {"team": personal(bob).pk}).status_code == 404
    join(personal(bob), bob, "ada", "viewer")
    client.post(reverse("team-switch"), {"team": personal(bob).pk})
    home = client.get(reverse("home")).content.decode()
    assert "Start demo</button>" not in home and "You are a viewer" in home
    response = client.post(reverse("project-start-demo"))
    assert response.status_code == 403
    assert "only an operator or an owner can create projects" in response.content.decode()
    assert not AgentProject.objects.exists()


def test_a_removed_member_loses_the_team_and_falls_back_to_the_personal_team(ada, bob):
    membership = join(personal(bob), bob, "ada", "operator")
    project = AgentProject.objects.create(team=personal(bob), name="Bobs", engine_name="local")
    client = login(ada)
    client.post(reverse("team-switch"), {"team": personal(bob).pk})
    assert client.get(reverse("project-detail", args=[project.pk])).status_code == 200
    teams.member_remove(membership=membership, by=bob)
    assert client.get(reverse("project-detail", args=[project.pk])).status_code == 404
    assert client.get(reverse("team-detail", args=[personal(bob).pk])).status_code == 404
    assert "ada’s team" in client.get(reverse("home")).content.decode()


def test_new_team_makes_its_creator_owner_and_current(ada):
    client = login(ada)
    assert client.post(reverse("team-list"), {"name": " "}).status_code == 400
    response = client.post(reverse("team-list"), {"name": "Agents"})
    team = Team.objects.get(name="Agents")
    assert response["Location"] == reverse("team-detail", args=[team.pk])
    assert Membership.objects.get(team=team, user=ada).role == "owner"
    assert "Agents" in client.get(reverse("home")).content.decode()


# Members --------------------------------------------------------------------------------


def test_owner_invites_by_username_or_email_then_changes_and_removes(ada, bob):
    carol = user_make("carol")
    team = personal(ada)
    client = login(ada)
    url = reverse("member-add", args=[team.pk])
    response = client.post(url, {"who": "bob@EXAMPLE.com", "role": "viewer"}, headers=HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="members"')
    assert teams.INVITED.format(who="bob@EXAMPLE.com", role="viewer") in body
    # An invitation, not a membership: bob has not said yes.
    assert 'data-member="bob"' not in body and not team.memberships.filter(user=bob).exists()
    client.post(url, {"who": "carol", "role": "operator"}, headers=HX)
    for user in (bob, carol):
        invitation = Invitation.objects.get(team=team, user=user)
        answer = login(user).post(reverse("invitation-accept", args=[invitation.pk]))
        assert answer.status_code == 302 and answer["Location"] == reverse("team-list")
    assert dict(team.memberships.values_list("user__username", "role")) == {
        "ada": "owner",
        "bob": "viewer",
        "carol": "operator",
    }
    bad_role = client.post(url, {"who": "bob", "role": "admin"}, headers=HX)
    assert bad_role.status_code == 422 and teams.ROLE_INVALID in bad_role.content.decode()

    carol_m = team.memberships.get(user=carol)
    client.post(reverse("member-role", args=[team.pk, carol_m.pk]), {"role": "owner"})
    carol_m.refresh_from_db()
    assert carol_m.role == "owner"
    bob_m = team.memberships.get(user=bob)
    response = client.post(reverse("member-remove", args=[team.pk, bob_m.pk]))
    assert response.status_code == 302
    assert not team.memberships.filter(user=bob).exists()


def test_the_invite_form_tells_nothing_about_accounts(ada, bob):
    dora = user_make("dora")
    dora.email = "bob@example.com"  # two accounts share this address
    dora.save()
    team = personal(ada)
    join(team, ada, "bob", "viewer")
    client = login(ada)
    url = reverse("member-add", args=[team.pk])
    answers = {}
    for who in ("nobody", "nobody@example.com", "bob@example.com", "bob", "dora"):
        response = client.post(url, {"who": who, "role": "viewer"}, headers=HX)
        assert response.status_code == 200
        body = response.content.decode()
        assert teams.INVITED.format(who=who, role="viewer") in body
        body = body.replace(teams.INVITED.format(who=who, role="viewer"), "")
        answers[who] = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", body)
    # Unknown, ambiguous, already a member, a real account: the same page.
    assert len(set(answers.values())) == 1
    assert (
        "bob@example.com" not in client.get(reverse("team-detail", args=[team.pk])).content.decode()
    )
    assert Invitation.objects.filter(team=team).count() == 1  # only dora's


def test_the_invited_user_accepts_or_declines_on_their_teams_page(ada, bob):
    shared = teams.team_create(user=ada, name="Platform")
    other = teams.team_create(user=ada, name="Data")
    teams.member_invite(team=shared, by=ada, who="bob", role="operator")
    teams.member_invite(team=other, by=ada, who="bob", role="viewer")
    bobs = login(bob)
    page = bobs.get(reverse("team-list")).content.decode()
    assert 'data-invitation="Platform"' in page and 'data-invitation="Data"' in page
    invitations = {i.team.name: i for i in Invitation.objects.filter(user=bob)}
    # Nobody else can answer bob's invitation.
    carol = login(user_make("carol"))
    assert (
        carol.post(reverse("invitation-accept", args=[invitations["Data"].pk])).status_code == 404
    )
    bobs.post(reverse("invitation-decline", args=[invitations["Data"].pk]))
    followed = bobs.post(
        reverse("invitation-accept", args=[invitations["Platform"].pk]), follow=True
    )
    assert "You joined team “Platform” as operator." in followed.content.decode()
    assert Membership.objects.get(team=shared, user=bob).role == "operator"
    assert not Membership.objects.filter(team=other, user=bob).exists()
    assert not Invitation.objects.filter(user=bob).exists()
    assert bobs.post(reverse("invitation-accept", args=[invitations["Data"].pk])).status_code == 404


def test_non_owners_see_the_team_read_only_and_are_refused(ada, bob):
    team = personal(ada)
    join(team, ada, "bob", "operator")
    client = login(bob)
    page = client.get(reverse("team-detail", args=[team.pk])).content.decode()
    assert "Invite someone" not in page and "<select" not in page
    assert "Leave team" in page  # but one can always leave
    response = client.post(reverse("member-add", args=[team.pk]), {"who": "bob", "role": "owner"})
    assert response.status_code == 403
    assert "only an owner can manage the team’s members" in response.content.decode()


def test_the_last_owner_cannot_leave_be_demoted_or_removed(ada, bob):
    team = teams.team_create(user=ada, name="Shared")
    join(team, ada, "bob", "operator")
    ada_m = team.memberships.get(user=ada)
    client = login(ada)
    expected = teams.LAST_OWNER.format(user="ada", team="Shared")
    demote = client.post(
        reverse("member-role", args=[team.pk, ada_m.pk]), {"role": "viewer"}, headers=HX
    )
    assert demote.status_code == 409 and expected in demote.content.decode()
    leave = client.post(reverse("member-remove", args=[team.pk, ada_m.pk]), headers=HX)
    assert leave.status_code == 409 and expected in leave.content.decode()
    # Without htmx: a redirect back with the message.
    response = client.post(reverse("member-remove", args=[team.pk, ada_m.pk]), follow=True)
    assert expected in response.content.decode()
    ada_m.refresh_from_db()
    assert ada_m.role == "owner"
    # With a second owner, the first may leave; then bob is the last one.
    bob_m = team.memberships.get(user=bob)
    teams.member_set_role(membership=bob_m, by=ada, role="owner")
    left = client.post(reverse("member-remove", args=[team.pk, ada_m.pk]), headers=HX)
    assert left.status_code == 200 and left["HX-Redirect"] == reverse("team-list")
    with pytest.raises(teams.LastOwner):
        teams.member_set_role(membership=bob_m, by=bob, role="operator")


def test_a_personal_team_keeps_its_user(ada, bob):
    team = personal(ada)
    join(team, ada, "bob", "owner")
    with pytest.raises(services.ServiceError, match="personal team"):
        teams.member_remove(membership=team.memberships.get(user=ada), by=bob)


# Activity per person ----------------------------------------------------------------------


def test_activity_names_who_and_filters_by_person_and_kind(ada, bob):
    team = personal(ada)
    join(team, ada, "bob", "operator")
    project = AgentProject.objects.create(team=team, name="Log", engine_name="local")
    Activity.objects.create(project=project, actor=ada, kind="create", detail="ada-made")
    Activity.objects.create(project=project, actor=bob, kind="rollback", detail="bob-rolled")
    Activity.objects.create(project=project, actor=None, kind="expire", detail="by-itself")
    client = login(bob)
    page = client.get(reverse("project-detail", args=[project.pk]), {"tab": "activity"})
    body = page.content.decode()
    assert all(t in body for t in ("ada-made", "bob-rolled", "by-itself"))
    assert '<span class="actor">system</span>' in body and '<span class="actor">ada</span>' in body
    url = reverse("project-activity", args=[project.pk])
    only_bob = client.get(url, {"person": bob.pk}, headers=HX).content.decode()
    assert only_bob.lstrip().startswith('<ol class="activity" id="activity-list"')
    assert "bob-rolled" in only_bob and "ada-made" not in only_bob
    creates = client.get(url, {"kind": "create"}, headers=HX).content.decode()
    assert "ada-made" in creates and "bob-rolled" not in creates
    none = client.get(url, {"person": ada.pk, "kind": "rollback"}, headers=HX).content.decode()
    assert "Nothing matches these filters." in none
    # Without htmx the filter is the page's Activity tab.
    response = client.get(url, {"kind": "create"})
    assert response.status_code == 302 and "tab=activity" in response["Location"]
    page = client.get(response["Location"]).content.decode()
    assert "ada-made" in page and "bob-rolled" not in page
    assert 'value="create" selected' in page


# Isolation on the real local engine -------------------------------------------------------


def test_one_teams_project_role_cannot_open_another_teams_databases(ada, bob):
    """Through the app: the connection string of ada's project cannot reach bob's."""
    first, second = project_demo(ada), project_demo(bob)
    try:
        assert first.team != second.team
        uri_a = services.project_connection_uri(project=first)
        uri_b = services.project_connection_uri(project=second)
        with psycopg.connect(uri_a, connect_timeout=10) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        info_a, info_b = (
            psycopg.conninfo.conninfo_to_dict(uri_a),
            psycopg.conninfo.conninfo_to_dict(uri_b),
        )
        assert info_a["user"] != info_b["user"] and info_a["dbname"] != info_b["dbname"]
        crossed = psycopg.conninfo.make_conninfo(uri_a, dbname=info_b["dbname"])
        with pytest.raises(psycopg.OperationalError, match="permission denied|not allowed"):
            psycopg.connect(crossed, connect_timeout=10).close()
        # Nor with the other project's user name and this project's password.
        wrong = psycopg.conninfo.make_conninfo(uri_b, password=info_a["password"])
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(wrong, connect_timeout=10).close()
    finally:
        engine_project_drop(first)
        engine_project_drop(second)
