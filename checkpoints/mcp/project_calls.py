"""MCP calls for projects: list (paged, with your teams), read, create (a job), delete,
connection string and a new password."""

from __future__ import annotations

from typing import Any

from checkpoints import doorframe, services
from checkpoints.mcp.auth import current_token, current_user
from checkpoints.mcp.failures import ToolFailure
from checkpoints.mcp.lookups import project_for, started
from checkpoints.models import Membership, Team
from checkpoints.paging import PageRequest, page_of
from checkpoints.rules import permissions
from checkpoints.serialize import project_json
from checkpoints.tokens import token_projects, token_require_unscoped

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
    return {**doorframe.page_answer(found), "teams": teams}


def project_get(*, project_id: int) -> dict[str, Any]:
    user = current_user()
    project = project_for(user, project_id)
    return project_json(project, role=permissions.role_for(user, project))


def project_delete(*, project_id: int) -> dict[str, Any]:
    """Delete the project for good (owners): its databases, versions and previews."""
    user = current_user()
    project = project_for(user, project_id)
    gone = project_json(project, role=permissions.role_for(user, project))
    services.project_delete(project=project, user=user)
    return gone


def password_rotate(*, project_id: int, reveal: bool = False) -> dict[str, Any]:
    """A new password (owners): the old one stops working, its sessions end."""
    token = current_token()
    project = project_for(token.user, project_id)
    services.project_password_rotate(project=project, user=token.user)
    return doorframe.connection_answer(project, token=token, reveal=reveal)


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
    return doorframe.connection_answer(project, token=token, reveal=reveal)
