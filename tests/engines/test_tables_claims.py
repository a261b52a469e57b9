"""Restore tables keeps to the tables chosen and runs the agent's objects as the agent
(issue 27): a trigger carried in a restored table does not fire during the load; a
constraint that writes outside the chosen tables fails the restore and nothing changes;
whatever runs, runs as the project's role; foreign keys child→parent in any name order;
tables named with `"` or `.` restore."""

from __future__ import annotations

import pytest

from checkpoints.engines.base import Engine
from checkpoints.engines.connect import connect
from checkpoints.engines.errors import EngineError
from checkpoints.engines.operations import wait_for_operations
from checkpoints.engines.table_guard import TablesOutside
from checkpoints.engines.tables import tables_restore
from checkpoints.lifecycle.manifest import manifest_read
from tests.engines.test_contract import make_project, snapshot

TROJANS = """
CREATE TABLE outside (what text, who text);
INSERT INTO outside VALUES ('before', current_user);
CREATE TABLE who (who text);
CREATE FUNCTION write_outside() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.outside VALUES ('trigger', current_user); RETURN NEW; END $$;
CREATE FUNCTION record_who(id int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.who VALUES (current_user); RETURN true; END $$;
CREATE TABLE a_child (id int PRIMARY KEY, parent int REFERENCES z_parent (id));
"""


def _project(engine: Engine, sql, version_sql: str, later_sql: str) -> tuple[str, str]:
    """(live uri, source uri): `version_sql` snapshotted, `later_sql` applied live, the
    version opened on a temporary branch with an endpoint (as the job opens it)."""
    created = make_project(engine, "claims")
    pid, main = created.project.id, created.branch
    live = engine.connection_uri(pid)
    sql(live, version_sql)
    snap = snapshot(engine, pid, main.id, "v1")
    if later_sql:
        sql(live, later_sql)
    restore = engine.snapshot_restore(
        pid, snap.id, target_branch_id=main.id, finalize_restore=False, name="tables-v1"
    )
    wait_for_operations(engine, pid, restore.operations, deadline=60)
    made = engine.endpoint_create(pid, restore.branch.id)
    wait_for_operations(engine, pid, made.operations, deadline=60)
    return live, engine.connection_uri(pid, branch_id=restore.branch.id)


def _tables(uri: str) -> dict:
    with connect(uri) as conn:
        return manifest_read(conn)["tables"]


def _role(uri: str) -> str:
    return uri.split("//", 1)[1].split(":", 1)[0]


def test_a_carried_trigger_does_not_fire_during_the_load_and_stays_as_it_was(engine, sql):
    live, source = _project(
        engine,
        sql,
        "CREATE TABLE outside (what text);"
        "CREATE FUNCTION write_outside() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN INSERT INTO public.outside VALUES ('trigger'); RETURN NEW; END $$;"
        "CREATE TABLE t (id int PRIMARY KEY);"
        "CREATE TRIGGER t_out AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION write_outside();"
        "ALTER TABLE t ENABLE ALWAYS TRIGGER t_out;"
        "ALTER TABLE t DISABLE TRIGGER USER; INSERT INTO t SELECT generate_series(1, 5);"
        "ALTER TABLE t ENABLE ALWAYS TRIGGER t_out;",
        "DELETE FROM t; DELETE FROM outside;",
    )
    done = tables_restore(source, live, ["t"])
    assert done.rows == {"public.t": 5}
    assert sql(live, "SELECT count(*) FROM outside") == [(0,)]  # it never fired
    # Kept as the version had it (ENABLE ALWAYS), and it fires again afterwards.
    assert sql(live, "SELECT tgenabled FROM pg_trigger WHERE tgname = 't_out'") == [("A",)]
    sql(live, "INSERT INTO t VALUES (6)")
    assert sql(live, "SELECT what FROM outside") == [("trigger",)]


def test_a_constraint_writing_outside_fails_the_restore_and_nothing_changes(engine, sql):
    live, source = _project(
        engine,
        sql,
        "CREATE TABLE outside (what text);"
        "CREATE FUNCTION sneak(id int) RETURNS boolean LANGUAGE plpgsql AS $$"
        " BEGIN INSERT INTO public.outside VALUES ('check'); RETURN true; END $$;"
        "CREATE TABLE t (id int CHECK (sneak(id)));"
        "INSERT INTO t VALUES (1), (2); DELETE FROM outside;",
        "INSERT INTO t VALUES (3); CREATE TABLE notes (body text); INSERT INTO notes VALUES ('x')",
    )
    before = _tables(live)
    with pytest.raises(TablesOutside, match=r"Nothing was restored.*public\.outside"):
        tables_restore(source, live, ["t"])
    assert _tables(live) == before  # t keeps its 3 rows; outside stays empty


def test_whatever_the_load_runs_runs_as_the_project_role(engine, sql):
    live, source = _project(
        engine,
        sql,
        "CREATE TABLE who (who text);"
        "CREATE FUNCTION record_who(id int) RETURNS boolean LANGUAGE plpgsql AS $$"
        " BEGIN INSERT INTO public.who VALUES (current_user); RETURN true; END $$;"
        "CREATE TABLE t (id int CHECK (record_who(id)));"
        "INSERT INTO t VALUES (1), (2); DELETE FROM who;",
        "DELETE FROM t",
    )
    tables_restore(source, live, ["t", "who"])  # `who` is chosen: writing it is allowed
    assert sql(live, "SELECT DISTINCT who FROM who") == [(_role(live),)]
    assert sql(live, "SELECT count(*) FROM t") == [(2,)]


def test_include_dependencies_child_before_parent_in_name_order(engine, sql):
    live, source = _project(
        engine,
        sql,
        "CREATE TABLE z_parent (id int PRIMARY KEY);"
        "CREATE TABLE a_child (id int PRIMARY KEY, parent int NOT NULL REFERENCES z_parent);"
        "INSERT INTO z_parent VALUES (1), (2); INSERT INTO a_child VALUES (10, 1), (20, 2);",
        "DELETE FROM a_child; DELETE FROM z_parent; INSERT INTO z_parent VALUES (9)",
    )
    done = tables_restore(source, live, ["a_child"], include_dependencies=True)
    assert done.rows == {"public.a_child": 2, "public.z_parent": 2}
    assert sql(live, "SELECT parent FROM a_child ORDER BY id") == [(1,), (2,)]
    with pytest.raises(Exception, match="foreign key"):
        sql(live, "INSERT INTO a_child VALUES (30, 99)")  # the key is back


def test_tables_named_with_quotes_and_dots_restore(engine, sql):
    live, source = _project(
        engine,
        sql,
        'CREATE TABLE "we""ird" (id serial PRIMARY KEY, v text);'
        'CREATE TABLE "a.b" (id int);'
        'CREATE TABLE "a*" (id int);'
        'INSERT INTO "we""ird" (v) VALUES (\'one\'); INSERT INTO "a.b" VALUES (1), (2);',
        'DELETE FROM "we""ird"; DELETE FROM "a.b"; INSERT INTO "a*" VALUES (7)',
    )
    done = tables_restore(source, live, ['public.we"ird', "public.a.b"])
    assert done.rows == {'public.we"ird': 1, "public.a.b": 2}
    assert sql(live, 'SELECT v FROM "we""ird"') == [("one",)]
    assert sql(live, 'SELECT count(*) FROM "a*"') == [(1,)]  # not chosen: untouched


def test_a_privileged_session_is_refused_before_anything_changes(local, sql, pg_server):
    """The load runs the agent's objects as the session's role: never a superuser's."""
    live, source = _project(
        local, sql, "CREATE TABLE t (id int); INSERT INTO t VALUES (1);", "DELETE FROM t"
    )
    as_superuser = pg_server.url(live.rsplit("/", 1)[1])
    with pytest.raises(EngineError, match="privileged role"):
        tables_restore(source, as_superuser, ["t"])
    assert sql(live, "SELECT count(*) FROM t") == [(0,)]
