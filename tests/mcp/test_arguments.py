"""MCP argument errors say what the API says for the same value: the tools' arguments are
the API's field types (`shapes.fields`), and their refusals read through `said()`."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from pydantic import ValidationError

from checkpoints.shapes.fields import EMPTY, NUL, TOO_LONG, said
from checkpoints.shapes.requests import ProjectCreate, VersionCreate
from tests.mcp.agent import Session, stdio

pytestmark = pytest.mark.django_db


def _api_says(model: Any, body: dict[str, Any]) -> dict[str, str]:
    """The `details` the API's request body model gives for `body`."""
    try:
        model.model_validate(body)
    except ValidationError as error:
        return said(model, error)
    raise AssertionError(f"{model.__name__} accepted {body!r}")


def test_bad_arguments_get_the_apis_sentences(world):
    long_name, nul_prompt = "n" * 201, "add\x00contacts"

    async def session() -> dict[str, Any]:
        async with stdio(world.operator, world.env) as client:
            agent = Session(client)
            listed = await client.list_tools()
            return {
                "schemas": {tool.name: tool.input_schema for tool in listed.tools},
                "long": await agent.refused("create_project", name=long_name),
                "blank": await agent.refused("create_project", name="   "),
                "nul": await agent.refused("save_version", project_id=1, prompt=nul_prompt),
                "after": await agent.ok("list_projects"),
            }

    seen = anyio.run(session)
    for key in ("long", "blank", "nul"):
        assert seen[key]["code"] == "invalid", seen[key]
    assert seen["long"]["details"] == {"name": TOO_LONG.format(max_length=200)}
    assert seen["long"]["details"] == _api_says(ProjectCreate, {"name": long_name})
    assert seen["blank"]["details"] == {"name": EMPTY}
    assert seen["blank"]["details"] == _api_says(ProjectCreate, {"name": "   "})
    assert seen["nul"]["details"] == {"prompt": NUL}
    assert seen["nul"]["details"] == _api_says(VersionCreate, {"prompt": nul_prompt})
    # The published schema keeps its names and types, and now states the API's limits.
    name = seen["schemas"]["create_project"]["properties"]["name"]
    assert name["type"] == "string" and name["maxLength"] == 200
    prompt = seen["schemas"]["save_version"]["properties"]["prompt"]
    assert prompt["type"] == "string" and prompt["maxLength"] == 10_000
    assert seen["schemas"]["save_version"]["required"] == ["project_id", "prompt"]
    assert seen["after"]["items"] == []
