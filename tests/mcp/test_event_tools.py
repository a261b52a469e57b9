"""The MCP tools for destructive statements and protected tables (the SDK's own client, a
real `manage.py mcp`): list_events, protect_table and its refusal in PostgreSQL,
list_protected_tables, unprotect_table, restore_before_event's refusals."""

from __future__ import annotations

import anyio
import psycopg
import pytest

from checkpoints.engines.connect import run_sql
from tests.mcp.agent import Session, stdio

pytestmark = pytest.mark.django_db

SETUP = "CREATE TABLE people (id int PRIMARY KEY, name text); CREATE TABLE notes (id int);"


def test_events_and_protection_over_mcp(world):
    async def session() -> dict:
        async with stdio(world.operator, world.env) as client:
            agent = Session(client)
            pid = (await agent.ok("create_project", name="Events"))["project"]["id"]
            uri = (await agent.ok("get_connection_string", project_id=pid, reveal=True))[
                "connection_uri"
            ]
            await agent.ok("save_version", project_id=pid, prompt="Tables", sql=SETUP)
            run_sql(uri, "DROP TABLE notes")
            listed = await agent.ok("list_events", project_id=pid)
            protected = await agent.ok("protect_table", project_id=pid, table="people")
            try:
                run_sql(uri, "TRUNCATE people")
                refusal = None
            except psycopg.errors.InsufficientPrivilege as error:
                refusal = (error.diag.message_primary, error.diag.message_hint)
            shown = await agent.ok("list_protected_tables", project_id=pid)
            missing = await agent.refused("restore_before_event", project_id=pid, event_id=10**9)
            bad = await agent.refused("protect_table", project_id=pid, table="no such")
            lifted = await agent.ok("unprotect_table", project_id=pid, table="people")
            run_sql(uri, "TRUNCATE people")
            after = await agent.ok("list_events", project_id=pid)
            return locals()

    got = anyio.run(session)
    assert got["listed"]["supported"] is True
    assert [e["label"] for e in got["listed"]["events"]] == ["DROP TABLE notes"]
    assert got["protected"]["tables"][0]["table"] == "public.people"
    primary, hint = got["refusal"]
    assert primary == "TRUNCATE refused: table public.people is protected by Checkpoints"
    assert "Save a version" in hint and "ask a person" in hint
    assert [t["table"] for t in got["shown"]["tables"]] == ["public.people"]
    assert got["missing"]["code"] == "not_found"
    assert got["bad"]["code"] == "invalid"
    assert got["lifted"]["tables"] == []
    assert [e["label"] for e in got["after"]["events"]] == ["TRUNCATE people", "DROP TABLE notes"]
