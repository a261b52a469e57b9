"""A team's Neon account as an engine connection: a key checked with one read call
(readable messages for a bad, revoked or rate-limited key, or an unreachable API), two
teams' accounts that never see each other's projects, a removed key whose projects
explain themselves, and no door or log that shows a key."""

from __future__ import annotations

import logging

import pytest

from checkpoints import services
from checkpoints.engines.errors import EngineNotFound
from checkpoints.engines.neon import account
from checkpoints.errors import ServiceError
from checkpoints.models import AgentProject, EngineConnection, Job
from checkpoints.security.secretbox import secret_open
from checkpoints.services import neon_accounts, neon_adopt
from checkpoints.signals import team_personal_for
from tests.neon.conftest import KEY_A, KEY_B, neon_engine, raw_project
from tests.web_fixtures import jobs_run_queued, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada():
    return user_make("ada-neon")


@pytest.fixture
def bob():
    return user_make("bob-neon")


def add(user, emulator, key, **kwargs) -> EngineConnection:
    team = team_personal_for(user=user)
    return neon_accounts.neon_account_add(
        user=user, team=team, name="Ours", api_key=key, api_url=emulator.url, **kwargs
    )


def test_key_is_sealed_and_checked_with_one_read(ada, emulator) -> None:
    since = len(emulator.requests)
    connection = add(ada, emulator, KEY_A)
    assert emulator.engine_requests(since) == [("GET", "/projects", 200)]
    assert KEY_A not in connection.secret and secret_open(connection.secret) == KEY_A
    assert KEY_A not in str(EngineConnection.objects.filter(pk=connection.pk).values().get())


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("wrong", account.KEY_REFUSED),
        ("revoked", account.KEY_REFUSED),
        ("rate", account.RATE_LIMITED),
        ("unreachable", account.UNREACHABLE.split(" at ")[0]),
    ],
)
def test_a_bad_key_gets_a_readable_message(ada, emulator, setup, message) -> None:
    key, url = "napi_wrong_key_0123456789", emulator.url
    if setup == "revoked":
        key = "napi_revoked_0123456789"
        emulator.account_add(key)
        emulator.key_revoke(key)
    if setup == "rate":
        key = KEY_A
        emulator.inject("status", path=r"/projects$", status=429, retry_after=30)
    if setup == "unreachable":
        key, url = KEY_A, "http://127.0.0.1:9/api/v2"
    team = team_personal_for(user=ada)
    with pytest.raises(ServiceError) as info:
        neon_accounts.neon_account_add(user=ada, team=team, name="x", api_key=key, api_url=url)
    assert info.value.message.startswith(message)
    assert key not in info.value.message
    assert not team.connections.filter(kind=EngineConnection.Kind.NEON).exists()


def test_two_teams_see_only_their_own_projects(ada, bob, emulator) -> None:
    a_conn, b_conn = add(ada, emulator, KEY_A), add(bob, emulator, KEY_B)
    a_raw = raw_project(emulator, KEY_A, "a-console-project")
    b_raw = raw_project(emulator, KEY_B, "b-console-project")
    a_sees = {
        r["project"].id for r in neon_adopt.neon_projects_adoptable(user=ada, connection=a_conn)
    }
    b_sees = {
        r["project"].id for r in neon_adopt.neon_projects_adoptable(user=bob, connection=b_conn)
    }
    assert a_raw.project.id in a_sees and b_raw.project.id not in a_sees
    assert b_raw.project.id in b_sees and a_raw.project.id not in b_sees
    with neon_engine(emulator, KEY_A) as engine, pytest.raises(EngineNotFound):
        engine.project_get(b_raw.project.id)
    # Nor through Checkpoints: bob cannot adopt a project of ada's account with his key.
    root = a_raw.branch.id
    with pytest.raises(ServiceError):
        neon_adopt.neon_project_adopt(
            user=bob, connection=b_conn, engine_project_id=a_raw.project.id, branch_id=root,
            name="stolen",
        )  # fmt: skip
    # And a project made on a team's account lives in that account.
    job = services.project_create(user=ada, name="On A", connection_id=a_conn.pk)
    jobs_run_queued()
    project = AgentProject.objects.get(pk=job.project_id)
    assert project.jobs.first().state == Job.State.SUCCEEDED, project.jobs.first().error
    with neon_engine(emulator, KEY_B) as engine, pytest.raises(EngineNotFound):
        engine.project_get(project.engine_project_id)


def test_a_project_on_a_removed_key_explains_itself(ada, emulator, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    connection = add(ada, emulator, KEY_A)
    job = services.project_create(user=ada, name="Keyless", connection_id=connection.pk)
    jobs_run_queued()
    project = AgentProject.objects.get(pk=job.project_id)
    notice = neon_accounts.neon_account_remove(user=ada, connection=connection)
    assert "1 project(s) stay listed" in notice
    connection.refresh_from_db()
    assert connection.secret == ""
    services.version_create(project=project, user=ada, prompt="next", sql="CREATE TABLE t (id int)")
    jobs_run_queued()
    failed = project.jobs.first()
    assert failed.state == Job.State.FAILED
    assert "whose API key was removed from the team" in failed.error
    with pytest.raises(ServiceError, match="whose API key was removed"):  # nor a new one
        services.project_create(user=ada, name="Another", connection_id=connection.pk)
    with neon_engine(emulator, KEY_A) as engine:  # nothing was deleted in Neon
        assert engine.project_get(project.engine_project_id).id == project.engine_project_id
    assert KEY_A not in caplog.text


def test_removing_an_unused_key_removes_the_connection(ada, emulator) -> None:
    connection = add(ada, emulator, KEY_A)
    neon_accounts.neon_account_remove(user=ada, connection=connection)
    assert not EngineConnection.objects.filter(pk=connection.pk).exists()


def test_replacing_a_key_checks_the_new_one(ada, emulator) -> None:
    connection = add(ada, emulator, KEY_A)
    with pytest.raises(ServiceError, match="refused this API key"):
        neon_accounts.neon_account_key_replace(user=ada, connection=connection, api_key="napi_no")
    connection.refresh_from_db()
    assert secret_open(connection.secret) == KEY_A
    spare = "napi_spare_a_0123456789abcdef"
    emulator.account_add(spare, "team-a")
    neon_accounts.neon_account_key_replace(user=ada, connection=connection, api_key=spare)
    connection.refresh_from_db()
    assert secret_open(connection.secret) == spare


def test_snapshot_limit_is_the_owners_setting_and_shown(ada, emulator, settings) -> None:
    settings.NEON_SNAPSHOT_LIMIT = 100
    connection = add(ada, emulator, KEY_A, snapshot_limit="10")
    assert neon_accounts.snapshot_limit_of(connection) == (10, "the owner's setting")
    with pytest.raises(ServiceError):
        neon_accounts.neon_account_limit_set(user=ada, connection=connection, limit="lots")
    neon_accounts.neon_account_limit_set(user=ada, connection=connection, limit="")
    connection.refresh_from_db()
    assert neon_accounts.snapshot_limit_of(connection)[0] == 100


def test_the_installation_key_is_a_connection_when_allowed(ada, emulator, settings) -> None:
    team = team_personal_for(user=ada)
    settings.NEON_API_KEY, settings.NEON_API_URL = KEY_B, emulator.url
    settings.NEON_KEY_FOR_TEAMS = False
    assert neon_accounts.neon_accounts_of(team=team) == []
    settings.NEON_KEY_FOR_TEAMS = True
    [shared] = neon_accounts.neon_accounts_of(team=team)
    assert shared.options["installation"] and shared.secret == ""
    job = services.project_create(user=ada, name="On the shared key", connection_id=shared.pk)
    jobs_run_queued()
    project = AgentProject.objects.get(pk=job.project_id)
    assert project.jobs.first().state == Job.State.SUCCEEDED, project.jobs.first().error
    with neon_engine(emulator, KEY_B) as engine:
        assert engine.project_get(project.engine_project_id)
    # The installation's other projects are not a team's to adopt.
    with pytest.raises(ServiceError, match="team's own Neon account"):
        neon_adopt.neon_projects_adoptable(user=ada, connection=shared)


def test_a_limit_neon_shows_by_refusing_is_the_connections(ada, emulator) -> None:
    connection = add(ada, emulator, KEY_A, snapshot_limit="10")
    job = services.project_create(user=ada, name="Tight plan", connection_id=connection.pk)
    jobs_run_queued()
    project = AgentProject.objects.get(pk=job.project_id)
    emulator.snapshot_limit = 1  # the plan allows less than the owner thought
    try:
        services.version_create(project=project, user=ada, prompt="more", sql="CREATE TABLE t ()")
        jobs_run_queued()
    finally:
        emulator.snapshot_limit = None
    assert project.jobs.first().state == Job.State.FAILED
    assert neon_accounts.snapshot_limit_of(connection) == (
        1,
        "learnt when Neon refused a snapshot",
    )
