"""SQL tools over MCP (the SDK's own client, a real `manage.py mcp`): run_sql reads and
never writes, its caps hold, reads as of a version, describe_schema, and migrations tried
on a copy: prepare → apply → undo, and an apply refused after a concurrent change."""

from __future__ import annotations

import anyio
import pytest

from checkpoints.engines.connect import run_sql
from tests.mcp.agent import Session, stdio

pytestmark = pytest.mark.django_db

SETUP = (
    "CREATE TABLE contacts (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE);"
    "INSERT INTO contacts (name, email) VALUES ('Ada', 'ada@x'), ('Alan', 'alan@x');"
    "CREATE FUNCTION wipe() RETURNS int SECURITY DEFINER LANGUAGE plpgsql AS "
    "$$ BEGIN DELETE FROM contacts; RETURN 1; END $$;"
    "CREATE FUNCTION lift_and_wipe() RETURNS int SECURITY DEFINER LANGUAGE plpgsql AS "
    "$$ BEGIN SET TRANSACTION READ WRITE; DELETE FROM contacts; RETURN 1; END $$;"
)
#: Every way an agent might try to write through run_sql.
HOSTILE = (
    "SET TRANSACTION READ WRITE",
    "SELECT set_config('transaction_read_only', 'off', true)",
    "SELECT set_config('default_transaction_read_only', 'off', false), wipe()",
    "SELECT wipe()",
    "SELECT lift_and_wipe()",
    "SELECT nextval('contacts_id_seq')",
    "SELECT setval('contacts_id_seq', 100)",
    "COPY contacts FROM STDIN",
    "COPY (SELECT 1) TO PROGRAM 'touch /tmp/checkpoints-pwned'",
    "COPY contacts TO '/tmp/checkpoints-contacts.csv'",
    "INSERT INTO contacts (name) VALUES ('Eve')",
    "WITH gone AS (DELETE FROM contacts RETURNING 1) SELECT count(*) FROM gone",
    "DROP TABLE contacts",
    "RESET ROLE",  # harmless alone: the session's role is the reader itself
    "SET ROLE postgres",
    "SELECT 1; DELETE FROM contacts",
    "COMMIT; DELETE FROM contacts",
    "BEGIN READ WRITE",
)


async def _project(agent: Session, name: str) -> tuple[int, str]:
    pid = (await agent.ok("create_project", name=name))["project"]["id"]
    uri = (await agent.ok("get_connection_string", project_id=pid, reveal=True))["connection_uri"]
    await agent.ok("save_version", project_id=pid, prompt="Contacts", sql=SETUP)
    return pid, uri


def test_run_sql_reads_live_and_never_writes(world):
    async def session() -> tuple[dict, list, dict]:
        env = {
            **world.env,
            "CHECKPOINTS_SQL_MAX_ROWS": "50",
            "CHECKPOINTS_SQL_TIMEOUT_SECONDS": "1",
        }
        async with stdio(world.operator, env) as client:
            agent = Session(client)
            pid, uri = await _project(agent, "Reads")
            read = await agent.ok(
                "run_sql", project_id=pid, sql="SELECT id, name, email FROM contacts ORDER BY id"
            )
            refusals = [
                await agent.refused("run_sql", project_id=pid, sql=statement)
                for statement in HOSTILE
            ]
            capped = await agent.ok(
                "run_sql", project_id=pid, sql="SELECT g FROM generate_series(1, 1000000) g"
            )
            slow = await agent.refused(
                "run_sql",
                project_id=pid,
                sql="SELECT set_config('statement_timeout', '0', true), pg_sleep(60)",
            )
            after = await agent.ok("run_sql", project_id=pid, sql="SELECT count(*) FROM contacts")
            seq = run_sql(uri, "SELECT last_value, is_called FROM contacts_id_seq")
            return read, refusals, {"capped": capped, "slow": slow, "after": after, "seq": seq}

    read, refusals, found = anyio.run(session)
    assert read["rows"] == [[1, "Ada", "ada@x"], [2, "Alan", "alan@x"]]
    assert read["columns"] == [
        {"name": "id", "type": "integer"},
        {"name": "name", "type": "text"},
        {"name": "email", "type": "text"},
    ]
    assert read["read_on"] == "the live database"
    for statement, refusal in zip(HOSTILE, refusals, strict=True):
        assert refusal["code"] in {"sql_refused", "statement_timeout"}, (statement, refusal)
    assert found["after"]["rows"] == [[2]]  # nothing was deleted
    assert found["seq"] == [(2, True)]  # nextval/setval moved nothing
    capped = found["capped"]
    assert capped["row_count"] == 50 and capped["truncated"] == "rows"
    assert found["slow"]["code"] == "statement_timeout"


def test_reads_as_of_v1_see_v1_while_live_is_at_v3(world):
    async def session() -> dict:
        async with stdio(world.operator, world.env) as client:
            agent = Session(client)
            pid, uri = await _project(agent, "As of")
            await agent.ok(
                "save_version",
                project_id=pid,
                prompt="Companies",
                sql="ALTER TABLE contacts ADD COLUMN company text;"
                "INSERT INTO contacts (name) VALUES ('Grace');",
            )
            await agent.ok(
                "save_version",
                project_id=pid,
                prompt="Tags",
                sql="CREATE TABLE tags (id int PRIMARY KEY, label text);",
            )
            found = {
                "v1": await agent.ok(
                    "run_sql",
                    project_id=pid,
                    sql="SELECT name FROM contacts ORDER BY id",
                    version=1,
                ),
                "v1_again": await agent.ok(
                    "run_sql", project_id=pid, sql="SELECT count(*) FROM contacts", version=1
                ),
                "live": await agent.ok(
                    "run_sql", project_id=pid, sql="SELECT count(*) FROM contacts"
                ),
                "schema_v1": await agent.ok("describe_schema", project_id=pid, version=1),
                "schema_live": await agent.ok("describe_schema", project_id=pid),
                "write_v1": await agent.refused(
                    "run_sql", project_id=pid, sql="DELETE FROM contacts", version=1
                ),
                "no_v9": await agent.refused("run_sql", project_id=pid, sql="SELECT 1", version=9),
            }
            found["pid"] = pid
            return found

    found = anyio.run(session)
    assert found["v1"]["rows"] == [["Ada"], ["Alan"]] and found["v1"]["version"] == 1
    assert found["v1"]["read_on"] == "a read-only copy of v1"
    assert found["v1_again"]["rows"] == [[2]]
    assert found["live"]["rows"] == [[3]]
    assert found["write_v1"]["code"] == "sql_refused"
    assert found["no_v9"]["code"] == "not_found"
    v1_tables = {t["name"]: t for t in found["schema_v1"]["tables"]}
    live_tables = {t["name"]: t for t in found["schema_live"]["tables"]}
    assert set(v1_tables) == {"contacts"} and set(live_tables) == {"contacts", "tags"}
    assert [c["name"] for c in v1_tables["contacts"]["columns"]] == ["id", "name", "email"]
    assert "company" in [c["name"] for c in live_tables["contacts"]["columns"]]
    keys = {k["type"] for k in live_tables["contacts"]["keys"]}
    assert {"primary key", "unique"} <= keys
    assert {i["name"] for i in live_tables["contacts"]["indexes"]} == {
        "contacts_pkey",
        "contacts_email_key",
    }
    from checkpoints.models import SqlCopy

    copies = SqlCopy.objects.filter(project_id=found["pid"])
    assert copies.count() == 1  # opened once, reused by the second read and the schema


def test_prepare_apply_undo(world, request):
    async def session() -> tuple[Session, dict]:
        async with stdio(world.operator, world.env) as client:
            agent = Session(client)
            pid, uri = await _project(agent, "Migrate")
            found: dict = {"uri": uri}
            found["failed"] = await agent.refused(
                "prepare_migration",
                project_id=pid,
                sql="ALTER TABLE contacts ADD COLUMN phone text; UPDATE nowhere SET x = 1;",
            )
            prepared = await agent.ok(
                "prepare_migration",
                project_id=pid,
                prompt="Add a phone number",
                sql="ALTER TABLE contacts ADD COLUMN phone text;"
                "INSERT INTO contacts (name, phone) VALUES ('Grace', '555');",
            )
            found["prepared"] = prepared
            found["live_before"] = run_sql(uri, "SELECT count(*) FROM contacts")[0][0]
            mid = prepared["migration"]["id"]
            found["applied"] = await agent.ok("apply_migration", project_id=pid, migration_id=mid)
            found["live_after"] = run_sql(uri, "SELECT count(*) FROM contacts")[0][0]
            found["again"] = await agent.refused(
                "apply_migration", project_id=pid, migration_id=mid
            )
            found["undone"] = await agent.ok("undo_rollback", project_id=pid)
            found["live_undone"] = run_sql(
                uri,
                "SELECT count(*) FROM information_schema.columns "
                "WHERE table_name = 'contacts' AND column_name = 'phone'",
            )[0][0]
            found["rows_undone"] = run_sql(uri, "SELECT count(*) FROM contacts")[0][0]
            return agent, found

    agent, found = anyio.run(session)
    assert found["failed"]["code"] == "sql_failed"
    assert "Statement 2 of 2" in found["failed"]["message"]
    assert "nowhere" in found["failed"]["message"]
    migration = found["prepared"]["migration"]
    assert migration["state"] == "prepared"
    assert migration["changes"]["tables"]["contacts"] == {
        "columns_added": ["phone"],
        "rows_added": 1,
    }
    assert found["live_before"] == 2  # the copy took it, not live
    assert found["applied"]["version"]["number"] == 2
    assert found["live_after"] == 3
    assert found["again"]["code"] == "migration_not_prepared"
    assert found["live_undone"] == 0 and found["rows_undone"] == 2
    print("\n".join(agent.transcript))  # the transcript for the closing note (pytest -s)


def test_apply_is_refused_after_a_concurrent_change(world):
    async def session() -> dict:
        async with stdio(world.operator, world.env) as client:
            agent = Session(client)
            pid, uri = await _project(agent, "Concurrent")
            found = {}
            first = await agent.ok(
                "prepare_migration", project_id=pid, sql="ALTER TABLE contacts ADD COLUMN a int"
            )
            # Someone writes to live through the connection string after the copy.
            run_sql(uri, "INSERT INTO contacts (name) VALUES ('Eve')")
            found["direct"] = await agent.refused(
                "apply_migration", project_id=pid, migration_id=first["migration"]["id"]
            )
            found["direct_cols"] = run_sql(
                uri,
                "SELECT count(*) FROM information_schema.columns "
                "WHERE table_name = 'contacts' AND column_name = 'a'",
            )[0][0]
            second = await agent.ok(
                "prepare_migration", project_id=pid, sql="ALTER TABLE contacts ADD COLUMN b int"
            )
            await agent.ok("save_version", project_id=pid, prompt="Another step")
            found["version"] = await agent.refused(
                "apply_migration", project_id=pid, migration_id=second["migration"]["id"]
            )
            found["discarded"] = await agent.ok(
                "discard_migration", project_id=pid, migration_id=second["migration"]["id"]
            )
            return found

    found = anyio.run(session)
    assert found["direct"]["code"] == "live_changed", found["direct"]
    assert found["direct_cols"] == 0
    assert found["version"]["code"] == "live_changed"
    assert found["discarded"]["migration"]["state"] == "discarded"
