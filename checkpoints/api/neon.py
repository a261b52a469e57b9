"""API views of a team's Neon accounts (owners): list, add (the key checked with one read
call), remove the key; the account's projects to adopt, adopting one (a job); importing
a database from a URL as a new project (a job); importing an adopted project's earlier
snapshot as a version. No answer ever holds a key or a source URL."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from checkpoints import services
from checkpoints.api.http import api_view
from checkpoints.api.inputs import body_as
from checkpoints.api.jobs import job_answer, wait_seconds
from checkpoints.api.lookups import project_of
from checkpoints.models import EngineConnection, Team
from checkpoints.rules import permissions
from checkpoints.serialize import version_json
from checkpoints.services import db_import, neon_accounts, neon_adopt, teams
from checkpoints.shapes.requests import DatabaseImport, NeonAccountCreate, NeonAdopt
from checkpoints.tokens import token_require_unscoped


def account_json(connection: EngineConnection) -> dict[str, Any]:
    """An account as answered: never its key."""
    limit, source = neon_accounts.snapshot_limit_of(connection)
    options = connection.options or {}
    return {
        "id": connection.pk,
        "name": connection.name,
        "api_url": connection.server,
        "org_id": options.get("org_id") or None,
        "installation": bool(options.get("installation")),
        "has_key": bool(connection.secret) or bool(options.get("installation")),
        "unusable": getattr(connection, "unusable", "") or None,
        "snapshot_limit": limit,
        "snapshot_limit_source": source,
        "projects": getattr(connection, "project_count", connection.projects.count()),
    }


def _team(request: HttpRequest, team_id: int) -> Team:
    token_require_unscoped(request.api_token)
    team = teams.team_get(user=request.user, pk=team_id)
    return team


def _account(request: HttpRequest, team_id: int, account_id: int) -> EngineConnection:
    team = _team(request, team_id)
    permissions.require(request.user, team, "connections_manage")
    try:
        return neon_accounts.neon_account_get(team=team, pk=account_id)
    except services.ServiceError:
        raise Http404 from None


@api_view("GET", "POST")
def accounts(request: HttpRequest, team_id: int) -> JsonResponse:
    team = _team(request, team_id)
    if request.method == "GET":
        rows = neon_accounts.neon_accounts_of(team=team)
        return JsonResponse({"results": [account_json(c) for c in rows]})
    given = body_as(request, NeonAccountCreate)
    fields = {name: getattr(given, name) or "" for name in ("name", "api_key", "org_id", "api_url")}
    made = neon_accounts.neon_account_add(
        user=request.user, team=team, snapshot_limit=given.snapshot_limit, **fields
    )
    return JsonResponse(account_json(made), status=201)


@api_view("DELETE")
def account_detail(request: HttpRequest, team_id: int, account_id: int) -> HttpResponse:
    """Forget the key: the account goes, or stays keyless while projects live on it."""
    connection = _account(request, team_id, account_id)
    neon_accounts.neon_account_remove(user=request.user, connection=connection)
    return HttpResponse(status=204)


@api_view("GET")
def adoptable(request: HttpRequest, team_id: int, account_id: int) -> JsonResponse:
    connection = _account(request, team_id, account_id)
    rows = neon_adopt.neon_projects_adoptable(user=request.user, connection=connection)
    results = [
        {
            "id": row["project"].id,
            "name": row["project"].name,
            "root_branches": [{"id": b.id, "name": b.name} for b in row["roots"]],
        }
        for row in rows
    ]
    return JsonResponse({"results": results})


@api_view("POST")
def adopt(request: HttpRequest, team_id: int, account_id: int) -> JsonResponse:
    connection = _account(request, team_id, account_id)
    seconds = wait_seconds(request)
    given = body_as(request, NeonAdopt)
    job = neon_adopt.neon_project_adopt(
        user=request.user,
        connection=connection,
        engine_project_id=given.project,
        branch_id=given.branch,
        name=given.name,
    )
    return job_answer(request, job, seconds)


@api_view("POST")
def database_import(request: HttpRequest, team_id: int) -> JsonResponse:
    team = _team(request, team_id)
    seconds = wait_seconds(request)
    given = body_as(request, DatabaseImport)
    job = db_import.database_import(
        user=request.user,
        team=team,
        name=given.name,
        source_url=given.source_url,
        connection_id=given.connection,
    )
    return job_answer(request, job, seconds)


@api_view("POST")
def snapshot_import(request: HttpRequest, pk: int, snapshot_id: str) -> JsonResponse:
    project = project_of(request, pk)
    version = neon_adopt.neon_snapshot_import(
        user=request.user, project=project, snapshot_id=snapshot_id
    )
    return JsonResponse(version_json(version), status=201)
