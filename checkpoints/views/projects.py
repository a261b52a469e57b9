"""Projects: the team's list (home), a new demo project, start over, rotate the
password. The project page itself is `checkpoints.views.page`."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checkpoints import services
from checkpoints.rules import permissions, selectors
from checkpoints.services import teams
from checkpoints.views.responses import confirmed_action


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The current team's projects (the team switcher in the header changes team)."""
    team = teams.team_current(request)
    projects = selectors.projects_for(request.user).filter(team=team)
    context = {
        "projects": projects,
        "team": team,
        "can": permissions.can_for(request.user, team),
        "connections": list(team.connections.all()) if team else [],
    }
    return render(request, "checkpoints/home.html", context)


@require_POST
def project_start_demo(request: HttpRequest) -> HttpResponse:
    """A demo project in the current team (operators and owners)."""
    try:
        job = services.project_start_demo(
            user=request.user,
            team=teams.team_current(request),
            connection_id=request.POST.get("connection") or None,
        )
    except services.NotAllowed:
        raise  # a viewer: 403, as before
    except services.ServiceError as error:  # a connection not of this team
        messages.error(request, error.message)
        return redirect("home")
    return redirect("project-detail", pk=job.project_id)


@require_http_methods(["GET", "POST"])
def project_start_over(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    return confirmed_action(
        request,
        project,
        permission="start_over",
        confirm=lambda: {
            "title": "Start over?",
            "body": "This deletes the engine project with every branch, snapshot and version, "
            "then begins again at v0. The activity log is kept.",
            "action": reverse("project-start-over", args=[project.pk]),
            "confirm_label": "Delete everything and start over",
            "danger": True,
        },
        start=lambda: services.project_start_over(project=project, user=request.user),
    )


@require_http_methods(["GET", "POST"])
def project_password_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    return confirmed_action(
        request,
        project,
        permission="password_rotate",
        confirm=lambda: {
            "title": "Rotate the password?",
            "body": "The connection string gets a new password. The old one stops working at "
            "once and every open session on it ends: apps must use the new string.",
            "action": reverse("project-password-rotate", args=[project.pk]),
            "confirm_label": "Rotate the password",
            "danger": True,
        },
        start=lambda: services.project_password_rotate(project=project, user=request.user),
    )


@require_http_methods(["GET", "POST"])
def project_sessions_end(request: HttpRequest, pk: int) -> HttpResponse:
    """End the project role's sessions (a job failed on the agent's lock)."""
    project = selectors.project_get(user=request.user, pk=pk)
    return confirmed_action(
        request,
        project,
        permission="sessions_end",
        confirm=lambda: {
            "title": "End the project's sessions?",
            "body": "Every open session on the project's connection string ends now, and "
            "the locks they hold are released: apps reconnect with the same string.",
            "action": reverse("project-sessions-end", args=[project.pk]),
            "confirm_label": "End the sessions",
            "danger": True,
        },
        start=lambda: services.project_sessions_end(project=project, user=request.user),
    )
