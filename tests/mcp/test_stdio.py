"""The MCP server over stdio: a real `manage.py mcp` subprocess, the SDK's own client."""

from __future__ import annotations

import json

import anyio
import pytest

from checkpoints.models import Activity
from tests.mcp.agent import DESTRUCTIVE, TOOLS, Session, agent_loop, stdio

# Reads only, in a test transaction; what the servers write is committed by them.
pytestmark = pytest.mark.django_db


def test_tools_and_the_agent_loop_over_stdio(world):
    async def session() -> tuple[list, Session, dict]:
        async with stdio(world.operator, world.env) as client:
            tools = (await client.list_tools()).tools
            agent = Session(client)
            found = await agent_loop(agent, "Todo over stdio")

            # A failing statement is named; nothing is applied, no version saved.
            failed = await agent.refused(
                "save_version",
                project_id=found["project"],
                prompt="Oops",
                sql="create table notes (id int); select * from nowhere;",
            )
            assert failed["code"] == "sql_failed"
            assert "Statement 2 of 2" in failed["message"] and "nowhere" in failed["message"]

            # A bad argument is a tool error, and the server goes on answering.
            bad = await agent.call("rollback_to_version", project_id=found["project"], version=-1)
            assert bad.is_error and "version" in bad.content[0].text
            bad = await agent.call("save_version", project_id="seven", prompt="x")
            assert bad.is_error
            # A move to a connection not of the team is refused, readably.
            bad = await agent.call("move_project", project_id=found["project"], connection_id=9999)
            assert bad.is_error and "no such connection" in bad.content[0].text
            templates = (await client.list_resource_templates()).resource_templates
            found["templates"] = {t.uri_template for t in templates}
            manifest = await client.read_resource(
                f"checkpoints://projects/{found['project']}/versions/2/manifest"
            )
            found["manifest"] = manifest.contents[0].text
            timeline = await client.read_resource(
                f"checkpoints://projects/{found['project']}/versions"
            )
            found["timeline"] = json.loads(timeline.contents[0].text)
            listed = await agent.ok("list_versions", project_id=found["project"])
            assert [v["number"] for v in listed["items"]] == [0, 1, 2]
            return tools, agent, found

    tools, agent, found = anyio.run(session)

    assert {tool.name for tool in tools} == TOOLS
    for tool in tools:
        assert tool.description and tool.input_schema["type"] == "object"
        assert tool.annotations.destructive_hint is (tool.name in DESTRUCTIVE), tool.name
    assert any(step.startswith("taking the snapshot") for step in agent.progress)
    assert '"table": "tags"' in found["manifest"] and '"rows": 2' in found["manifest"]
    assert len(found["templates"]) == 2
    timeline = found["timeline"]
    assert [v["number"] for v in timeline["versions"]] == [0, 1, 2]
    assert timeline["project"]["current_version"] == 1 and timeline["live_previews"] == []

    activity = Activity.objects.filter(project_id=found["project"]).select_related("actor")
    kinds = {(a.kind, a.actor.username) for a in activity}
    assert {("start", "agent"), ("create", "agent"), ("rollback", "agent")} <= kinds
    assert {("preview", "agent"), ("discard", "agent"), ("failed", "agent")} <= kinds
    assert all(a.detail.endswith("(via MCP)") for a in activity)


def test_a_long_action_answers_its_job_id_to_poll(world):
    """With no time to wait, a tool answers its job, which get_job then follows."""

    async def session() -> tuple[dict, dict, Session]:
        async with stdio(world.operator, {**world.env, "CHECKPOINTS_MCP_WAIT_SECONDS": "0"}) as c:
            agent = Session(c)
            started = await agent.ok("create_project", name="Polled")
            job = started["job"]
            for _ in range(300):  # as an agent would: poll until it is done
                polled = await agent.ok("get_job", project_id=job["project"], job_id=job["id"])
                if polled["job"]["finished"]:
                    break
                await anyio.sleep(0.1)
            return started, polled, agent

    started, polled, agent = anyio.run(session)
    assert started["finished"] is False and "get_job" in agent.transcript[0]
    assert polled["job"]["state"] == "succeeded" and polled["job"]["version"]["number"] == 0
    assert "still running" in agent.transcript[0] and agent.progress


def test_stdio_refuses_to_start_without_a_valid_token(world):
    import subprocess
    import sys

    from tests.mcp.agent import ROOT

    env = {**world.env, "CHECKPOINTS_TOKEN": "ckp_nope_nope"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "mcp"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "API token" in result.stderr and result.stdout == ""
