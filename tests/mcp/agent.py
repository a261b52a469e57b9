"""What an agent does, through the SDK's own client: used over stdio and over HTTP."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from checkpoints.engines.connect import run_sql

ROOT = Path(__file__).resolve().parents[2]

TOOLS = {
    "list_events",
    "restore_before_event",
    "list_protected_tables",
    "protect_table",
    "unprotect_table",
    "move_project",
    "share_version",
    "revoke_share",
    "list_shares",
    "list_previews",
    "get_project",
    "delete_project",
    "rotate_password",
    "rename_version",
    "pin_version",
    "cancel_job",
    "list_projects",
    "create_project",
    "get_connection_string",
    "save_version",
    "list_versions",
    "compare_versions",
    "plan_rollback",
    "rollback_to_version",
    "restore_tables",
    "undo_rollback",
    "delete_version",
    "open_preview",
    "discard_preview",
    "get_job",
    "run_sql",
    "describe_schema",
    "prepare_migration",
    "get_migration",
    "apply_migration",
    "discard_migration",
}
DESTRUCTIVE = {
    "restore_before_event",
    "unprotect_table",
    "move_project",
    "rollback_to_version",
    "restore_tables",
    "undo_rollback",
    "delete_version",
    "discard_preview",
    "revoke_share",
    "apply_migration",
    "delete_project",
    "rotate_password",
    "cancel_job",
    "discard_migration",
}


@asynccontextmanager
async def stdio(token: str, env: dict[str, str]) -> AsyncIterator[Client]:
    """A real `manage.py mcp` subprocess (the token from CHECKPOINTS_TOKEN)."""
    params = StdioServerParameters(
        command=sys.executable,
        args=[str(ROOT / "manage.py"), "mcp"],
        env={**env, "CHECKPOINTS_TOKEN": token},
        cwd=ROOT,
    )
    async with Client(params, read_timeout_seconds=60) as client:
        yield client


@asynccontextmanager
async def http(url: str, token: str | None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http_client:
        transport = streamable_http_client(url, http_client=http_client)
        async with Client(transport, read_timeout_seconds=60) as client:
            yield client


class Session:
    """A connected client plus a record of what it asked and was answered (a transcript)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.transcript: list[str] = []
        self.progress: list[str] = []

    async def call(self, tool: str, /, **arguments: Any):
        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            self.progress.append(message or "")

        started = time.monotonic()
        result = await self.client.call_tool(tool, arguments, progress_callback=on_progress)
        took = (time.monotonic() - started) * 1000
        text = result.content[0].text if result.content else ""
        self.transcript.append(f"→ {tool}({json.dumps(arguments)})\n← {text}  [{took:.0f} ms]")
        return result

    async def ok(self, tool: str, /, **arguments: Any) -> dict[str, Any]:
        result = await self.call(tool, **arguments)
        assert not result.is_error, result.content
        assert result.structured_content is not None
        return result.structured_content

    async def refused(self, tool: str, /, **arguments: Any) -> dict[str, Any]:
        result = await self.call(tool, **arguments)
        assert result.is_error, result
        return (result.structured_content or {}).get("error", {"text": result.content[0].text})


def tables(uri: str) -> set[str]:
    rows = run_sql(uri, "select tablename from pg_tables where schemaname = 'public'")
    return {row[0] for row in rows}


async def agent_loop(session: Session, name: str) -> dict[str, Any]:
    """Project → two versions → diff → rollback (same connection string serves v1) →
    preview of v2 → discard. Returns what the caller may check further."""
    project = (await session.ok("create_project", name=name))["project"]
    assert project["current_version"] == 0
    pid = project["id"]
    masked = await session.ok("get_connection_string", project_id=pid)
    assert masked["masked"] and ":********@" in masked["connection_uri"]
    uri = (await session.ok("get_connection_string", project_id=pid, reveal=True))["connection_uri"]
    assert "********" not in uri and uri.split("@")[1] == masked["connection_uri"].split("@")[1]

    v1 = await session.ok(
        "save_version",
        project_id=pid,
        prompt="Create a todo list",
        sql="create table todos (id serial primary key, title text not null);"
        "insert into todos (title) values ('write tests'), ('ship');",
    )
    assert v1["finished"] and v1["version"]["number"] == 1
    v2 = await session.ok(
        "save_version",
        project_id=pid,
        prompt="Add tags",
        sql="create table tags (id serial primary key, name text);"
        "alter table todos add column done boolean default false;",
    )
    assert v2["version"]["number"] == 2 and v2["version"]["current"]
    assert tables(uri) == {"todos", "tags"}

    versions = await session.ok("list_versions", project_id=pid)
    assert [v["number"] for v in versions["items"]] == [0, 1, 2]

    diff = await session.ok("compare_versions", project_id=pid, from_version=1, to_version=2)
    assert diff["tables_added"] == ["tags"]
    assert diff["tables"]["todos"]["columns_added"] == ["done"]

    plan = await session.ok("plan_rollback", project_id=pid, version=1)
    assert "tags" in plan["summary"] and "done" in plan["summary"]

    nothing = await session.refused("undo_rollback", project_id=pid)
    assert nothing["code"] == "nothing_to_undo", nothing
    rolled = await session.ok("rollback_to_version", project_id=pid, version=1)
    assert rolled["version"]["number"] == 1
    assert rolled["dropped"]["changes"]["tables_removed"] == ["tags"]
    assert "drops" in rolled["dropped"]["summary"]
    again = (await session.ok("get_connection_string", project_id=pid, reveal=True))[
        "connection_uri"
    ]
    assert again == uri
    assert tables(uri) == {"todos"}
    assert run_sql(uri, "select count(*) from todos")[0][0] == 2

    # Undo brings v2 back (tags and done) into the same connection string; undo again: v1.
    undone = await session.ok("undo_rollback", project_id=pid)
    assert undone["version"]["number"] == 2 and tables(uri) == {"todos", "tags"}
    assert "tags" in undone["changed"]["summary"]
    redone = await session.ok("undo_rollback", project_id=pid)
    assert redone["version"]["number"] == 1 and tables(uri) == {"todos"}

    hidden = await session.ok("open_preview", project_id=pid, version=1)
    assert ":********@" in hidden["preview"]["connection_uri"]
    await session.ok("discard_preview", project_id=pid, preview_id=hidden["preview"]["id"])
    opened = await session.ok("open_preview", project_id=pid, version=2, reveal=True)
    preview = opened["preview"]
    assert preview["connection_uri"] != uri and preview["live"]
    assert tables(preview["connection_uri"]) == {"todos", "tags"}
    assert tables(uri) == {"todos"}

    discarded = await session.ok("discard_preview", project_id=pid, preview_id=preview["id"])
    assert discarded["preview"]["live"] is False

    return {"project": pid, "uri": uri}


async def tables_restore_loop(session: Session, name: str) -> None:
    """v1 todos, v2 adds a column; since then a row and a table `notes`: restore only
    todos from v2 (its column and rows) while notes keeps its row."""
    pid = (await session.ok("create_project", name=name))["project"]["id"]
    uri = (await session.ok("get_connection_string", project_id=pid, reveal=True))["connection_uri"]
    await session.ok(
        "save_version",
        project_id=pid,
        prompt="Todos",
        sql="create table todos (id serial primary key, title text not null);"
        "insert into todos (title) values ('write tests'), ('ship');",
    )
    await session.ok(
        "save_version",
        project_id=pid,
        prompt="Done flag",
        sql="alter table todos add column done boolean default false;",
    )
    run_sql(uri, "insert into todos (title) values ('third'); create table notes (n int);")
    run_sql(uri, "insert into notes values (7)")
    restored = await session.ok("restore_tables", project_id=pid, version=1, tables=["todos"])
    assert restored["tables"] == [{"table": "todos", "changes": "drops column done and 1 todo"}]
    assert tables(uri) == {"todos", "notes"}
    assert run_sql(uri, "select count(*) from todos")[0][0] == 2
    assert "done" not in {
        c
        for (c,) in run_sql(
            uri, "select column_name from information_schema.columns where table_name = 'todos'"
        )
    }
    assert run_sql(uri, "select n from notes") == [(7,)]
