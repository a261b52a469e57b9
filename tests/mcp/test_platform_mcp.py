"""What a platform gives its agent over MCP (the SDK's client, Streamable HTTP): read-only
and project-scoped tokens, masked passwords, version labels and idempotency keys."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import pytest
from django.contrib.auth import get_user_model

from checkpoints.models import Version
from checkpoints.tokens import token_create
from tests.mcp.agent import Session, http

pytestmark = pytest.mark.django_db


@dataclass
class Platform:
    mine: int  # a project the scoped token reaches
    other: int  # one it does not
    read_only: str
    scoped: str
    no_reveal: str


@pytest.fixture(scope="module")
def platform(http_world, django_db_blocker) -> Platform:
    """Two projects made over MCP by the operator, then tokens of the operator's with
    options (committed: the server under test is another process)."""

    async def make() -> tuple[int, int]:
        async with http(http_world.url, http_world.operator) as client:
            agent = Session(client)
            mine = (await agent.ok("create_project", name="Mine"))["project"]["id"]
            other = (await agent.ok("create_project", name="Other"))["project"]["id"]
            return mine, other

    mine, other = anyio.run(make)
    with django_db_blocker.unblock():
        user = get_user_model().objects.get(username="agent")
        return Platform(
            mine=mine,
            other=other,
            read_only=token_create(user=user, name="reader", read_only=True)[1],
            scoped=token_create(user=user, name="one project", project_ids=[mine])[1],
            no_reveal=token_create(user=user, name="no reveal", can_reveal=False)[1],
        )


def run_as(url: str, token: str, steps):
    async def session():
        async with http(url, token) as client:
            return await steps(Session(client), client)

    return anyio.run(session)


def test_tools_that_change_something_take_an_idempotency_key(http_world, platform):
    async def steps(agent, client):
        return (await client.list_tools()).tools

    tools = run_as(http_world.url, http_world.operator, steps)
    for tool in tools:
        takes_key = "idempotency_key" in tool.input_schema["properties"]
        assert takes_key == (not tool.annotations.read_only_hint), tool.name
    reveal = {t.name for t in tools if "reveal" in t.input_schema["properties"]}
    assert reveal == {"get_connection_string", "open_preview", "rotate_password"}


def test_labels_round_trip_and_a_retried_save_saves_once(http_world, platform):
    pid = platform.mine
    labels = {"git_sha": "3f2a9c1", "agent_run": "7"}

    async def steps(agent, client):
        asked = {"project_id": pid, "prompt": "Add notes", "labels": labels}
        asked |= {"sql": "create table notes (id int)", "idempotency_key": "save-1"}
        first = await agent.ok("save_version", **asked)
        again = await agent.ok("save_version", **asked)
        reused = await agent.refused("save_version", **{**asked, "prompt": "Something else"})
        found = await agent.ok("list_versions", project_id=pid, labels=["git_sha:3f2a9c1"])
        none = await agent.ok("list_versions", project_id=pid, labels=["git_sha:other"])
        bad = await agent.refused("save_version", project_id=pid, prompt="x", labels={"a b": "c"})
        return first, again, reused, found, none, bad

    first, again, reused, found, none, bad = run_as(http_world.url, http_world.operator, steps)
    assert first == again and first["version"]["labels"] == labels
    assert reused["code"] == "idempotency_key_reused"
    assert [v["number"] for v in found["items"]] == [first["version"]["number"]]
    assert found["items"][0]["labels"] == labels and none["items"] == []
    assert bad["code"] == "invalid" and "Label key" in bad["message"]
    assert Version.objects.filter(project_id=pid, prompt="Add notes").count() == 1


def test_a_read_only_token_reads_and_is_refused_every_write(http_world, platform):
    pid = platform.mine

    async def steps(agent, client):
        return {
            "listed": await agent.ok("list_projects"),
            "versions": await agent.ok("list_versions", project_id=pid),
            "uri": await agent.ok("get_connection_string", project_id=pid),
            "save": await agent.refused("save_version", project_id=pid, prompt="x"),
            "create": await agent.refused("create_project", name="x"),
            "rollback": await agent.refused("rollback_to_version", project_id=pid, version=0),
            "preview": await agent.refused("open_preview", project_id=pid, version=0),
        }

    seen = run_as(http_world.url, platform.read_only, steps)
    assert {p["id"] for p in seen["listed"]["items"]} >= {platform.mine, platform.other}
    assert ":********@" in seen["uri"]["connection_uri"]
    for write in ("save", "create", "rollback", "preview"):
        assert seen[write]["code"] == "read_only_token", seen[write]


def test_a_project_scoped_token_finds_only_its_project(http_world, platform):
    async def steps(agent, client):
        return {
            "listed": await agent.ok("list_projects"),
            "mine": await agent.ok("list_versions", project_id=platform.mine),
            "other": await agent.refused("list_versions", project_id=platform.other),
            "uri": await agent.refused("get_connection_string", project_id=platform.other),
            "create": await agent.refused("create_project", name="More"),
        }

    seen = run_as(http_world.url, platform.scoped, steps)
    assert [p["id"] for p in seen["listed"]["items"]] == [platform.mine]
    assert [v["number"] for v in seen["mine"]["items"]][:1] == [0]  # its versions are listed
    assert seen["other"]["code"] == seen["uri"]["code"] == "not_found"
    assert seen["create"]["code"] == "token_scope"


def test_a_token_without_reveal_never_shows_a_password(http_world, platform):
    async def steps(agent, client):
        return await agent.ok("get_connection_string", project_id=platform.mine, reveal=True)

    shown = run_as(http_world.url, platform.no_reveal, steps)
    assert shown["masked"] and ":********@" in shown["connection_uri"]
