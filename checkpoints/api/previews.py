"""API views of previews: list the live ones (paged), open (a job), read, discard (a job)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from checkpoints import doorframe, services
from checkpoints.api.http import api_view
from checkpoints.api.inputs import body_as, query_bool
from checkpoints.api.jobs import job_answer, wait_seconds
from checkpoints.api.listing import list_answer
from checkpoints.api.lookups import preview_of, project_of, version_of
from checkpoints.rules import selectors
from checkpoints.serialize import preview_json
from checkpoints.shapes.requests import PreviewOpen


@api_view("GET", "POST")
def previews(request: HttpRequest, pk: int) -> JsonResponse:
    project = project_of(request, pk)
    if request.method == "POST":
        seconds = wait_seconds(request)
        version = version_of(project, body_as(request, PreviewOpen).version)
        job = services.preview_open(project=project, version=version, user=request.user)
        return job_answer(request, job, seconds)
    live = selectors.previews_live(project=project).order_by("-created_at", "-pk")
    return list_answer(request, live, preview_json)


@api_view("GET", "DELETE")
def preview_detail(request: HttpRequest, pk: int, preview_pk: int) -> JsonResponse:
    """A preview; while it is live, with its connection string for operators and owners
    (the password masked unless `?reveal=true` and the token may reveal)."""
    project = project_of(request, pk)
    reveal = query_bool(request, "reveal") if request.method == "GET" else False
    preview = preview_of(project, preview_pk)
    if request.method == "DELETE":
        seconds = wait_seconds(request)
        job = services.preview_discard(preview=preview, user=request.user)
        return job_answer(request, job, seconds)
    answer = doorframe.preview_answer(
        preview, user=request.user, token=request.api_token, reveal=reveal
    )
    return JsonResponse(answer)
