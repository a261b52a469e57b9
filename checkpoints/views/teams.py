"""Team pages: the team list, a team's members (owners manage them), the team switcher
and invitations.

A team page of a team the user does not belong to answers 404. Member changes are POSTs;
htmx gets the `#members` region back (with the error inline), others a redirect.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from checkpoints import services
from checkpoints.models import Membership, Team
from checkpoints.rules import permissions
from checkpoints.security.input_guard import int_or_none
from checkpoints.services import team_connections, teams, webhooks
from checkpoints.views import neon_context
from checkpoints.views.responses import forbidden

TEAM_TEMPLATE = "checkpoints/team_detail.html"


@require_http_methods(["GET", "POST"])
def team_list(request: HttpRequest) -> HttpResponse:
    """The user's teams; a POST creates a team (its creator is the owner) and switches to it."""
    error, name, status = "", "", 200
    if request.method == "POST":
        name = request.POST.get("name", "")
        try:
            team = teams.team_create(user=request.user, name=name)
        except services.ServiceError as exc:
            error, status = exc.message, 400
        else:
            teams.team_switch(request, team=team)
            return redirect("team-detail", pk=team.pk)
    memberships = Membership.objects.filter(user=request.user).select_related("team")
    context = {
        "memberships": memberships.order_by("team__name", "team__pk"),
        "invitations": teams.invitations_for(request.user),
        "current": teams.team_current(request),
        "error": error,
        "name": name,
    }
    return render(request, "checkpoints/team_list.html", context, status=status)


@require_POST
def team_switch(request: HttpRequest) -> HttpResponse:
    """Make another of the user's teams the current one, then go home (or to `next`)."""
    raw = request.POST.get("team", "")
    team = teams.team_get(user=request.user, pk=int_or_none(raw) or 0)
    teams.team_switch(request, team=team)
    target = request.POST.get("next") or ""
    if not target.startswith("/") or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}
    ):
        target = ""  # `redirect` would take any other word for a URL name
    return redirect(target or "home")


def _team_render(
    request: HttpRequest,
    team: Team,
    *,
    error: str = "",
    status: int = 200,
    who: str = "",
    notice: str = "",
    webhook_secret: tuple[int, str] | None = None,
    extra: dict | None = None,
    **more: object,
) -> HttpResponse:
    template = TEAM_TEMPLATE
    if request.htmx and not request.htmx.history_restore_request:
        template += "#members"
    can = permissions.can_for(request.user, team)
    context = {
        "team": team,
        "can": can,
        "me": request.user,
        "members": teams.members_of(team),
        "roles": Membership.Role.choices,
        "error": error,
        "notice": notice,
        "who": who,
        "is_current": request.session.get(teams.SESSION_KEY) == team.pk,
        # Owners: the webhooks card (templates/checkpoints/_webhooks.html).
        "endpoints": team.webhook_endpoints.all() if can.webhooks_manage else [],
        "deliveries": webhooks.deliveries_recent(team=team) if can.webhooks_manage else [],
        "webhook_secret": webhook_secret,  # (endpoint id, secret) just made: shown once
        # The connections card (templates/checkpoints/_connections.html): never a secret.
        "connections": team_connections.connections_of(team=team),
        **neon_context.neon_team_context(request, team),  # the Neon card (views/neon.py)
        **(extra or {}),
        **more,
    }
    return render(request, template, context, status=status)


@require_http_methods(["GET"])
def team_detail(request: HttpRequest, pk: int) -> HttpResponse:
    team = teams.team_get(user=request.user, pk=pk)
    return _team_render(request, team)


def _member_done(
    request: HttpRequest, team: Team, notice: str, error: services.ServiceError | None = None
) -> HttpResponse:
    if isinstance(error, services.NotAllowed):
        return forbidden(request, error)
    if request.htmx:
        if error is not None:
            # Invalid input answers 422 (htmx swaps it): the message shows in the region.
            status = 422 if type(error) is services.ServiceError else error.status
            return _team_render(request, team, error=error.message, status=status, who=notice)
        # The page's live region reads the notice out (app.js listens for "announce").
        return trigger_client_event(
            _team_render(request, team, notice=notice), "announce", {"message": notice}
        )
    if error is not None:
        messages.error(request, error.message)
    else:
        messages.success(request, notice)
    return redirect("team-detail", pk=team.pk)


@require_POST
def member_add(request: HttpRequest, pk: int) -> HttpResponse:
    team = teams.team_get(user=request.user, pk=pk)
    who, role = request.POST.get("who", ""), request.POST.get("role", "")
    try:
        notice = teams.member_invite(team=team, by=request.user, who=who, role=role)
    except services.ServiceError as error:
        return _member_done(request, team, who, error)
    return _member_done(request, team, notice)


@require_POST
def invitation_answer(request: HttpRequest, invitation_pk: int, answer: str) -> HttpResponse:
    """The invited user accepts (joins the team) or declines, from their Teams page."""
    invitation = teams.invitation_get(user=request.user, pk=invitation_pk)
    team, role = invitation.team, invitation.role
    if answer == "accept":
        teams.invitation_accept(invitation=invitation, user=request.user)
        messages.success(request, teams.INVITATION_ACCEPTED.format(team=team.name, role=role))
    else:
        teams.invitation_decline(invitation=invitation, user=request.user)
        messages.success(request, teams.INVITATION_DECLINED.format(team=team.name))
    return redirect("team-list")


@require_POST
def member_role(request: HttpRequest, pk: int, member_pk: int) -> HttpResponse:
    team = teams.team_get(user=request.user, pk=pk)
    membership = teams.membership_get(team=team, pk=member_pk)
    role = request.POST.get("role", "")
    try:
        teams.member_set_role(membership=membership, by=request.user, role=role)
    except services.ServiceError as error:
        return _member_done(request, team, "", error)
    name = membership.user.get_username()
    return _member_done(request, team, teams.MEMBER_CHANGED.format(user=name, role=role))


@require_POST
def member_remove(request: HttpRequest, pk: int, member_pk: int) -> HttpResponse:
    """Remove a member (owners), or leave the team (anyone, their own row)."""
    team = teams.team_get(user=request.user, pk=pk)
    membership = teams.membership_get(team=team, pk=member_pk)
    try:
        notice = teams.member_remove(membership=membership, by=request.user)
    except services.ServiceError as error:
        return _member_done(request, team, "", error)
    if membership.user_id == request.user.pk:
        messages.success(request, notice)
        if request.htmx:
            return HttpResponseClientRedirect(reverse("team-list"))
        return redirect("team-list")
    return _member_done(request, team, notice)
