"""Labels and tokens from the command line and on the pages: `manage.py versions … --label`,
`manage.py tokens create`, the timeline's labels, the tokens page's options, the team
page's webhooks card."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from checkpoints import services
from checkpoints.api.models import ApiToken
from checkpoints.models import AgentProject, Membership, WebhookEndpoint
from checkpoints.tokens import token_authenticate
from tests.web_fixtures import engine_project_drop, jobs_run_queued, url, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return user_make("ci")


@pytest.fixture
def project(user):
    job = services.project_create(user=user, name="CI project")
    jobs_run_queued()
    project = AgentProject.objects.get(pk=job.project_id)
    yield project
    engine_project_drop(project)


@pytest.fixture
def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def command(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_labels_round_trip_on_the_command_line_and_the_timeline(project, browser):
    pk = str(project.pk)
    saved = command(
        "versions", "create", "--project", pk, "--prompt", "Tagged", "--json",
        "--label", "git_sha=3f2a9c1", "--label", "agent_run=7",
    )  # fmt: skip
    assert json.loads(saved)["version"]["labels"] == {"git_sha": "3f2a9c1", "agent_run": "7"}
    command("versions", "create", "--project", pk, "--prompt", "Untagged")
    listed = json.loads(
        command("versions", "list", "--project", pk, "--json", "--label", "git_sha:3f2a9c1")
    )
    assert [v["prompt"] for v in listed["items"]] == ["Tagged"]
    table = command("versions", "list", "--project", pk, "--label", "agent_run")
    assert "agent_run=7 git_sha=3f2a9c1" in table and "Untagged" not in table
    with pytest.raises(CommandError, match="key=value"):
        command("versions", "create", "--project", pk, "--prompt", "x", "--label", "nokey")
    with pytest.raises(CommandError, match="Label key"):
        command("versions", "create", "--project", pk, "--prompt", "x", "--label", "a b=c")
    page = browser.get(url("project-detail", project.pk)).content.decode()
    assert 'data-label="git_sha">git_sha=3f2a9c1</code>' in page


def test_tokens_create_on_the_command_line_with_its_options(project, user):
    raw = command(
        "tokens", "create", "--user", "ci", "--name", "reader", "--read-only", "--no-reveal",
        "--project", str(project.pk),
    ).strip()  # fmt: skip
    token = token_authenticate(raw=raw)
    assert token is not None and token.read_only and not token.can_reveal
    assert list(token.projects.values_list("pk", flat=True)) == [project.pk]
    with pytest.raises(CommandError, match="projects of your teams"):
        command("tokens", "create", "--user", "ci", "--name", "x", "--project", "999999")
    with pytest.raises(CommandError, match="No user"):
        command("tokens", "create", "--user", "nobody", "--name", "x")


def test_the_tokens_page_makes_read_only_and_scoped_tokens(project, browser):
    response = browser.post(
        url("token-list"),
        {"name": "agent", "read_only": "on", "projects": [str(project.pk)]},
    )
    assert response.status_code == 200
    token = ApiToken.objects.get(name="agent")
    assert token.read_only and not token.can_reveal  # the unticked box
    assert list(token.projects.all()) == [project]
    page = response.content.decode()
    assert "read only · passwords masked · CI project" in page
    refused = browser.post(url("token-list"), {"name": "x", "projects": ["abc"]})
    assert refused.status_code == 400 and not ApiToken.objects.filter(name="x").exists()


def test_the_team_page_webhooks_card_for_owners_only(project, user, browser):
    team = project.team
    page = browser.get(url("team-detail", team.pk)).content.decode()
    assert 'id="webhooks"' in page and "No endpoints yet." in page
    added = browser.post(url("webhook-add", team.pk), {"url": "https://example.com/hook"})
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret in added.content.decode()  # shown once, on this answer
    assert endpoint.secret not in browser.get(url("team-detail", team.pk)).content.decode()
    browser.post(url("webhook-test", team.pk, endpoint.pk))
    page = browser.get(url("team-detail", team.pk)).content.decode()
    assert "webhook.test" in page and "Pending" in page
    rotated = browser.post(url("webhook-rotate", team.pk, endpoint.pk)).content.decode()
    endpoint.refresh_from_db()
    assert endpoint.secret in rotated and endpoint.previous_secret
    bad = browser.post(url("webhook-add", team.pk), {"url": "ftp://nope"}, follow=True)
    assert "http:// or https://" in bad.content.decode()

    viewer = user_make("vic")
    Membership.objects.create(team=team, user=viewer, role=Membership.Role.VIEWER)
    other = Client()
    other.force_login(viewer)
    assert 'id="webhooks"' not in other.get(url("team-detail", team.pk)).content.decode()
    assert other.post(url("webhook-remove", team.pk, endpoint.pk)).status_code == 403
    assert browser.post(url("webhook-remove", team.pk, 10**6)).status_code == 404
    browser.post(url("webhook-remove", team.pk, endpoint.pk))
    assert not WebhookEndpoint.objects.exists()
