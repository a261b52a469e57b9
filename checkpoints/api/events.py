"""API views of destructive statements (the timeline's events) and protected tables:
list them, go back to just before one (a job), protect a table or lift its protection."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from checkpoints.api.http import api_view
from checkpoints.api.inputs import body_as, json_body
from checkpoints.api.jobs import job_answer, wait_seconds
from checkpoints.api.lookups import project_of
from checkpoints.models import StatementEvent
from checkpoints.paging import page_of, page_request
from checkpoints.refusals import MAX_ID, not_found
from checkpoints.serialize import event_json, protected_json
from checkpoints.services import events
from checkpoints.shapes.requests import TableName


@api_view("GET")
def events_list(request: HttpRequest, pk: int) -> JsonResponse:
    """The project's recorded destructive statements, newest first (paged)."""
    project = project_of(request, pk)
    answer = events.events_list(project=project, user=request.user)
    page = page_of(answer.events, page_request(request.GET), event_json)
    return JsonResponse(
        {
            "supported": answer.supported,
            "note": answer.note,
            "count": page.count,
            "page": page.number,
            "per_page": page.per_page,
            "items": page.items,
        }
    )


@api_view("POST")
def event_restore_before(request: HttpRequest, pk: int, event_pk: int) -> JsonResponse:
    """Go back to just before the statement's transaction (a job; undo it with
    `rollback/undo`)."""
    project = project_of(request, pk)
    seconds = wait_seconds(request)
    json_body(request, allowed=set())
    event = None
    if event_pk <= MAX_ID:
        event = StatementEvent.objects.filter(project=project, pk=event_pk).first()
    if event is None:
        raise not_found()
    job = events.event_restore_before(project=project, event=event, user=request.user)
    return job_answer(request, job, seconds)


@api_view("GET", "POST")
def protected_tables(request: HttpRequest, pk: int) -> JsonResponse:
    """GET: the protected tables. POST `{"table": "contacts"}`: protect one (operators)."""
    project = project_of(request, pk)
    if request.method == "POST":
        listed = events.table_protect(
            project=project, user=request.user, table=_table(request), protect=True
        )
    else:
        listed = events.tables_protected(project=project, user=request.user)
    return JsonResponse({"items": [protected_json(t) for t in listed]})


@api_view("POST")
def protected_tables_lift(request: HttpRequest, pk: int) -> JsonResponse:
    """POST `{"table": "contacts"}`: lift its protection (owners only)."""
    project = project_of(request, pk)
    listed = events.table_protect(
        project=project, user=request.user, table=_table(request), protect=False
    )
    return JsonResponse({"items": [protected_json(t) for t in listed]})


def _table(request: HttpRequest) -> str:
    return body_as(request, TableName).table
