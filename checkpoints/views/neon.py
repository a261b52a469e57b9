"""The team page's Neon accounts card (owners): add a key, replace or remove it, set the
snapshot limit; adopt one of the account's projects; import a database from a URL as a
new project; and, on an adopted project's page, import the snapshots it already had.

A key or a source URL typed into a form is never put back into the re-rendered form."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from checkpoints import services
from checkpoints.models import EngineConnection, Team
from checkpoints.rules import permissions, selectors
from checkpoints.services import db_import, neon_accounts, neon_adopt, teams
from checkpoints.views import teams as team_views
from checkpoints.views.responses import forbidden

ADOPT_TEMPLATE = "checkpoints/neon_adopt.html"
IMPORTED = "Snapshot “{name}” is now {label}."


def _owner(request: HttpRequest, pk: int) -> Team:
    team = teams.team_get(user=request.user, pk=pk)
    permissions.require(request.user, team, "connections_manage")
    return team


def _account(team: Team, c: int) -> EngineConnection:
    try:
        return neon_accounts.neon_account_get(team=team, pk=c)
    except services.ServiceError as error:
        raise Http404(error.message) from None


def _form_error(request: HttpRequest, team: Team, error: str, form: dict[str, str]):
    extra = {"neon_error": error, "neon_form": form}
    return team_views._team_render(request, team, status=400, extra=extra)


@require_POST
def neon_account_add(request: HttpRequest, pk: int) -> HttpResponse:
    post = request.POST
    form = {k: post.get(k, "") for k in ("name", "org_id", "api_url", "snapshot_limit")}
    try:
        team = _owner(request, pk)
        connection = neon_accounts.neon_account_add(
            user=request.user, team=team, api_key=post.get("api_key", ""), **form
        )
    except services.NotAllowed as error:
        return forbidden(request, error)
    except services.ServiceError as error:
        return _form_error(request, team, error.message, form)
    messages.success(request, neon_accounts.ADDED.format(name=connection.name))
    return redirect("team-detail", pk=pk)


def _account_action(request: HttpRequest, pk: int, c: int, act) -> HttpResponse:
    try:
        team = _owner(request, pk)
        notice = act(_account(team, c))
    except services.NotAllowed as error:
        return forbidden(request, error)
    except services.ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, notice)
    return redirect("team-detail", pk=pk)


@require_POST
def neon_account_key(request: HttpRequest, pk: int, c: int) -> HttpResponse:
    key = request.POST.get("api_key", "")
    return _account_action(
        request,
        pk,
        c,
        lambda conn: neon_accounts.neon_account_key_replace(
            user=request.user, connection=conn, api_key=key
        ),
    )


@require_POST
def neon_account_remove(request: HttpRequest, pk: int, c: int) -> HttpResponse:
    return _account_action(
        request,
        pk,
        c,
        lambda conn: neon_accounts.neon_account_remove(user=request.user, connection=conn),
    )


@require_POST
def neon_account_limit(request: HttpRequest, pk: int, c: int) -> HttpResponse:
    limit = request.POST.get("snapshot_limit", "")
    return _account_action(
        request,
        pk,
        c,
        lambda conn: neon_accounts.neon_account_limit_set(
            user=request.user, connection=conn, limit=limit
        ),
    )


@require_http_methods(["GET", "POST"])
def neon_adopt_page(request: HttpRequest, pk: int, c: int) -> HttpResponse:
    """The account's projects a team owner may adopt; a POST adopts the one picked."""
    try:
        team = _owner(request, pk)
    except services.NotAllowed as error:
        return forbidden(request, error)
    connection = _account(team, c)
    error, status = "", 200
    if request.method == "POST":
        picked = request.POST.get("pick", "")
        project_id, _, branch_id = picked.partition("/")
        try:
            job = neon_adopt.neon_project_adopt(
                user=request.user,
                connection=connection,
                engine_project_id=project_id,
                branch_id=branch_id,
                name=request.POST.get("name", ""),
            )
        except services.ServiceError as exc:
            error, status = exc.message, 400
        else:
            return redirect("project-detail", pk=job.project_id)
    try:
        adoptable = neon_adopt.neon_projects_adoptable(user=request.user, connection=connection)
    except services.ServiceError as exc:
        adoptable, error, status = [], exc.message, 400 if request.method == "POST" else 503
    context = {"team": team, "connection": connection, "adoptable": adoptable, "error": error}
    return render(request, ADOPT_TEMPLATE, context, status=status)


@require_POST
def database_import(request: HttpRequest, pk: int) -> HttpResponse:
    """A new project whose v0 is the database at the URL given (never kept or shown)."""
    team = teams.team_get(user=request.user, pk=pk)
    post = request.POST
    form = {"import_name": post.get("name", ""), "connection": post.get("connection", "")}
    try:
        job = db_import.database_import(
            user=request.user,
            team=team,
            name=form["import_name"],
            source_url=post.get("source_url", ""),
            connection_id=form["connection"] or None,
        )
    except services.NotAllowed as error:
        return forbidden(request, error)
    except services.ServiceError as error:
        extra = {"import_error": error.message, "import_form": form}
        return team_views._team_render(request, team, status=400, extra=extra)
    return redirect("project-detail", pk=job.project_id)


@require_POST
def neon_snapshot_import(request: HttpRequest, pk: int, snapshot_id: str) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    try:
        version = neon_adopt.neon_snapshot_import(
            user=request.user, project=project, snapshot_id=snapshot_id
        )
    except services.NotAllowed as error:
        return forbidden(request, error)
    except services.ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, IMPORTED.format(name=version.name, label=version.label))
    return redirect("project-detail", pk=pk)
