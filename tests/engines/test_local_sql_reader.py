"""The project's SQL reader (run_sql): it reads, and no statement the agent can send writes.

The statements go straight to `sql_read.read`, past the service's own checks: what stops
them here is the reader role and the pinned read-only transaction."""

from __future__ import annotations

import psycopg
import pytest

from checkpoints.engines import sql_read
from checkpoints.engines.sql_read import Caps, SqlReadError, SqlReadTimeout

HOSTILE = (
    # (statement, what PostgreSQL says)
    ("SET TRANSACTION READ WRITE", "must be set before any query"),
    ("SELECT set_config('transaction_read_only', 'off', true)", "must be set before any query"),
    ("SELECT set_config('default_transaction_read_only', 'off', false), wipe()", "read-only"),
    ("SELECT wipe()", "read-only transaction"),  # the agent's SECURITY DEFINER function
    ("SELECT lift_and_wipe()", "must be set before any query"),
    ("SELECT nextval('contacts_id_seq')", "permission denied"),
    ("SELECT setval('contacts_id_seq', 99)", "permission denied"),
    ("COPY contacts FROM STDIN", "read-only|permission denied"),
    ("COPY (SELECT 1) TO PROGRAM 'touch /tmp/x'", "permission denied"),
    ("COPY contacts TO '/tmp/contacts.csv'", "permission denied"),
    ("INSERT INTO contacts (name) VALUES ('Eve')", "read-only|permission denied"),
    (
        "WITH gone AS (DELETE FROM contacts RETURNING 1) SELECT count(*) FROM gone",
        "read-only|permission denied",
    ),
    ("UPDATE contacts SET name = 'x'", "read-only|permission denied"),
    ("CREATE TABLE t (i int)", "read-only|permission denied"),
    ("SET ROLE {owner}", "permission denied"),
    ("SET SESSION AUTHORIZATION {owner}", "permission denied"),
    ("RESET ROLE; DELETE FROM contacts", "multiple commands"),
    ("SELECT 1; DELETE FROM contacts", "multiple commands"),
    ("CALL wipe_all()", "invalid transaction termination"),
    ("SELECT lo_create(0)", "read-only transaction"),
)


def _project(local, sql) -> tuple[str, str]:
    created = local.project_create(name="reads")
    owner_uri = local.connection_uri(created.project.id)
    sql(
        owner_uri,
        "CREATE TABLE contacts (id serial PRIMARY KEY, name text, tags text[]); "
        "INSERT INTO contacts (name, tags) VALUES ('Ada', '{a}'), ('Alan', '{}'), ('Grace', NULL); "
        "CREATE FUNCTION wipe() RETURNS int SECURITY DEFINER LANGUAGE plpgsql AS "
        "$$ BEGIN DELETE FROM contacts; RETURN 1; END $$; "
        "CREATE FUNCTION lift_and_wipe() RETURNS int SECURITY DEFINER LANGUAGE plpgsql AS "
        "$$ BEGIN SET TRANSACTION READ WRITE; DELETE FROM contacts; RETURN 1; END $$; "
        "CREATE PROCEDURE wipe_all() SECURITY DEFINER LANGUAGE plpgsql AS "
        "$$ BEGIN COMMIT; DELETE FROM contacts; END $$",
    )
    return created.project.id, owner_uri


def test_the_reader_reads_with_types_and_never_writes(local, sql):
    project_id, owner_uri = _project(local, sql)
    uri = local.sql_reader_uri(project_id, grant=True)
    read = sql_read.read(
        uri, "SELECT id, name, tags FROM contacts WHERE name LIKE '%' ORDER BY id", Caps()
    )
    assert read.rows == [[1, "Ada", ["a"]], [2, "Alan", []], [3, "Grace", None]]
    assert read.columns == [
        {"name": "id", "type": "integer"},
        {"name": "name", "type": "text"},
        {"name": "tags", "type": "text[]"},
    ]
    owner = psycopg.conninfo.conninfo_to_dict(owner_uri)["user"]
    for statement, said in HOSTILE:
        with pytest.raises(SqlReadError) as refused:
            sql_read.read(uri, statement.format(owner=owner), Caps())
        text = str(refused.value)
        assert any(s in text for s in said.split("|")), (statement, text)
    assert sql(owner_uri, "SELECT count(*) FROM contacts")[0][0] == 3
    assert sql(owner_uri, "SELECT last_value FROM contacts_id_seq")[0][0] == 3
    # The reader also cannot connect with more than it has: it is nobody's member.
    assert sql(uri, "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r "
               "ON r.oid = m.member WHERE r.rolname = current_user")[0][0] == 0  # fmt: skip


def test_caps_hold(local, sql):
    project_id, _ = _project(local, sql)
    uri = local.sql_reader_uri(project_id, grant=True)
    rows = sql_read.read(uri, "SELECT g FROM generate_series(1, 100000) g", Caps(rows=10))
    assert rows.truncated == "rows" and [r[0] for r in rows.rows] == list(range(1, 11))
    big = sql_read.read(
        uri, "SELECT repeat('x', 1000) FROM generate_series(1, 100)", Caps(bytes=5000)
    )
    assert big.truncated == "bytes" and 1 <= len(big.rows) < 5
    # The time cap holds even when the statement lifts its own timeout.
    with pytest.raises(SqlReadTimeout):
        sql_read.read(uri, "SELECT set_config('statement_timeout', '0', true), pg_sleep(30)",
                      Caps(seconds=0.5))  # fmt: skip


def test_a_new_table_is_readable_and_grants_come_back_after_a_rollback(local, sql):
    project_id, owner_uri = _project(local, sql)
    uri = local.sql_reader_uri(project_id, grant=True)
    sql(owner_uri, "CREATE TABLE notes (n int); INSERT INTO notes VALUES (7)")
    assert sql_read.read(uri, "SELECT n FROM notes", Caps()).rows == [[7]]
    branch = local.branch_list(project_id)[0]
    snap = local.snapshot_create(project_id, branch.id, name="s").snapshot
    local.snapshot_restore(project_id, snap.id, target_branch_id=branch.id, finalize_restore=True)
    with pytest.raises(sql_read.ReaderNotGranted):  # CONNECT is not copied by a restore
        sql_read.read(uri, "SELECT 1", Caps())
    again = local.sql_reader_uri(project_id, grant=True)
    assert sql_read.read(again, "SELECT n FROM notes", Caps()).rows == [[7]]


def test_an_exclusive_copy_is_the_readers_alone(local, sql):
    project_id, owner_uri = _project(local, sql)
    branch = local.branch_list(project_id)[0]
    snap = local.snapshot_create(project_id, branch.id, name="s").snapshot
    copy = local.snapshot_restore(project_id, snap.id, target_branch_id=branch.id).branch
    uri = local.sql_reader_uri(project_id, copy.id, exclusive=True)
    assert sql_read.read(uri, "SELECT count(*) FROM contacts", Caps()).rows == [[3]]
    copy_owner = local.sql_owner_uri(project_id, copy.id)
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        psycopg.connect(copy_owner).close()
