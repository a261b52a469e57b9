"""API views of projects: list (paged), create (a job), read, delete, connection string."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from checkpoints import doorframe, services
from checkpoints.api.http import api_view
from checkpoints.api.inputs import body_as, json_body, query_bool
from checkpoints.api.jobs import job_answer, wait_seconds
from checkpoints.api.listing import list_answer
from checkpoints.api.lookups import project_of, role_of
from checkpoints.models import Membership, Team
from checkpoints.rules import permissions
from checkpoints.serialize import project_json
from checkpoints.shapes.requests import ProjectCreate
from checkpoints.tokens import token_projects, token_require_unscoped


@api_view("GET", "POST")
def projects(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        return _project_create(request)
    roles = dict(Membership.objects.filter(user=request.user).values_list("team_id", "role"))
    listed = token_projects(request.api_token).order_by("-created_at", "-pk")
    return list_answer(request, listed, lambda p: project_json(p, role=roles.get(p.team_id)))


def _project_create(request: HttpRequest) -> JsonResponse:
    token_require_unscoped(request.api_token)
    seconds = wait_seconds(request)
    found: dict[str, Team | None] = {}

    def member_of(team_id: int) -> bool:
        found["team"] = Team.objects.filter(pk=team_id, memberships__user=request.user).first()
        return found["team"] is not None

    given = body_as(request, ProjectCreate, member_of=member_of)
    team = found.get("team")
    job = services.project_create(
        user=request.user, name=given.name, team=team, connection_id=given.connection
    )
    return job_answer(request, job, seconds)


@api_view("GET", "DELETE")
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    project = project_of(request, pk)
    if request.method == "DELETE":
        services.project_delete(project=project, user=request.user)
        return HttpResponse(status=204)
    return JsonResponse(project_json(project, role=role_of(request, project)))


@api_view("GET")
def project_connection(request: HttpRequest, pk: int) -> JsonResponse:
    """The stable connection string: operators and owners only. Its password is masked
    unless `?reveal=true` and the token may reveal."""
    project = project_of(request, pk)
    reveal = query_bool(request, "reveal")
    permissions.require(request.user, project, "connection_uri")
    return _connection_answer(request, project, reveal)


def _connection_answer(request: HttpRequest, project, reveal: bool) -> JsonResponse:
    answer = doorframe.connection_answer(project, token=request.api_token, reveal=reveal)
    return JsonResponse(answer)


@api_view("POST")
def project_password_rotate(request: HttpRequest, pk: int) -> JsonResponse:
    """A new password (owners): the old one stops working, its sessions end. Answers the
    new connection string (masked unless `?reveal=true`)."""
    project = project_of(request, pk)
    reveal = query_bool(request, "reveal")
    json_body(request, allowed=set())
    services.project_password_rotate(project=project, user=request.user)
    return _connection_answer(request, project, reveal)


@api_view("POST")
def project_sessions_end(request: HttpRequest, pk: int) -> JsonResponse:
    """End every open session of the project's role (operators): a job that failed on the
    agent's lock (`error.code` "locked") can then run. Answers how many ended."""
    project = project_of(request, pk)
    json_body(request, allowed=set())
    count = services.project_sessions_end(project=project, user=request.user)
    return JsonResponse({"ended": count, "project": project.pk})
