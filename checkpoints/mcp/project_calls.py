"""MCP calls for projects: list (paged, with your teams), create (a job), connection string."""

from __future__ import annotations

from typing import Any

from checkpoints import permissions, services
from checkpoints.mcp.auth import current_token, current_user
from checkpoints.mcp.failures import ToolFailure
from checkpoints.mcp.lookups import project_for, started
from checkpoints.models import Membership, Team
from checkpoints.paging import PageRequest, page_of
from checkpoints.serialize import project_json
from checkpoints.tokens import token_projects, token_require_unscoped, uri_shown

TEAM_NOT_FOUND = "Team {id} is not one of your teams (list_projects shows your teams)."


def projects_list(*, page: PageRequest | None = None) -> dict[str, Any]:
    token = current_token()
    memberships = Membership.objects.filter(user=token.user).select_related("team")
    roles = {m.team_id: m.role for m in memberships}
    listed = token_projects(token).order_by("-created_at", "-pk")
    found = page_of(
        listed, page or PageRequest(), lambda p: project_json(p, role=roles.get(p.team_id))
    )
    teams = [{"id": m.team_id, "name": m.team.name, "role": m.role} for m in memberships]
    return {"projects": found.items, **found.counts(), "teams": teams}


def project_create(*, name: str, team_id: int | None, connection_id: int | None = None) -> int:
    user = current_user()
    token_require_unscoped(current_token())
    team = None
    if team_id is not None:
        team = Team.objects.filter(pk=team_id, memberships__user=user).first()
        if team is None:
            raise ToolFailure("invalid", TEAM_NOT_FOUND.format(id=team_id))
    return started(
        lambda: services.project_create(
            user=user, name=name, team=team, connection_id=connection_id
        )
    ).pk


def project_connection(*, project_id: int, reveal: bool = False) -> dict[str, Any]:
    """The connection string, its password masked unless `reveal` and the token may."""
    token = current_token()
    project = project_for(token.user, project_id)
    permissions.require(token.user, project, "connection_uri")
    uri = services.project_connection_uri(project=project)
    shown = uri_shown(token, uri, reveal=reveal)
    return {"project": project.pk, "connection_uri": shown, "masked": shown != uri}
