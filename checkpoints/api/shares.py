"""API for share links: list (paged), create (the link is answered once), read, revoke.

Same rules as the pages (checkpoints/sharing.py); a link's token is in the create answer
only, never stored.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from checkpoints import doorframe
from checkpoints.api.http import api_view
from checkpoints.api.inputs import body_as
from checkpoints.api.listing import list_answer
from checkpoints.api.lookups import project_of, share_of, version_of
from checkpoints.serialize import share_json
from checkpoints.services import sharing
from checkpoints.shapes.requests import ShareCreate


@api_view("GET", "POST")
def shares(request: HttpRequest, pk: int) -> JsonResponse:
    project = project_of(request, pk)
    if request.method == "POST":
        given = body_as(request, ShareCreate)
        created = sharing.share_create(
            version=version_of(project, given.version),
            user=request.user,
            hours=given.hours or sharing.DEFAULT_HOURS,
        )
        body = doorframe.share_created(created, link=request.build_absolute_uri(created.path))
        return JsonResponse(body, status=201)
    live = sharing.shares_live(project=project).order_by("-created_at", "-pk")
    return list_answer(request, live, share_json)


@api_view("GET", "DELETE")
def share_detail(request: HttpRequest, pk: int, share_pk: int) -> JsonResponse:
    """A link (live or ended); DELETE revokes it at once and discards its preview."""
    found = share_of(project_of(request, pk), share_pk)
    if request.method == "DELETE":
        found = sharing.share_revoke(share=found, user=request.user)
    return JsonResponse(share_json(found))
