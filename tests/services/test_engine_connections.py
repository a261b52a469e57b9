"""Engine connections: secrets sealed at rest (MultiFernet, rotation), placement of new
teams on the least loaded of two servers started here (an admin may pin a team), a
project chosen onto a connection through the API, and no door or log that shows a
connection's secret."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from django.test import Client
from psycopg.conninfo import conninfo_to_dict

from checkpoints import services
from checkpoints.engines import reset_engines
from checkpoints.errors import ServiceError
from checkpoints.mcp import project_calls
from checkpoints.mcp.auth import acting_as
from checkpoints.models import AgentProject, EngineConnection, Job, Team
from checkpoints.security import secretbox
from checkpoints.serialize import connection_json, project_json
from checkpoints.servers import pgroles
from checkpoints.servers.pgserver import EmbeddedPostgres
from checkpoints.services.team_connections import (
    connection_create_postgres,
    team_server_pin,
)
from tests.api_helpers import Api, token_for
from tests.web_fixtures import jobs_run_queued, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def servers() -> Iterator[list[EmbeddedPostgres]]:
    """Two PostgreSQL servers, each with the engine's least-privilege role."""
    root = Path(tempfile.mkdtemp(prefix="checkpoints-fleet-"))
    started = []
    try:
        for name in ("one", "two"):
            server = EmbeddedPostgres(root / name, fast=True)
            server.start()
            pgroles.ensure_roles(server, None)
            started.append(server)
        yield started
    finally:
        reset_engines()
        for server in started:
            server.stop(mode="immediate")
        shutil.rmtree(root, ignore_errors=True)


def engine_url(server: EmbeddedPostgres) -> str:
    return pgroles.engine_url(server.data_dir)


@pytest.fixture
def external(settings, servers) -> list[EmbeddedPostgres]:
    settings.CHECKPOINTS_SERVERS = "external"
    settings.CHECKPOINTS_EXTERNAL_SERVERS = [engine_url(s) for s in servers]
    return servers


def project_new(user, name: str, **kwargs) -> AgentProject:
    job = services.project_create(user=user, name=name, **kwargs)
    jobs_run_queued()
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.error
    return AgentProject.objects.get(pk=job.project_id)


def lives_on(project: AgentProject, server: EmbeddedPostgres) -> bool:
    """The project's port is the server's and its database exists there."""
    params = conninfo_to_dict(project.connection_uri)
    if int(params["port"]) != server.config.port:
        return False
    with psycopg.connect(server.url("postgres")) as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (params["dbname"],)
        ).fetchone()
    return row is not None


def test_a_sealed_secret_opens_after_a_key_rotation_and_not_without_its_key(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.CHECKPOINTS_SECRET_KEYS = []
    token = secretbox.secret_seal("postgresql://u:pw-1@db:5432/postgres")
    assert "pw-1" not in token
    assert (tmp_path / secretbox.KEYS_FILE).stat().st_mode & 0o777 == 0o600
    old = (tmp_path / secretbox.KEYS_FILE).read_text().strip()
    new = Fernet.generate_key().decode()
    settings.CHECKPOINTS_SECRET_KEYS = [new, old]
    assert secretbox.secret_open(token).endswith("pw-1@db:5432/postgres")
    rotated = secretbox.secret_rotate(token)
    settings.CHECKPOINTS_SECRET_KEYS = [new]
    assert secretbox.secret_open(rotated).endswith("pw-1@db:5432/postgres")
    with pytest.raises(secretbox.SecretUnreadable):
        secretbox.secret_open(token)


def test_new_teams_go_to_the_least_loaded_server_and_a_pinned_team_where_pinned(external):
    one, two = external
    ada, bob, cy, dan = (user_make(name) for name in ("ada", "bob", "cy", "dan"))
    ada_first, ada_second = project_new(ada, "a1"), project_new(ada, "a2")
    bob_first = project_new(bob, "b1")
    team_server_pin(team=Team.objects.get(personal_for=cy), server=f"127.0.0.1:{one.config.port}")
    cy_first = project_new(cy, "c1")
    dan_first = project_new(dan, "d1")
    assert lives_on(ada_first, one) and lives_on(ada_second, one)
    assert lives_on(bob_first, two)  # one held two projects
    assert lives_on(cy_first, one) and cy_first.connection.options == {"pinned": True}
    assert lives_on(dan_first, two)  # one held three, two one
    assert ada_first.connection.kind == EngineConnection.Kind.POSTGRES
    with pytest.raises(ServiceError):
        team_server_pin(team=Team.objects.get(personal_for=dan), server="10.0.0.1:5432")


def test_no_page_answer_or_log_shows_a_connection_secret(servers, caplog, settings):
    settings.CHECKPOINTS_SERVERS = "shared"
    caplog.set_level(logging.DEBUG)
    ada = user_make("ada")
    team = Team.objects.get(personal_for=ada)
    url = engine_url(servers[1])
    secret = conninfo_to_dict(url)["password"]
    connection = connection_create_postgres(user=ada, team=team, name="Big box", url=url)
    assert secret not in connection.secret and secret not in repr(connection.__dict__)
    token = token_for(ada)
    api = Api(token)
    created = api.post("projects", {"name": "On the big box", "connection": connection.pk})
    assert created.status_code == 202, created.content
    jobs_run_queued()
    project = AgentProject.objects.get(pk=created.json()["project"])
    assert project.connection == connection and lives_on(project, servers[1])
    assert project_new(ada, "shared one").connection is None  # the team's default: shared
    client = Client()
    client.force_login(ada)
    answers = [
        client.get("/").content.decode(),
        client.get(f"/projects/{project.pk}/").content.decode(),
        api.get("projects").content.decode(),
        api.get(f"projects/{project.pk}").content.decode(),
        str(project_json(project, role="owner")),
    ]
    with acting_as(token):
        answers.append(str(project_calls.projects_list()))
    assert '"kind": "postgres"' in answers[3] and "Big box" in answers[3]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for text in [*answers, logged]:
        assert secret not in text
    foreign = api.post("projects", {"name": "x", "connection": connection.pk + 1000})
    assert foreign.status_code in (400, 404, 409, 422), foreign.content


def test_the_page_starts_a_project_on_the_chosen_connection_and_refuses_a_foreign_one(
    servers, settings
):
    settings.CHECKPOINTS_SERVERS = "shared"
    ada, bob = user_make("ada"), user_make("bob")
    team = Team.objects.get(personal_for=ada)
    mine = connection_create_postgres(
        user=ada, team=team, name="Big box", url=engine_url(servers[0])
    )
    theirs = connection_create_postgres(
        user=bob, team=Team.objects.get(personal_for=bob), name="Bobs", url=engine_url(servers[1])
    )
    client = Client()
    client.force_login(ada)
    home = client.get("/").content.decode()
    assert f'<option value="{mine.pk}">Big box' in home and "Bobs" not in home
    refused = client.post("/projects/start", {"connection": theirs.pk}, follow=True)
    assert "There is no such connection" in refused.content.decode()
    assert not AgentProject.objects.filter(team=team).exists()
    started = client.post("/projects/start", {"connection": mine.pk})
    assert started.status_code == 302
    jobs_run_queued()
    project = AgentProject.objects.get(team=team)
    assert project.connection == mine and lives_on(project, servers[0])
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "on Big box" in page


def test_an_admin_pins_a_team_from_the_command_line(external):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    ada = user_make("ada")
    team = Team.objects.get(personal_for=ada)
    two = f"127.0.0.1:{external[1].config.port}"
    out = StringIO()
    call_command("team_servers", "--pin", str(team.pk), two, stdout=out)
    assert f"new projects go to {two}" in out.getvalue()
    assert lives_on(project_new(ada, "pinned"), external[1])
    listing = StringIO()
    call_command("team_servers", stdout=listing)
    assert f"{two} – 1 projects (default)" in listing.getvalue()
    with pytest.raises(CommandError):
        call_command("team_servers", "--pin", str(team.pk), "nowhere:1")


def test_a_neon_connection_gets_an_engine_of_its_own_key_org_and_api_url(settings):
    from checkpoints.engines.neon import NeonEngine
    from checkpoints.security.secretbox import secret_seal
    from checkpoints.servers.engine_connections import connection_engine, connection_engine_name

    ada = user_make("ada")
    team = Team.objects.get(personal_for=ada)

    def neon(key: str, org: str) -> EngineConnection:
        return EngineConnection.objects.create(
            team=team,
            kind=EngineConnection.Kind.NEON,
            name=f"Neon {org}",
            server="http://127.0.0.1:9/api/v2",
            secret=secret_seal(key),
            options={"api_url": "http://127.0.0.1:9/api/v2", "org_id": org, "snapshot_limit": 10},
        )

    first, again, other = (
        neon("napi_one", "org-a"),
        neon("napi_one", "org-a"),
        neon("napi_two", "org-b"),
    )
    engine = connection_engine(first)
    assert isinstance(engine, NeonEngine) and connection_engine_name(first) == "neon"
    assert engine.api_url == "http://127.0.0.1:9/api/v2" and engine.org_id == "org-a"
    assert connection_engine(again) is engine  # one engine per account reached
    assert connection_engine(other) is not engine and connection_engine(other).org_id == "org-b"
    assert "napi_one" not in str(connection_json(first))
