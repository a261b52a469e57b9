"""The local engine's read-only roles (share links): reading works, nothing else does."""

from __future__ import annotations

import psycopg
import pytest

from checkpoints.engines.errors import EngineNotFound, EngineNotSupported
from checkpoints.engines.local.readonly import role_prefix
from checkpoints.engines.neon import NeonEngine


def _preview_of(local, sql):
    """A project with one table and a row, snapshotted, restored to a preview branch."""
    created = local.project_create(name="share")
    project_id = created.project.id
    sql(
        local.connection_uri(project_id),
        "CREATE TABLE contacts (id int PRIMARY KEY, name text); "
        "INSERT INTO contacts VALUES (1, 'Ada'); "
        "CREATE FUNCTION wipe() RETURNS void SECURITY DEFINER LANGUAGE sql "
        "AS 'DELETE FROM contacts'",
    )
    snap = local.snapshot_create(project_id, created.branch.id, name="v1").snapshot
    branch = local.snapshot_restore(project_id, snap.id, target_branch_id=created.branch.id).branch
    local.endpoint_create(project_id, branch.id)
    return project_id, branch.id


def _refused(uri: str, statement: str, *, read_only_off: bool = True) -> str:
    """The error `statement` gets, after the role turned its read-only default off."""
    with psycopg.connect(uri, autocommit=True) as conn:
        if read_only_off:
            conn.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.Error) as caught:
            conn.execute(statement)
    return str(caught.value)


def test_readonly_role_reads_and_cannot_write(local, sql):
    project_id, branch_id = _preview_of(local, sql)
    local.readonly_role_ensure(project_id, branch_id)
    local.readonly_role_ensure(project_id, branch_id)  # idempotent
    uri = local.readonly_connection_uri(project_id, branch_id)
    assert sql(uri, "SELECT name FROM contacts") == [("Ada",)]
    update = "UPDATE contacts SET name = 'x'"
    assert "read-only transaction" in _refused(uri, update, read_only_off=False)
    # The grants, not the setting, are what stops it: the role may turn the setting off.
    for statement in (
        "INSERT INTO contacts VALUES (2, 'Eve')",
        update,
        "DELETE FROM contacts",
        "CREATE TABLE t (i int)",
        "CREATE TEMP TABLE t (i int)",
        "SELECT wipe()",
        "DROP TABLE contacts",
        "TRUNCATE contacts",
    ):
        error = _refused(uri, statement)
        assert "permission denied" in error or "must be owner" in error, (statement, error)
    owner = local.connection_uri(project_id, branch_id=branch_id)
    assert sql(owner, "SELECT count(*) FROM contacts") == [(1,)]
    role = uri.split("://")[1].split(":")[0]
    assert role.startswith(role_prefix(local.names))
    rows = sql(
        owner,
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolconnlimit FROM pg_roles "
        "WHERE rolname = %s",
        (role,),
    )
    assert rows == [(False, False, False, 10)]
    owned = "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = %s)"
    assert sql(owner, owned, (role,)) == [(0,)]

    # It opens no other database of the engine: not the active branch.
    active_db = local.connection_uri(project_id).rsplit("/", 1)[1]
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        psycopg.connect(uri.rsplit("/", 1)[0] + "/" + active_db).close()

    # It goes with its branch.
    local.branch_delete(project_id, branch_id)
    assert (
        sql(local.connection_uri(project_id), "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        == []
    )
    with pytest.raises(EngineNotFound):
        local.readonly_connection_uri(project_id, branch_id)


def test_project_delete_drops_readonly_roles(local, sql):
    project_id, branch_id = _preview_of(local, sql)
    local.readonly_role_ensure(project_id, branch_id)
    role = local.readonly_connection_uri(project_id, branch_id).split("://")[1].split(":")[0]
    local.recover()  # a live read-only role is no leftover: recover leaves it
    assert local.readonly_connection_uri(project_id, branch_id)
    local.project_delete(project_id)
    with psycopg.connect(local._server_conninfo) as conn:
        assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchall() == []


def test_neon_engine_refuses_readonly_roles_clearly():
    neon = NeonEngine("napi_unused", api_url="http://127.0.0.1:9/api/v2")
    assert neon.supports_readonly_roles is False
    for call in (neon.readonly_role_ensure, neon.readonly_connection_uri):
        with pytest.raises(EngineNotSupported, match="neon engine cannot make read-only roles"):
            call("p", "b")
