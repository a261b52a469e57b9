"""API: move a project to another of its team's connections (owners). A job: 202 +
Location, or its outcome after `?wait=true`; the new connection string is read from
`/connection` once it succeeded (it changed once, at the switch)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from checkpoints.api.http import api_view
from checkpoints.api.inputs import body_as
from checkpoints.api.jobs import job_answer, wait_seconds
from checkpoints.api.lookups import project_of
from checkpoints.services.project_move import project_move
from checkpoints.shapes.requests import ProjectMove


@api_view("POST")
def project_move_api(request: HttpRequest, pk: int) -> JsonResponse:
    project = project_of(request, pk)
    seconds = wait_seconds(request)
    given = body_as(request, ProjectMove)
    job = project_move(project=project, user=request.user, connection_id=given.connection)
    return job_answer(request, job, seconds)
