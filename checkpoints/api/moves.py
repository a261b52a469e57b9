"""API: move a project to another of its team's connections (owners). A job: 202 +
Location, or its outcome after `?wait=true`; the new connection string is read from
`/connection` once it succeeded (it changed once, at the switch)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from checkpoints.api.http import Invalid, api_view
from checkpoints.api.inputs import int_field, json_body
from checkpoints.api.jobs import job_answer, wait_seconds
from checkpoints.api.lookups import project_of
from checkpoints.refusals import MAX_ID
from checkpoints.services.project_move import project_move


@api_view("POST")
def project_move_api(request: HttpRequest, pk: int) -> JsonResponse:
    project = project_of(request, pk)
    seconds = wait_seconds(request)
    data = json_body(request, allowed={"connection"})
    errors: dict[str, str] = {}
    connection_id = int_field(data, "connection", errors, required=True, maximum=MAX_ID)
    if errors:
        raise Invalid(errors)
    job = project_move(project=project, user=request.user, connection_id=connection_id)
    return job_answer(request, job, seconds)
