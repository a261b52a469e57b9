"""What the team page's Neon card and a project page's Neon notes show (views/neon.py
serves their forms; this module imports no view, so the pages can include it)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from checkpoints.models import AgentProject, Team
from checkpoints.servers.engine_connections import connection_unusable
from checkpoints.services import neon_accounts, neon_adopt


def neon_team_context(request: HttpRequest, team: Team) -> dict[str, Any]:
    """What the team page's Neon card shows (owners manage; others see the accounts)."""
    return {
        "neon_accounts": neon_accounts.neon_accounts_of(team=team),
        "team_connections": list(team.connections.all()),
    }


def neon_project_context(project: AgentProject) -> dict[str, Any]:
    """An adopted project's earlier snapshots; why a project's connection cannot serve it."""
    connection = project.connection
    return {
        "neon_snapshots": neon_adopt.neon_snapshots_importable(project=project),
        "connection_unusable": connection_unusable(connection) if connection else "",
    }
