"""The doors (pages, API, command line; MCP in tests/mcp/test_http.py) answer a missing
project, or another team's, with the same sentence; `--json` refusals are JSON."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from checkpoints.api.openapi import openapi_document
from checkpoints.errors import PROJECT_NOT_FOUND
from checkpoints.models import AgentProject
from checkpoints.signals import team_personal_for
from tests.api_helpers import Api, token_for
from tests.web_fixtures import user_make

pytestmark = pytest.mark.django_db


def _cli_refused(*args: str) -> tuple[str, str]:
    """What `manage.py versions …` printed on stdout, and its refusal."""
    out = StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("versions", *args, stdout=out)
    return out.getvalue(), str(refused.value)


def test_a_missing_project_reads_the_same_on_every_door(client):
    # (Ids past a bigint are answered by the input guard before any door: a plain 404.)
    user, pk = user_make("ada"), 999_999
    sentence = PROJECT_NOT_FOUND.format(id=pk)

    api = Api(token_for(user)).get(f"projects/{pk}")
    assert api.status_code == 404
    assert api.json() == {"code": "not_found", "message": sentence}

    client.force_login(user)
    page = client.get(f"/projects/{pk}/")
    assert page.status_code == 404 and sentence in page.content.decode()

    out, error = _cli_refused("list", "--project", str(pk), "--json")
    assert error == sentence
    assert json.loads(out) == {"error": {"code": "not_found", "message": sentence}}


def test_another_teams_project_reads_as_missing_on_every_door(client):
    owner, stranger = user_make("ada"), user_make("bob")
    project = AgentProject.objects.create(team=team_personal_for(user=owner), name="Ada's")
    sentence = PROJECT_NOT_FOUND.format(id=project.pk)
    assert Api(token_for(stranger)).get(f"projects/{project.pk}").json()["message"] == sentence
    client.force_login(stranger)
    assert sentence in client.get(f"/projects/{project.pk}/").content.decode()
    _, error = _cli_refused("list", "--project", str(project.pk), "--user", "bob")
    assert error == sentence


def test_cli_json_refusals_carry_the_apis_codes():
    owner = user_make("ada")
    project = AgentProject.objects.create(team=team_personal_for(user=owner), name="Not started")
    out, error = _cli_refused("undo", "--project", str(project.pk), "--user", "ada", "--json")
    refusal = json.loads(out)["error"]
    assert refusal["message"] == error
    codes = openapi_document()["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
    assert refusal["code"] in codes and refusal["code"] != "invalid", refusal
    out, _ = _cli_refused(
        "list", "--project", str(project.pk), "--user", "ada", "--page", "x", "--json"
    )
    assert json.loads(out)["error"]["code"] == "invalid"
