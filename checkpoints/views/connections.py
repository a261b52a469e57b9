"""The team page's connections card: where the team's projects can live (kind, server,
projects on each; never a secret), an owner adding a PostgreSQL server by URL (checked
with one connection first) or removing a connection that holds no project."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from checkpoints import services
from checkpoints.models import EngineConnection
from checkpoints.services import team_connections, teams
from checkpoints.views.responses import forbidden
from checkpoints.views.teams import _team_render

ADDED = "Connection “{name}” added ({server}): new projects can live there."


@require_POST
def connection_add(request: HttpRequest, pk: int) -> HttpResponse:
    team = teams.team_get(user=request.user, pk=pk)
    name = request.POST.get("name", "")
    try:
        made = team_connections.connection_create_postgres(
            user=request.user,
            team=team,
            name=name,
            url=request.POST.get("url", ""),
            default=request.POST.get("default") == "on",
        )
    except services.NotAllowed as error:
        return forbidden(request, error)
    except services.ServiceError as error:  # the URL is never echoed back: it holds a password
        return _team_render(
            request, team, status=400, connection_error=error.message, connection_name=name
        )
    messages.success(request, ADDED.format(name=made.name, server=made.server))
    return redirect("team-detail", pk=team.pk)


@require_POST
def connection_remove(request: HttpRequest, pk: int, c: int) -> HttpResponse:
    team = teams.team_get(user=request.user, pk=pk)
    connection = get_object_or_404(EngineConnection, team=team, pk=c)
    try:
        notice = team_connections.connection_remove(user=request.user, connection=connection)
    except services.NotAllowed as error:
        return forbidden(request, error)
    except services.ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, notice)
    return redirect("team-detail", pk=team.pk)
