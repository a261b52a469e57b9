"""The local engine records each destructive statement of the agent where the agent cannot
alter it (engines/local/events_sql.py), refuses them on protected tables, and keeps the
records and the protection across its own save, rollback (hot and cold) and restore."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from checkpoints.engines.connect import run_sql
from checkpoints.engines.errors import EngineNotSupported
from checkpoints.engines.local import LocalEngine
from tests.postgres_plugin import PG_SERVER, engine_url


@pytest.fixture(scope="module")
def recorder(pg_server, tmp_path_factory):
    engine = LocalEngine(
        engine_url(),
        control_db=f"ckt_{uuid.uuid4().hex[:10]}",
        archive_dir=tmp_path_factory.mktemp("cold"),
        reflink=False,
        superuser_url=PG_SERVER.url("postgres"),
    )
    try:
        yield engine
    finally:
        engine.destroy()


@pytest.fixture
def project(recorder):
    made = recorder.project_create(name="events")
    uri = recorder.connection_uri(made.project.id)
    run_sql(uri, "CREATE TABLE contacts (id int PRIMARY KEY, name text, email text)")
    run_sql(uri, "INSERT INTO contacts SELECT g, 'n' || g, g || '@x' FROM generate_series(1, 5) g")
    run_sql(uri, "CREATE TABLE notes (id int, body text)")
    try:
        yield made.project.id, made.branch.id, uri
    finally:
        recorder.project_delete(made.project.id)


def refused(uri: str, statement: str) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as caught:
        run_sql(uri, statement)
    return caught.value


def role_of(uri: str) -> str:
    return run_sql(uri, "SELECT session_user")[0][0]


def xid_of(uri: str, statement: str) -> int:
    """Run `statement` in a transaction and return that transaction's id."""
    with psycopg.connect(uri) as conn:
        xid = conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()[0]
        conn.execute(statement)
    return xid


def test_drop_table_truncate_and_drop_column_are_recorded(recorder, project):
    project_id, _, uri = project
    before = datetime.now(UTC) - timedelta(seconds=1)
    truncate = xid_of(uri, "TRUNCATE notes")
    column = xid_of(uri, "ALTER TABLE contacts DROP COLUMN email")
    drop = xid_of(uri, "DROP TABLE notes")
    events = recorder.statement_events(project_id)
    seen = [(e.command, e.object_type, e.object, e.xid) for e in events]
    assert seen == [
        ("TRUNCATE", "table", "public.notes", truncate),
        ("ALTER TABLE", "table column", "public.contacts.email", column),
        ("DROP TABLE", "table", "public.notes", drop),
    ]
    role = role_of(uri)
    for event in events:
        assert event.role == role
        assert before <= event.at <= datetime.now(UTC)
        assert event.lsn
    # A statement rolled back records nothing.
    with psycopg.connect(uri) as conn:
        conn.execute("DROP TABLE contacts")
        conn.rollback()
    assert len(recorder.statement_events(project_id)) == 3


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM checkpoints_events.statements",
        "UPDATE checkpoints_events.statements SET object = 'x'",
        "INSERT INTO checkpoints_events.statements (command, object_type, object) "
        "VALUES ('DROP TABLE', 'table', 'public.forged')",
        "SELECT checkpoints_events.record('DROP TABLE', 'table', 'public.forged')",
        "DELETE FROM checkpoints_events.protected",
        "DROP SCHEMA checkpoints_events CASCADE",
        "DROP EVENT TRIGGER checkpoints_events_drop",
        "ALTER EVENT TRIGGER checkpoints_events_ddl_end DISABLE",
        "DROP TRIGGER checkpoints_guard ON contacts",
        "ALTER TABLE contacts DISABLE TRIGGER USER",
        "ALTER TABLE contacts ENABLE REPLICA TRIGGER checkpoints_guard",
        "CREATE OR REPLACE TRIGGER checkpoints_guard BEFORE TRUNCATE ON contacts "
        "FOR EACH STATEMENT EXECUTE FUNCTION suppress_redundant_updates_trigger()",
        "SET session_replication_role = replica",
    ],
)
def test_the_agent_cannot_alter_the_records_nor_the_guard(recorder, project, statement):
    project_id, _, uri = project
    run_sql(uri, "TRUNCATE notes")
    refused(uri, statement)
    run_sql(uri, "TRUNCATE contacts")  # the guard still records
    events = recorder.statement_events(project_id)
    assert [(e.command, e.object) for e in events] == [
        ("TRUNCATE", "public.notes"),
        ("TRUNCATE", "public.contacts"),
    ]


def test_a_protected_table_refuses_destruction_and_says_how_to_go_on(recorder, project):
    project_id, _, uri = project
    listed = recorder.table_protect(project_id, "public", "contacts", protect=True)
    assert [(p.key, p.exists) for p in listed] == [("public.contacts", True)]
    for statement, command in [
        ("DROP TABLE contacts", "DROP TABLE"),
        ("TRUNCATE contacts", "TRUNCATE"),
        ("ALTER TABLE contacts DROP COLUMN email", "ALTER TABLE"),
        ("DROP SCHEMA public CASCADE", "DROP SCHEMA"),
    ]:
        error = refused(uri, statement)
        assert error.diag.message_primary == (
            f"{command} refused: table public.contacts is protected by Checkpoints"
        )
        assert "Save a version" in error.diag.message_hint
        assert "lift the protection" in error.diag.message_hint
    run_sql(uri, "ALTER TABLE contacts RENAME TO people")  # renamed, still the same table
    assert refused(uri, "DROP TABLE people").diag.message_primary.startswith("DROP TABLE refused")
    run_sql(uri, "ALTER TABLE people RENAME TO contacts")
    assert run_sql(uri, "SELECT count(*) FROM contacts") == [(5,)]
    run_sql(uri, "DROP TABLE notes")  # others are not protected
    assert recorder.table_protect(project_id, "public", "contacts", protect=False) == []
    run_sql(uri, "DROP TABLE contacts")
    assert [e.object for e in recorder.statement_events(project_id)] == [
        "public.notes",
        "public.contacts",
    ]


def test_protecting_a_missing_table_is_refused(recorder, project):
    from checkpoints.engines.errors import EngineInvalidRequest

    with pytest.raises(EngineInvalidRequest):
        recorder.table_protect(project[0], "public", "nope", protect=True)


@pytest.mark.parametrize("tier", ["hot", "cold", "quiet"])
def test_a_rollback_keeps_the_records_the_recorder_and_the_protection(recorder, project, tier):
    project_id, branch_id, uri = project
    if tier == "quiet":  # an app connected: the save dumps, and the dump carries no recorder
        recorder.table_protect(project_id, "public", "contacts", protect=True)  # before it
        with psycopg.connect(uri) as app:
            snap = recorder.snapshot_create(project_id, branch_id, name="v1").snapshot
            app.execute("SELECT 1")
    else:
        snap = recorder.snapshot_create(project_id, branch_id, name="v1").snapshot
    if tier == "cold":
        recorder.snapshot_freeze(project_id, snap.id)
    if tier != "quiet":
        recorder.table_protect(project_id, "public", "contacts", protect=True)
    run_sql(uri, "DROP TABLE notes")  # recorded in the live database only
    recorder.snapshot_restore(
        project_id, snap.id, target_branch_id=branch_id, finalize_restore=True
    )
    assert run_sql(uri, "SELECT count(*) FROM notes") == [(0,)]  # the old state is back
    assert [e.object for e in recorder.statement_events(project_id)] == ["public.notes"]
    # The restored database records and protects as the live one did.
    assert "protected" in str(refused(uri, "TRUNCATE contacts"))
    run_sql(uri, "TRUNCATE notes")
    run_sql(uri, "CREATE TABLE later (a int)")
    run_sql(uri, "TRUNCATE later")
    events = recorder.statement_events(project_id)
    assert [(e.command, e.object) for e in events] == [
        ("DROP TABLE", "public.notes"),
        ("TRUNCATE", "public.notes"),
        ("TRUNCATE", "public.later"),
    ]


def test_without_a_superuser_the_engine_says_it_does_not_record(pg_server):
    engine = LocalEngine(engine_url(), control_db=f"ckt_{uuid.uuid4().hex[:10]}")
    try:
        assert not engine.supports_statement_events
        made = engine.project_create(name="plain")
        with pytest.raises(EngineNotSupported):
            engine.statement_events(made.project.id)
        with pytest.raises(EngineNotSupported):
            engine.table_protect(made.project.id, "public", "x", protect=True)
    finally:
        engine.destroy()
