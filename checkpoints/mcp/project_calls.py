"""MCP calls for projects: list (paged, with your teams), create (a job), connection string."""

from __future__ import annotations

from typing import Any

from checkpoints import permissions, selectors, services
from checkpoints.mcp.auth import current_user
from checkpoints.mcp.failures import ToolFailure
from checkpoints.mcp.lookups import project_for, started
from checkpoints.models import Membership, Team
from checkpoints.paging import PageRequest, page_of
from checkpoints.serialize import project_json

TEAM_NOT_FOUND = "Team {id} is not one of your teams (list_projects shows your teams)."


def projects_list(*, page: PageRequest | None = None) -> dict[str, Any]:
    user = current_user()
    memberships = Membership.objects.filter(user=user).select_related("team")
    roles = {m.team_id: m.role for m in memberships}
    listed = selectors.projects_for(user).order_by("-created_at", "-pk")
    found = page_of(
        listed, page or PageRequest(), lambda p: project_json(p, role=roles.get(p.team_id))
    )
    teams = [{"id": m.team_id, "name": m.team.name, "role": m.role} for m in memberships]
    return {"projects": found.items, **found.counts(), "teams": teams}


def project_create(*, name: str, team_id: int | None, connection_id: int | None = None) -> int:
    user = current_user()
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


def project_connection(*, project_id: int) -> dict[str, Any]:
    user = current_user()
    project = project_for(user, project_id)
    permissions.require(user, project, "connection_uri")
    uri = services.project_connection_uri(project=project)
    return {"project": project.pk, "connection_uri": uri}
