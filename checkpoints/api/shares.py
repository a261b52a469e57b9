"""API for share links: list, create (the link is answered once), read, revoke.

Same rules as the pages (checkpoints/sharing.py); a link's token is in the create answer
only, never stored.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import reverse

from checkpoints.api.http import MAX_ID, Invalid, api_view, int_field, json_body, not_found
from checkpoints.api.views import _project, _version
from checkpoints.models import ShareLink
from checkpoints.services import sharing


def share_json(share: ShareLink) -> dict[str, Any]:
    def time(value):
        return value.isoformat() if value else None

    return {
        "id": share.pk,
        "version": share.version.number,
        "live": share.is_live,
        "created_by": share.created_by.get_username() if share.created_by else None,
        "created_at": time(share.created_at),
        "expires_at": time(share.expires_at),
        "revoked_at": time(share.revoked_at),
        "open_count": share.open_count,
        "first_opened_at": time(share.first_opened_at),
        "url": reverse("api-share", args=[share.project_id, share.pk]),
    }


@api_view("GET", "POST")
def shares(request: HttpRequest, pk: int) -> JsonResponse:
    project = _project(request, pk)
    if request.method == "POST":
        data = json_body(request, allowed={"version", "hours"})
        errors: dict[str, str] = {}
        number = int_field(data, "version", errors, required=True)
        hours = int_field(data, "hours", errors, required=False, maximum=sharing.MAX_HOURS)
        if hours == 0:
            errors["hours"] = sharing.HOURS_INVALID
        if errors:
            raise Invalid(errors)
        assert number is not None
        created = sharing.share_create(
            version=_version(project, number),
            user=request.user,
            hours=hours or sharing.DEFAULT_HOURS,
        )
        body = share_json(created.share) | {
            "link": request.build_absolute_uri(created.path),
            "token": created.token,
        }
        return JsonResponse(body, status=201)
    live = sharing.shares_live(project=project)
    return JsonResponse({"items": [share_json(share) for share in live]})


@api_view("GET", "DELETE")
def share_detail(request: HttpRequest, pk: int, share_pk: int) -> JsonResponse:
    """A link (live or ended); DELETE revokes it at once and discards its preview."""
    project = _project(request, pk)
    if share_pk > MAX_ID:
        raise not_found()
    shares = project.shares.select_related("version", "created_by", "preview")
    found = shares.filter(pk=share_pk).first()
    if found is None:
        raise not_found()
    if request.method == "DELETE":
        found = sharing.share_revoke(share=found, user=request.user)
    return JsonResponse(share_json(found))
