"""The public read-only view of a shared version, `/s/<token>` (no account): the contact
book as it was at that version, read through the preview branch's read-only role.

`checkpoints.sharing` resolves the token (live, ended, starting) to a read-only
connection string; this page reads the app through it. The public pages are their own
small documents (templates/share/): no link to any other page, no form, no id of
anything, no cookie; `Referrer-Policy: no-referrer`, `noindex`, `no-store` and a strict
Content-Security-Policy on every answer, 410 once the link ended.
"""

from __future__ import annotations

import logging

import psycopg
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from checkpoints.services import sharing
from contacts import repository

logger = logging.getLogger(__name__)

#: The starting page reloads itself this often (seconds) until the view is ready.
STARTING_REFRESH = 1
PUBLIC_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "no-store, private",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
}


def _public(request: HttpRequest, template: str, context: dict, status: int) -> HttpResponse:
    response = render(request, f"share/{template}", context, status=status)
    for name, value in PUBLIC_HEADERS.items():
        response[name] = value
    return response


def _app(request: HttpRequest, view: sharing.ShareView, context: dict) -> HttpResponse:
    """The app read through the link's read-only connection, then the open counted."""
    try:
        context["schema"], context["contacts"] = repository.contacts_list(view.uri)
    except psycopg.Error as exc:
        # The page says "not available", never why (no ids, no URIs).
        logger.warning(
            "share link #%s: reading the preview failed: %s", view.share.pk, type(exc).__name__
        )
        return _not_ready(request, context, starting=False)
    sharing.share_opened(share=view.share)
    return _public(request, "view.html", context, 200)


def _not_ready(request: HttpRequest, context: dict, *, starting: bool) -> HttpResponse:
    context["refresh"] = STARTING_REFRESH if starting else int(sharing.RETRY_AFTER.total_seconds())
    response = _public(request, "starting.html", context, 200 if starting else 503)
    if not starting:
        response["Retry-After"] = str(context["refresh"])
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
    try:
        view = sharing.share_view(share=share)
    except sharing.ShareGone:
        return _public(request, "gone.html", ended, 410)
    context = {"view": view, "share": view.share, "version": view.share.version}
    if view.state != "ready":
        return _not_ready(request, context, starting=view.state == "starting")
    if request.GET.get("starting") == "1":  # ready: back to the link itself, which counts
        response = redirect(request.path)
        response["Referrer-Policy"] = "no-referrer"
        return response
    return _app(request, view, context)
