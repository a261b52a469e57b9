"""Restoring some tables of a version (engines/tables.py) on every engine: the version is
opened on a temporary branch, the live database gets those tables in one transaction."""

from __future__ import annotations

import psycopg
import pytest

from checkpoints.engines.base import Engine
from checkpoints.engines.connect import connect
from checkpoints.engines.operations import wait_for_operations
from checkpoints.engines.tables import TablesRefused, tables_restore
from checkpoints.lifecycle.manifest import manifest_read
from tests.engines.test_contract import make_project, snapshot

V1 = """
CREATE TABLE companies (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE contacts (
    id bigserial PRIMARY KEY,
    name text NOT NULL DEFAULT 'anon',
    email text CHECK (email LIKE '%@%'),
    company_id int REFERENCES companies (id)
);
CREATE INDEX contacts_name ON contacts (name);
CREATE TABLE notes (id serial PRIMARY KEY, body text);
INSERT INTO companies (name) VALUES ('Acme'), ('Globex');
INSERT INTO contacts (name, email, company_id) VALUES ('Ada', 'ada@x.io', 1), ('Bob', 'b@x.io', 2);
INSERT INTO notes (body) VALUES ('one');
"""

# After the version: contacts gains a column and rows, notes gains rows, a table is new.
LATER = """
ALTER TABLE contacts ADD COLUMN tags text[];
DROP INDEX contacts_name;
INSERT INTO contacts (name, email, tags) VALUES ('Cy', 'cy@x.io', '{a}'), ('Di', 'd@x.io', '{}');
INSERT INTO notes (body) VALUES ('two'), ('three');
CREATE TABLE audit (id serial PRIMARY KEY, what text);
INSERT INTO audit (what) VALUES ('kept');
"""


def _source(engine: Engine, sql) -> tuple[str, str, str, str]:
    """(pid, live uri, source uri, source branch): v1 snapshotted, LATER applied live,
    v1 opened on a temporary branch with an endpoint (as a table restore opens it)."""
    created = make_project(engine, "tables")
    pid, main = created.project.id, created.branch
    live = engine.connection_uri(pid)
    sql(live, V1)
    snap = snapshot(engine, pid, main.id, "v1")
    sql(live, LATER)
    restore = engine.snapshot_restore(
        pid, snap.id, target_branch_id=main.id, finalize_restore=False, name="tables-v1"
    )
    wait_for_operations(engine, pid, restore.operations, deadline=60)
    made = engine.endpoint_create(pid, restore.branch.id)
    wait_for_operations(engine, pid, made.operations, deadline=60)
    return pid, live, engine.connection_uri(pid, branch_id=restore.branch.id), restore.branch.id


def _manifest(uri: str) -> dict:
    with connect(uri) as conn:
        return manifest_read(conn)["tables"]


def test_one_table_restored_others_keep_their_rows(engine, sql):
    pid, live, source, branch = _source(engine, sql)
    before = _manifest(live)
    with pytest.raises(TablesRefused, match="contacts references companies in the version"):
        tables_restore(source, live, ["contacts"])
    assert _manifest(live) == before  # refused before touching anything
    done = tables_restore(source, live, ["contacts", "companies"])
    assert done.rows == {"public.companies": 2, "public.contacts": 2}
    after, version = _manifest(live), _manifest(source)
    for key in ("public.contacts", "public.companies"):
        assert after[key] == version[key]  # columns, row count, row checksum
    assert after["public.notes"] == before["public.notes"]  # 3 rows, untouched
    assert sql(live, "SELECT what FROM audit") == [("kept",)]
    # Defaults, checks, indexes and the owned sequence are the version's.
    assert sql(live, "INSERT INTO contacts (email) VALUES ('e@x.io') RETURNING id, name") == [
        (3, "anon")
    ]
    with pytest.raises(psycopg.errors.CheckViolation):
        sql(live, "INSERT INTO contacts (email) VALUES ('nope')")
    assert sql(live, "SELECT count(*) FROM pg_indexes WHERE indexname = 'contacts_name'") == [(1,)]
    wait_for_operations(engine, pid, engine.branch_delete(pid, branch), deadline=60)


def test_include_dependencies_follows_foreign_keys(engine, sql):
    pid, live, source, branch = _source(engine, sql)
    done = tables_restore(source, live, ["contacts"], include_dependencies=True)
    assert done.tables == ["public.companies", "public.contacts"]
    assert sql(live, "SELECT count(*) FROM contacts") == [(2,)]
    assert sql(live, "SELECT count(*) FROM notes") == [(3,)]
    wait_for_operations(engine, pid, engine.branch_delete(pid, branch), deadline=60)


def test_a_table_referenced_from_live_is_refused(engine, sql):
    pid, live, source, branch = _source(engine, sql)
    sql(live, "ALTER TABLE audit ADD COLUMN note_id int REFERENCES notes (id)")
    with pytest.raises(TablesRefused, match="audit in the live database references notes"):
        tables_restore(source, live, ["notes"])
    wait_for_operations(engine, pid, engine.branch_delete(pid, branch), deadline=60)


def test_a_failing_copy_leaves_the_live_database_as_it_was(engine, sql):
    pid, live, source, branch = _source(engine, sql)
    before = _manifest(live)
    indexes = sql(live, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")

    def fail_second(table: str) -> None:
        if table == "public.contacts":  # companies was dropped, recreated and copied
            raise RuntimeError("injected: the COPY broke")

    with pytest.raises(RuntimeError, match="injected"):
        tables_restore(source, live, ["companies", "contacts"], before_copy=fail_second)
    assert _manifest(live) == before
    assert sql(live, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1") == (
        indexes
    )
    assert sql(live, "SELECT max(id) FROM contacts") == [(4,)]
    wait_for_operations(engine, pid, engine.branch_delete(pid, branch), deadline=60)


def test_a_connection_lost_midway_leaves_the_live_database_as_it_was(engine, sql):
    """The worker's live connection ends between two tables (as when the worker dies):
    the server rolls the open transaction back."""
    pid, live, source, branch = _source(engine, sql)
    before = _manifest(live)

    def end_the_live_session(table: str) -> None:
        if table == "public.contacts":
            sql(
                live,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND state LIKE 'idle in transaction%'",
            )

    with pytest.raises(psycopg.OperationalError):
        tables_restore(source, live, ["companies", "contacts"], before_copy=end_the_live_session)
    assert _manifest(live) == before
    wait_for_operations(engine, pid, engine.branch_delete(pid, branch), deadline=60)
