"""Share links: the Share… dialog and the links card on the project page (members), and
the public read-only view `/s/<token>` (no account). Control flow only: see
`checkpoints.sharing` for the rules.

The public pages are their own small documents (templates/share/): no link to any other
page, no form, no id of anything, no cookie; `Referrer-Policy: no-referrer`, `noindex`,
`no-store` and a strict Content-Security-Policy on every answer, 410 once the link ended.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import retarget, trigger_client_event

from checkpoints import permissions, selectors, services
from checkpoints.models import AgentProject
from checkpoints.services import sharing

DIALOG = "share/_dialog.html"
CARD = "share/_shares.html#shares"
#: Expiry choices of the dialog (hours, label); the API and CLI take any 1..168.
EXPIRY_CHOICES = [(1, "1 hour"), (8, "8 hours"), (24, "24 hours"), (72, "3 days"), (168, "7 days")]
#: The starting page reloads itself this often (seconds) until the view is ready.
STARTING_REFRESH = 1
PUBLIC_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "no-store, private",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
}


# Members ---------------------------------------------------------------------------------


def shares_context(project: AgentProject) -> dict:
    """What the project page's share links card needs."""
    return {"shares": list(sharing.shares_live(project=project))}


def _card(request: HttpRequest, project: AgentProject, status: int = 200) -> HttpResponse:
    context = {
        "project": project,
        "can": permissions.can_for(request.user, project),
        **shares_context(project),
    }
    return render(request, CARD, context, status=status)


@require_http_methods(["GET", "POST"])
def version_share(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """GET: the Share… dialog; POST: make the link and show it once."""
    project = selectors.project_get(user=request.user, pk=pk)
    version = selectors.version_get(project=project, number=number)
    context: dict = {
        "project": project,
        "version": version,
        "choices": EXPIRY_CHOICES,
        "hours": sharing.DEFAULT_HOURS,
    }
    template = DIALOG + ("#share-dialog" if request.htmx else "")
    if request.method == "GET":
        permissions.require(request.user, project, "share_create")
        return render(request, template, context)
    raw = request.POST.get("hours", "")
    hours = int(raw) if raw.isdigit() and len(raw) < 6 else 0
    try:
        created = sharing.share_create(version=version, user=request.user, hours=hours)
    except services.NotAllowed:
        raise
    except services.ServiceError as error:
        context.update(error=error.message, hours=hours or sharing.DEFAULT_HOURS)
        return render(request, template, context, status=422)
    context.update(created=created, url=request.build_absolute_uri(created.path))
    response = render(request, template, context, status=201 if request.htmx else 200)
    return trigger_client_event(response, "shareCreated") if request.htmx else response


@require_GET
def project_shares(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    if not request.htmx:
        return redirect("project-detail", pk=project.pk)
    return _card(request, project)


@require_POST
def share_revoke(request: HttpRequest, pk: int, share_pk: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    share = sharing.share_get(project=project, pk=share_pk)
    sharing.share_revoke(share=share, user=request.user)
    if not request.htmx:
        return redirect("project-detail", pk=project.pk)
    return retarget(_card(request, project), "#shares")


# The public view ---------------------------------------------------------------------------


def _public(request: HttpRequest, template: str, context: dict, status: int) -> HttpResponse:
    response = render(request, f"share/{template}", context, status=status)
    for name, value in PUBLIC_HEADERS.items():
        response[name] = value
    return response


@login_not_required
@require_GET
def shared_view(request: HttpRequest, token: str) -> HttpResponse:
    """The version's app, read-only, for anyone holding the link."""
    share = sharing.share_find(token=token)
    if share is None:
        return _public(request, "gone.html", {"title": "Link not found"}, 404)
    ended = {"title": "This link has ended"}
    if not share.is_live:
        return _public(request, "gone.html", ended, 410)
    if not sharing.share_rate_allowed(share=share):
        response = _public(request, "gone.html", {"title": "Too many requests"}, 429)
        response["Retry-After"] = "60"
        return response
    polling = request.GET.get("starting") == "1"
    try:
        view = sharing.share_view(share=share, count=not polling)
    except sharing.ShareGone:
        return _public(request, "gone.html", ended, 410)
    context = {"view": view, "share": view.share, "version": view.share.version}
    if view.state == "ready":
        if polling:  # ready: back to the link itself, which counts as an open
            response = redirect(request.path)
            response["Referrer-Policy"] = "no-referrer"
            return response
        return _public(request, "view.html", context, 200)
    starting = view.state == "starting"
    context["refresh"] = STARTING_REFRESH if starting else int(sharing.RETRY_AFTER.total_seconds())
    response = _public(request, "starting.html", context, 200 if starting else 503)
    if not starting:
        response["Retry-After"] = str(context["refresh"])
    return response
