"""A project move through every door: the page's confirmation says the connection string
changes once and its result says it did, the API moves it back (embedded ← external) and
answers which versions went across, the command line lists where it may go, and the
command line and MCP's call refuse what the service refuses. No page, answer or log shows the external server's secret. The team page's
connections card: listed without secrets, an unreachable or underprivileged URL refused
readably, one without projects removed — an embedded one with its server, as is the
server of a deleted team."""

from __future__ import annotations

import logging
from io import StringIO

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from psycopg.conninfo import conninfo_to_dict

from checkpoints import services
from checkpoints.mcp.auth import acting_as
from checkpoints.mcp.move_tools import move_start
from checkpoints.models import EngineConnection, Job, Team
from checkpoints.servers import teamservers
from checkpoints.services.team_connections import CONNECTION_UNDERPRIVILEGED
from tests.api_helpers import Api, token_for
from tests.services.test_project_move import places as places  # noqa: F401 (module fixture)
from tests.services.test_project_move import port_of
from tests.services.test_project_move import setup as setup  # noqa: F401
from tests.web_fixtures import jobs_run_queued, user_make

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("setup", [1], indirect=True)
def test_every_door_moves_the_project_and_no_door_shows_the_secret(setup, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    ada, project, external, server = setup
    secret = conninfo_to_dict(services.engine_for(project=project)._server_url).get("password")
    external_secret = _secret_of(server)
    embedded = project.connection
    client = Client()
    client.force_login(ada)
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert 'id="project-move"' in page and "Big box" in page
    confirm = client.get(f"/projects/{project.pk}/move?connection={external.pk}")
    assert "The connection string changes once" in confirm.content.decode()
    assert client.get(f"/projects/{project.pk}/move?connection=999999").status_code == 404
    assert client.post(f"/projects/{project.pk}/move?connection={external.pk}").status_code == 302
    jobs_run_queued()
    project.refresh_from_db()
    assert project.connection == external and port_of(project.connection_uri) == server.config.port
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "Moved to Big box: the connection string changed." in page

    api = Api(token_for(ada))
    moved = api.post(f"projects/{project.pk}/move", {"connection": embedded.pk}, wait="true")
    if moved.status_code == 202:
        jobs_run_queued()
        moved = api.get(moved["Location"])
    body = moved.json()
    assert body["state"] == "succeeded", body
    assert body["move"] == {"to": embedded.name, "moved": 2, "not_moved": {}}
    project.refresh_from_db()
    assert project.connection == embedded
    assert api.post(f"projects/{project.pk}/move", {"connection": "x"}).status_code == 400
    same = api.post(f"projects/{project.pk}/move", {"connection": embedded.pk})
    assert same.status_code == 400 and "already lives" in same.content.decode()

    out = StringIO()
    call_command("move_project", str(project.pk), stdout=out)
    assert f"{external.pk}: Big box [postgres]" in out.getvalue()
    with pytest.raises(CommandError, match="already lives"):
        call_command("move_project", str(project.pk), str(embedded.pk))
    # MCP's call: the tool's `call` answers the service's refusal as a tool error.
    with acting_as(api.token), pytest.raises(services.ServiceError, match="already lives"):
        move_start(project_id=project.pk, connection_id=embedded.pk)

    team_page = client.get(f"/teams/{project.team_id}/").content.decode()
    answers = [
        page,
        team_page,
        moved.content.decode(),
        api.get(f"projects/{project.pk}").content.decode(),
    ]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for text in [*answers, logged]:
        assert external_secret not in text and (not secret or secret not in text)


def _secret_of(server) -> str:
    from checkpoints.servers import pgroles

    return conninfo_to_dict(pgroles.engine_url(server.data_dir))["password"]


def test_the_connections_card_lists_checks_and_removes(
    settings, places, django_capture_on_commit_callbacks
):  # noqa: F811
    settings.CHECKPOINTS_SERVERS = "per-team"
    settings.CHECKPOINTS_TEAM_SERVERS_DIR = places[0]
    settings.CHECKPOINTS_TEAM_SERVERS_FAST = True
    from checkpoints.servers import pgroles

    ada = user_make("ada")
    team = Team.objects.get(personal_for=ada)
    client = Client()
    client.force_login(ada)
    url = pgroles.engine_url(places[1].data_dir)
    secret = conninfo_to_dict(url)["password"]
    refused = client.post(
        f"/teams/{team.pk}/connections",
        {"name": "Nowhere", "url": f"postgresql://x:{secret}@127.0.0.1:1/postgres"},
    )
    text = refused.content.decode()
    assert refused.status_code == 400 and "Could not connect to 127.0.0.1:1" in text
    assert secret not in text and 'value="Nowhere"' in text
    with psycopg.connect(places[1].url("postgres"), autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS weakling")
        conn.execute("CREATE ROLE weakling LOGIN PASSWORD 'weak-pw-1'")
        conn.execute("GRANT CONNECT ON DATABASE postgres TO weakling")
    port = places[1].config.port
    weak = client.post(
        f"/teams/{team.pk}/connections",
        {"url": f"postgresql://weakling:weak-pw-1@127.0.0.1:{port}/postgres"},
    )
    assert weak.status_code == 400
    assert (
        CONNECTION_UNDERPRIVILEGED.format(role="weakling", server=f"127.0.0.1:{port}")
        in weak.content.decode()
    )
    added = client.post(
        f"/teams/{team.pk}/connections", {"name": "Big box", "url": url}, follow=True
    )
    text = added.content.decode()
    assert "Connection “Big box” added" in text and f"127.0.0.1:{port}" in text
    assert secret not in text and "A PostgreSQL server" in text

    # The team's first project makes its embedded server; emptied, the card removes both.
    job = services.project_create(user=ada, name="first")
    jobs_run_queued()
    job.refresh_from_db()
    embedded = EngineConnection.objects.get(team=team, kind="embedded")
    card = client.get(f"/teams/{team.pk}/").content.decode()
    assert "1 project ·" in card or "1 project" in card
    kept = client.post(f"/teams/{team.pk}/connections/{embedded.pk}/remove", follow=True)
    assert "still holds 1 project" in kept.content.decode()
    assert team.pk in teamservers.running(places[0])
    services.project_delete(project=job.project, user=ada)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/teams/{team.pk}/connections/{embedded.pk}/remove")
    assert team.pk not in teamservers.running(places[0])
    assert not teamservers.server_dir(places[0], team.pk).parent.exists()
    assert not EngineConnection.objects.filter(pk=embedded.pk).exists()
    assert Job.objects.filter(project__team=team).count() == 0


def test_a_deleted_team_takes_its_server_with_it(
    settings, places, django_capture_on_commit_callbacks
):  # noqa: F811
    settings.CHECKPOINTS_SERVERS = "per-team"
    settings.CHECKPOINTS_TEAM_SERVERS_DIR = places[0]
    settings.CHECKPOINTS_TEAM_SERVERS_FAST = True
    bob = user_make("bob")
    team = Team.objects.get(personal_for=bob)
    services.project_create(user=bob, name="only")
    jobs_run_queued()
    assert team.pk in teamservers.running(places[0])
    out = StringIO()
    with pytest.raises(CommandError, match="still has 1 project"):
        call_command("team_servers", "--remove", str(team.pk), stdout=out)
    team_id = team.pk
    with django_capture_on_commit_callbacks(execute=True):
        team.delete()
    assert team_id not in teamservers.running(places[0])
    assert not teamservers.server_dir(places[0], team_id).parent.exists()
