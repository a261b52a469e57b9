"""The MCP server over Streamable HTTP at /mcp, served by gunicorn (gthread) as `make run`
serves it, driven by the SDK's own client with an API token."""

from __future__ import annotations

import anyio
import httpx
import pytest
from django.utils import timezone
from mcp.shared.exceptions import MCPError

from checkpoints.errors import PROJECT_NOT_FOUND
from checkpoints.models import Activity, ShareLink
from checkpoints.services import sharing
from checkpoints.shapes.fields import NUL
from tests.mcp.agent import TOOLS, Session, agent_loop, http, tables_restore_loop

pytestmark = pytest.mark.django_db

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "curl", "version": "1"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def loop_done(http_world) -> dict:
    """The agent loop once over HTTP (the operator), for the tests below to build on."""

    async def session() -> dict:
        async with http(http_world.url, http_world.operator) as client:
            agent = Session(client)
            found = await agent_loop(agent, "Todo over HTTP")
            found["tools"] = (await client.list_tools()).tools
            found["transcript"] = agent.transcript
            found["progress"] = agent.progress
            return found

    found = anyio.run(session)
    found["finished_at"] = timezone.now()  # what later tests add is not the loop's
    return found


def test_the_agent_loop_over_http(loop_done):
    assert {tool.name for tool in loop_done["tools"]} == TOOLS
    # Progress notifications stream over HTTP too, one per step of each job.
    assert any(step.startswith("taking the snapshot") for step in loop_done["progress"])
    assert any(step.startswith("verifying") for step in loop_done["progress"])
    # The loop's own activity (a test sharing a version may have run before this one).
    activity = Activity.objects.filter(
        project_id=loop_done["project"], created_at__lte=loop_done["finished_at"]
    ).select_related("actor")
    assert {a.actor.username for a in activity} == {"agent"}
    assert {a.kind for a in activity} >= {"start", "create", "rollback", "preview", "discard"}
    assert all(a.detail.endswith("(via MCP)") for a in activity)


def test_without_a_valid_token_401_like_the_api(http_world):
    for headers in ({}, {"Authorization": "Bearer ckp_nope_nope"}, {"Authorization": "Basic x"}):
        response = httpx.post(http_world.url, json=INITIALIZE, headers={**ACCEPT, **headers})
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    # Stateless: no stream to open, no session to delete.
    token = {"Authorization": f"Bearer {http_world.operator}"}
    assert httpx.get(http_world.url, headers={**ACCEPT, **token}).status_code == 405


def test_a_viewer_lists_and_reads_but_cannot_act(http_world, loop_done):
    pid = loop_done["project"]

    async def session() -> dict:
        async with http(http_world.url, http_world.viewer) as client:
            agent = Session(client)
            projects = await agent.ok("list_projects")
            versions = await agent.ok("list_versions", project_id=pid)
            diff = await agent.ok("compare_versions", project_id=pid, from_version=0, to_version=2)
            refusals = {
                "rollback": await agent.refused("rollback_to_version", project_id=pid, version=2),
                "undo": await agent.refused("undo_rollback", project_id=pid),
                "save": await agent.refused(
                    "save_version", project_id=pid, prompt="x", sql="select 1"
                ),
                "preview": await agent.refused("open_preview", project_id=pid, version=1),
                "uri": await agent.refused("get_connection_string", project_id=pid),
                "delete": await agent.refused("delete_version", project_id=pid, version=1),
                "tables": await agent.refused(
                    "restore_tables", project_id=pid, version=1, tables=["todos"]
                ),
            }
            return {"projects": projects, "versions": versions, "diff": diff, **refusals}

    seen = anyio.run(session)
    assert [p["role"] for p in seen["projects"]["items"] if p["id"] == pid] == ["viewer"]
    assert len(seen["versions"]["items"]) == 3
    assert seen["diff"]["tables_added"] == ["tags", "todos"]
    for refusal in ("rollback", "undo", "save", "preview", "uri", "delete", "tables"):
        assert seen[refusal]["code"] == "forbidden", seen[refusal]
        assert "viewer" in seen[refusal]["message"]


def test_another_teams_project_is_not_found_and_bad_arguments_are_tool_errors(
    http_world, loop_done
):
    pid = loop_done["project"]

    async def session() -> dict:
        async with http(http_world.url, http_world.stranger) as client:
            agent = Session(client)
            return {
                "listed": await agent.ok("list_projects"),
                "versions": await agent.refused("list_versions", project_id=pid),
                "rollback": await agent.refused("rollback_to_version", project_id=pid, version=1),
                "job": await agent.refused("get_job", project_id=pid, job_id=1),
                "missing": await agent.refused("list_versions", project_id=2**70),
                "negative": await agent.call("open_preview", project_id=pid, version=-3),
                "typed": await agent.call("compare_versions", project_id="x", from_version=0),
                "after": await agent.ok("list_projects"),
                "resource": await _read_refused(
                    client, f"checkpoints://projects/{pid}/versions/1/manifest"
                ),
            }

    seen = anyio.run(session)
    assert seen["listed"]["items"] == []
    for key in ("versions", "rollback", "job", "missing"):
        assert seen[key]["code"] == "not_found", seen[key]
    assert seen["versions"]["message"] == seen["rollback"]["message"]
    # The same sentence as the API, the pages and the command line.
    assert seen["versions"]["message"] == PROJECT_NOT_FOUND.format(id=pid)
    # Argument errors: the API's `invalid`, per argument, not pydantic's dump.
    for key, argument in (("negative", "version"), ("typed", "project_id")):
        assert seen[key].is_error
        error = seen[key].structured_content["error"]
        assert error["code"] == "invalid" and argument in error["details"], error
        assert seen[key].content[0].text.startswith(f"Invalid arguments: {argument}")
        assert "pydantic" not in seen[key].content[0].text
    assert seen["after"]["items"] == []
    assert "not_found" in seen["resource"]


async def _read_refused(client, uri: str) -> str:
    with pytest.raises(MCPError) as refused:
        await client.read_resource(uri)
    return str(refused.value)


def test_share_a_version_then_revoke_it(http_world, loop_done):
    """An operator shares v1 over MCP and revokes it; a viewer may not share."""
    pid = loop_done["project"]

    async def session(token: str, call) -> dict:
        async with http(http_world.url, token) as client:
            return await call(Session(client))

    async def share(agent: Session) -> dict:
        return await agent.ok("share_version", project_id=pid, version=1, hours=2)

    async def refused(agent: Session) -> dict:
        return await agent.refused("share_version", project_id=pid, version=1)

    shared = anyio.run(session, http_world.operator, share)["share"]
    assert shared["path"].startswith("/s/") and shared["token"] in shared["path"]
    assert shared["version"] == 1 and shared["live"] is True
    link = ShareLink.objects.get(pk=shared["id"])
    assert link.token_hash == sharing.token_hash(shared["token"])  # only the hash is kept

    async def revoke(agent: Session) -> dict:
        return await agent.ok("revoke_share", project_id=pid, share_id=shared["id"])

    revoked = anyio.run(session, http_world.operator, revoke)["share"]
    assert revoked["live"] is False and revoked["revoked_at"]
    viewer = anyio.run(session, http_world.viewer, refused)
    assert viewer["code"] == "forbidden"


def test_restore_only_one_table(http_world):
    async def session() -> None:
        async with http(http_world.url, http_world.operator) as client:
            await tables_restore_loop(Session(client), "Tables over HTTP")

    anyio.run(session)


def test_a_nul_character_in_a_tool_argument_is_a_tool_error(http_world, loop_done):
    """Issue 27: a NUL in save_version's prompt was an unhandled error."""
    pid = loop_done["project"]

    async def session() -> dict:
        async with http(http_world.url, http_world.operator) as client:
            agent = Session(client)
            return {
                "prompt": await agent.refused("save_version", project_id=pid, prompt="a\x00b"),
                "sql": await agent.refused(
                    "save_version", project_id=pid, prompt="ok", sql="select '\x00'"
                ),
                "tables": await agent.refused(
                    "restore_tables", project_id=pid, version=1, tables=["to\x00dos"]
                ),
                "after": await agent.ok("list_versions", project_id=pid),
            }

    seen = anyio.run(session)
    for key in ("prompt", "sql", "tables"):
        assert seen[key]["code"] == "invalid", seen[key]
        # The API's sentence, per argument, whether the argument's type or a later guard
        # refused it.
        assert seen[key]["details"] == {key: NUL}, seen[key]
        assert seen[key]["message"] == f"Invalid arguments: {key}: {NUL}"
    assert seen["after"]["items"]
