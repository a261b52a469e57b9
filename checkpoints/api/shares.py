"""API for share links: list (paged), create (the link is answered once), read, revoke.

Same rules as the pages (checkpoints/sharing.py); a link's token is in the create answer
only, never stored.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from checkpoints.api.http import Invalid, api_view
from checkpoints.api.inputs import int_field, json_body
from checkpoints.api.listing import list_answer
from checkpoints.api.lookups import project_of, version_of
from checkpoints.refusals import MAX_ID, not_found
from checkpoints.serialize import share_json
from checkpoints.services import sharing


@api_view("GET", "POST")
def shares(request: HttpRequest, pk: int) -> JsonResponse:
    project = project_of(request, pk)
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
            version=version_of(project, number),
            user=request.user,
            hours=hours or sharing.DEFAULT_HOURS,
        )
        body = share_json(created.share) | {
            "link": request.build_absolute_uri(created.path),
            "token": created.token,
        }
        return JsonResponse(body, status=201)
    live = sharing.shares_live(project=project).order_by("-created_at", "-pk")
    return list_answer(request, live, share_json)


@api_view("GET", "DELETE")
def share_detail(request: HttpRequest, pk: int, share_pk: int) -> JsonResponse:
    """A link (live or ended); DELETE revokes it at once and discards its preview."""
    project = project_of(request, pk)
    if share_pk > MAX_ID:
        raise not_found()
    shares = project.shares.select_related("version", "created_by", "preview")
    found = shares.filter(pk=share_pk).first()
    if found is None:
        raise not_found()
    if request.method == "DELETE":
        found = sharing.share_revoke(share=found, user=request.user)
    return JsonResponse(share_json(found))
