"""The engine's sessions on an agent's database are its own (issue 27): search_path pinned
to pg_catalog, lock and statement timeouts the agent cannot lift, also in the sessions
jobs open with the project's connection string (`connect_app`)."""

from __future__ import annotations

import psycopg
import pytest

from checkpoints.engines import connect as connecting
from checkpoints.engines.connect import connect_app, run_sql
from checkpoints.engines.local import LocalEngine
from checkpoints.engines.local.session import SessionLimits


def settings_of(conn: psycopg.Connection) -> tuple:
    return conn.execute(
        "SELECT current_setting('search_path'), current_setting('lock_timeout'), "
        "current_setting('statement_timeout')"
    ).fetchone()


def test_an_engine_session_on_an_agents_database_pins_its_settings(local: LocalEngine):
    made = local.project_create(name="pinned")
    uri = local.connection_uri(made.project.id)
    # What the agent may set for its own sessions does not reach the engine's.
    run_sql(uri, "ALTER ROLE CURRENT_USER SET search_path = public, pg_catalog")
    dbname = psycopg.conninfo.conninfo_to_dict(uri)["dbname"]
    with local._agent_db(dbname) as conn:
        assert settings_of(conn) == ("pg_catalog,pg_temp", "5s", "15min")


def test_session_limits_are_the_engines_choice():
    assert (
        SessionLimits("1s", "2min")
        .options()
        .endswith("-c lock_timeout=1s -c statement_timeout=2min")
    )
    with pytest.raises(ValueError):
        SessionLimits("1s; DROP", "2min")


@pytest.fixture
def bounded(monkeypatch) -> dict[str, str]:
    """APP_TIMEOUTS as the local engine's factory sets them (defaults of the settings)."""
    timeouts = {"lock_timeout": "5s", "statement_timeout": "5min"}
    monkeypatch.setattr(connecting, "APP_TIMEOUTS", dict(timeouts))
    return timeouts


def test_the_local_engines_factory_sets_the_jobs_timeouts(monkeypatch, settings):
    from checkpoints import engines

    monkeypatch.setattr(connecting, "APP_TIMEOUTS", {})
    settings.CHECKPOINTS_ENGINE_LOCK_TIMEOUT = "3s"
    settings.CHECKPOINTS_ENGINE_STATEMENT_TIMEOUT = "20min"
    session = engines.session_limits(settings, "4min")
    assert (session.lock_timeout, session.statement_timeout) == ("3s", "20min")
    assert connecting.APP_TIMEOUTS == {"lock_timeout": "3s", "statement_timeout": "4min"}


def test_a_jobs_session_keeps_its_timeouts_whatever_the_agent_sets(
    local: LocalEngine, bounded: dict[str, str]
):
    made = local.project_create(name="bounded")
    uri = local.connection_uri(made.project.id)
    run_sql(uri, "ALTER ROLE CURRENT_USER SET lock_timeout = 0")
    run_sql(uri, "ALTER ROLE CURRENT_USER SET statement_timeout = 0")
    with connect_app(uri) as conn:
        _, lock, statement = settings_of(conn)
    assert (lock, statement) == (bounded["lock_timeout"], bounded["statement_timeout"])


def test_a_jobs_read_behind_the_agents_lock_fails_instead_of_waiting(
    local: LocalEngine, bounded: dict[str, str], monkeypatch
):
    made = local.project_create(name="locked")
    uri = local.connection_uri(made.project.id)
    run_sql(uri, "CREATE TABLE contacts (id int)")
    monkeypatch.setitem(connecting.APP_TIMEOUTS, "lock_timeout", "100ms")
    with psycopg.connect(uri) as agent:
        agent.execute("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE")
        with connect_app(uri) as job, pytest.raises(psycopg.errors.LockNotAvailable):
            job.execute("SELECT count(*) FROM contacts")
