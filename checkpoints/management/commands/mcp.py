"""`manage.py mcp --token ckp_…`: the MCP server over stdio, as desktop agents launch it.

The token (or `CHECKPOINTS_TOKEN`) is an API token from Settings → API tokens: the agent
acts as its user, with that user's roles. stdout carries only MCP messages; logs go to
stderr. Long actions are run by the task worker (`make run` starts one).
"""

from __future__ import annotations

import os

import anyio
from django.core.management.base import BaseCommand, CommandError, CommandParser

from checkpoints.mcp.auth import TOKEN_ENV, Unauthorized, acting_as, token_check

NO_TOKEN = f"Give an API token: --token ckp_… or the environment variable {TOKEN_ENV}."


class Command(BaseCommand):
    help = "Serve the MCP server over stdio (for agents that launch it as a subprocess)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--token", help=f"An API token (default: the environment variable {TOKEN_ENV})."
        )

    def handle(self, *args: object, **options: object) -> None:
        raw = str(options.get("token") or os.environ.get(TOKEN_ENV, "")).strip()
        if not raw:
            raise CommandError(NO_TOKEN)
        try:
            token_check(raw)
        except Unauthorized as error:
            raise CommandError(error.message) from None
        from django.db import connection

        connection.close()  # the server's calls run on their own thread
        from checkpoints.mcp.server import mcp

        with acting_as(raw):
            anyio.run(mcp.run_stdio_async)
