"""Restore tables…: pick tables of a version (a dialog), see per table what changes in the
live database (the confirmation, a GET that only reads), then start the job (POST)."""

from __future__ import annotations

import logging

import psycopg
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from checkpoints import services
from checkpoints.engines.errors import EngineError
from checkpoints.models import AgentProject, Version
from checkpoints.rules import permissions, selectors, version_rules
from checkpoints.services.tables import tables_changes, tables_validate, version_table_keys
from checkpoints.views.lifecycle.rollback_note import READ_SECONDS, _live_manifest
from checkpoints.views.responses import action_run, refused

logger = logging.getLogger(__name__)

TEMPLATE = "checkpoints/tables_restore.html"
UNREADABLE = (
    "What changes could not be read from the live database within {seconds} s: "
    "the restore replaces these tables whatever they hold now."
)


@require_http_methods(["GET", "POST"])
def version_tables_restore(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """GET: the table picker, or (with `table=`) the confirmation; POST: start the job."""
    project = selectors.project_get(user=request.user, pk=pk)
    version = selectors.version_get(project=project, number=number)
    tables = request.POST.getlist("table") if request.method == "POST" else []
    include = request.POST.get("include_dependencies") == "on"
    if request.method == "POST":
        return action_run(
            request,
            project,
            lambda: services.version_tables_restore(
                version=version, user=request.user, tables=tables, include_dependencies=include
            ),
        )
    try:
        permissions.require(request.user, project, "tables_restore")
        version_rules.version_require_live(version)
    except services.ServiceError as error:
        return refused(request, project, error)
    if "step" not in request.GET:
        return _render(request, project, version, step="pick")
    try:
        chosen = tables_validate(version, request.GET.getlist("table"))
    except services.ServiceError as error:
        return _render(request, project, version, step="pick", error=error.message)
    return _render(
        request,
        project,
        version,
        step="confirm",
        chosen=chosen,
        changes=_changes(project, version, chosen),
        include=request.GET.get("include_dependencies") == "on",
    )


def _changes(project: AgentProject, version: Version, chosen: list[str]) -> dict:
    """Per table what the restore changes, from the live manifest read within seconds."""
    try:
        live = _live_manifest(services.project_connection_uri(project=project))
    except (psycopg.Error, EngineError, services.ServiceError) as error:
        logger.warning("table restore confirmation of project %s: %s", project.pk, type(error))
        return {"rows": [], "unreadable": UNREADABLE.format(seconds=READ_SECONDS)}
    return {"rows": tables_changes(live, version, chosen), "unreadable": ""}


def _render(
    request: HttpRequest, project: AgentProject, version: Version, *, step: str, **extra
) -> HttpResponse:
    context = {
        "project": project,
        "version": version,
        "step": step,
        "tables": [
            (key, key.removeprefix("public."), version.manifest["tables"][key])
            for key in version_table_keys(version)
        ],
        "action": reverse("version-tables-restore", args=[project.pk, version.number]),
        "error": "",
        "chosen": [],
        **extra,
    }
    template = f"{TEMPLATE}#tables-{step}" if request.htmx else TEMPLATE
    return render(request, template, context)
