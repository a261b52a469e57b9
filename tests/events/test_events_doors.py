"""Destructive statements and protected tables through the doors: the API, the command
line and the project page, on the embedded server whose superuser installs the recorder
(tests/postgres_plugin.py sets it, as `make run` has it)."""

from __future__ import annotations

import json
from io import StringIO

import psycopg
import pytest
from django.core.management import CommandError, call_command

from checkpoints import services
from checkpoints.engines.connect import run_sql
from checkpoints.models import Activity, Membership
from tests.api_helpers import Api, member_add, project_via_api, token_for, version_via_api
from tests.web_fixtures import HX, engine_project_drop, url, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def made():
    owner = user_make("ada")
    api = Api(token_for(owner))
    project = project_via_api(api)
    version_via_api(
        api, project, "Contacts", "create table people (id int primary key, name text, "
        "email text); insert into people values (1, 'Ada', 'a@x'), (2, 'Alan', 'b@x');"
        "create table notes (id int);",
    )  # fmt: skip
    uri = services.project_connection_uri(project=project)
    yield owner, api, project, uri
    engine_project_drop(project)


def test_the_api_lists_drop_truncate_and_drop_column_with_time_role_and_xid(made):
    _, api, project, uri = made
    run_sql(uri, "TRUNCATE notes")
    run_sql(uri, "ALTER TABLE people DROP COLUMN email")
    run_sql(uri, "DROP TABLE notes")
    answer = api.get(f"projects/{project.pk}/events")
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert data["supported"] is True and data["count"] == 3
    assert [e["label"] for e in data["items"]] == [
        "DROP TABLE notes",
        "DROP COLUMN people.email",
        "TRUNCATE notes",
    ]
    role = run_sql(uri, "SELECT session_user")[0][0]
    assert {e["role"] for e in data["items"]} == {role}
    assert all(e["xid"] > 0 and e["at"] and e["lsn"] for e in data["items"])
    first = data["items"][0]
    assert first["restore_before_url"].endswith(f"/events/{first['id']}/restore-before")
    # This server keeps no history (tests/events/test_restore_before_event.py has one).
    refused = api.post(first["restore_before_url"])
    assert refused.status_code == 422 and refused.json()["code"] == "not_supported"
    # Listing again copies nothing twice.
    assert api.get(f"projects/{project.pk}/events").json()["count"] == 3
    assert api.get(f"projects/{project.pk}/events", per_page=0).status_code == 400
    assert api.post(f"projects/{project.pk}/events/999999/restore-before").status_code == 404


def test_protection_over_the_api_refuses_with_a_way_forward(made):
    owner, api, project, uri = made
    base = f"projects/{project.pk}/protected-tables"
    assert api.post(base, {"table": "bad name!"}).status_code == 400
    assert api.post(base, {"table": "nowhere"}).status_code == 400
    assert api.post(base, {"nope": 1}).status_code == 400
    answer = api.post(base, {"table": "people"})
    assert answer.status_code == 200, answer.content
    assert answer.json() == {
        "items": [{"table": "public.people", "schema": "public", "name": "people",
                   "exists": True}]
    }  # fmt: skip
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
        run_sql(uri, "DROP TABLE people")
    assert "protected by Checkpoints" in refused.value.diag.message_primary
    assert "Save a version" in refused.value.diag.message_hint
    assert "ask a person" in refused.value.diag.message_hint
    # An operator (the agent's usual token) may protect but not lift.
    agent = user_make("agent")
    member_add(project, agent, Membership.Role.OPERATOR)
    as_agent = Api(token_for(agent))
    lift = as_agent.post(f"{base}/lift", {"table": "people"})
    assert lift.status_code == 403 and lift.json()["code"] == "forbidden"
    assert api.get(base).json()["items"][0]["table"] == "public.people"
    assert api.post(f"{base}/lift", {"table": "people"}).json() == {"items": []}
    run_sql(uri, "TRUNCATE people")
    kinds = list(project.activities.values_list("kind", flat=True))
    assert Activity.Kind.PROTECT in kinds and Activity.Kind.UNPROTECT in kinds


def test_the_command_line_lists_and_protects(made):
    owner, _, project, uri = made
    run_sql(uri, "DROP TABLE notes")
    out = StringIO()
    call_command("events", "list", "--project", str(project.pk), "--json", stdout=out)
    listed = json.loads(out.getvalue())
    assert [e["label"] for e in listed["items"]] == ["DROP TABLE notes"]
    out = StringIO()
    call_command("events", "protect", "--project", str(project.pk), "--table", "people",
                 stdout=out)  # fmt: skip
    assert "public.people" in out.getvalue()
    with pytest.raises(CommandError, match="no event 424242"):
        call_command("events", "restore-before", "--project", str(project.pk), "--event",
                     "424242")  # fmt: skip
    call_command("events", "unprotect", "--project", str(project.pk), "--table", "people",
                 stdout=StringIO())  # fmt: skip
    run_sql(uri, "DROP TABLE people")


def test_the_project_page_card_shows_statements_and_protects(client, made):
    owner, _, project, uri = made
    run_sql(uri, "DROP TABLE notes")
    client.force_login(owner)
    page = client.get(url("project-detail", project.pk)).content.decode()
    assert url("project-events", project.pk) in page  # loaded on its own
    card = client.get(url("project-events", project.pk), headers=HX)
    html = card.content.decode()
    assert card.status_code == 200 and html.lstrip().startswith('<section class="card events-card"')
    assert "DROP TABLE notes" in html and "the project's role" in html
    # This server keeps no history: the card says so instead of offering to go back.
    assert "needs the server" in html and "Go back to just before this" not in html
    protected = client.post(url("table-protect", project.pk), {"table": "people"}, headers=HX)
    assert "<code>public.people</code>" in protected.content.decode()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        run_sql(uri, "TRUNCATE people")
    lifted = client.post(url("table-unprotect", project.pk), {"table": "public.people"})
    assert lifted.status_code == 302
    run_sql(uri, "TRUNCATE people")
