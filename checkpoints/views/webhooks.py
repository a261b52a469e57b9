"""The team page's webhooks card (owners): add an endpoint, remove it, rotate its secret,
send it a test event. A new secret is shown once, on the page that made it."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from checkpoints import services
from checkpoints.rules import permissions
from checkpoints.services import teams, webhooks
from checkpoints.views.responses import forbidden
from checkpoints.views.teams import _team_render

REMOVED = "Webhook endpoint {url} removed."
TEST_SENT = "Test event queued for {url}: see the deliveries below."


def _owner_team(request: HttpRequest, pk: int):
    team = teams.team_get(user=request.user, pk=pk)
    permissions.require(request.user, team, "webhooks_manage")
    return team


@require_POST
def webhook_add(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        team = _owner_team(request, pk)
        endpoint = webhooks.endpoint_add(
            team=team,
            user=request.user,
            url=request.POST.get("url", ""),
            description=request.POST.get("description", ""),
        )
    except services.NotAllowed as error:
        return forbidden(request, error)
    except services.ServiceError as error:
        messages.error(request, error.message)
        return redirect("team-detail", pk=pk)
    return _team_render(request, team, webhook_secret=(endpoint.pk, endpoint.secret))


def _endpoint_action(request: HttpRequest, pk: int, e: int, action) -> HttpResponse:
    try:
        team = _owner_team(request, pk)
    except services.NotAllowed as error:
        return forbidden(request, error)
    endpoint = webhooks.endpoint_get(team=team, pk=e)
    return action(team, endpoint)


@require_POST
def webhook_remove(request: HttpRequest, pk: int, e: int) -> HttpResponse:
    def remove(team, endpoint) -> HttpResponse:
        webhooks.endpoint_remove(endpoint=endpoint, user=request.user)
        messages.success(request, REMOVED.format(url=endpoint.url))
        return redirect("team-detail", pk=team.pk)

    return _endpoint_action(request, pk, e, remove)


@require_POST
def webhook_rotate(request: HttpRequest, pk: int, e: int) -> HttpResponse:
    def rotate(team, endpoint) -> HttpResponse:
        endpoint = webhooks.endpoint_secret_rotate(endpoint=endpoint, user=request.user)
        return _team_render(request, team, webhook_secret=(endpoint.pk, endpoint.secret))

    return _endpoint_action(request, pk, e, rotate)


@require_POST
def webhook_test(request: HttpRequest, pk: int, e: int) -> HttpResponse:
    def send(team, endpoint) -> HttpResponse:
        webhooks.endpoint_test_send(endpoint=endpoint, user=request.user)
        messages.success(request, TEST_SENT.format(url=endpoint.url))
        return redirect("team-detail", pk=team.pk)

    return _endpoint_action(request, pk, e, send)
