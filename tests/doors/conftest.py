"""One world for the doors tests: a user with an API token, a task worker (the API waits
with `?wait=true` and MCP tools wait for their jobs as under `make run`), data committed
(the worker and the MCP server's thread see it) and flushed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.core.management import call_command

from checkpoints.models import AgentProject
from tests.api_helpers import token_for
from tests.mcp.conftest import _worker_start
from tests.web_fixtures import engine_project_drop, user_make


@dataclass
class Doors:
    username: str
    token: str


@pytest.fixture(scope="module")
def doors(django_db_setup, django_db_blocker) -> Iterator[Doors]:
    from django.db import connection

    with django_db_blocker.unblock():
        user = user_make("agent")
        stop = _worker_start()
        try:
            yield Doors(username=user.username, token=token_for(user))
        finally:
            stop()
            for project in AgentProject.objects.all():
                engine_project_drop(project)
            call_command("flush", interactive=False, verbosity=0)
            connection.close()
