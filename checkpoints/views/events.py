"""The project page's "Destructive statements" card: what PostgreSQL recorded, "Go back to
just before this" (confirm, then a job), and protected tables (protect, lift).

The card loads on its own (`hx-trigger="load"`), so the project page never waits on the
engine for it; its actions answer the refreshed card (htmx) or redirect to the page."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checkpoints.engines.errors import EngineError
from checkpoints.models import AgentProject, StatementEvent
from checkpoints.queue import job_watchdog
from checkpoints.rules import permissions, selectors
from checkpoints.security.input_guard import MAX_ID
from checkpoints.services import ServiceError, events
from checkpoints.views.responses import confirmed_action, refused

logger = logging.getLogger(__name__)

TEMPLATE = "checkpoints/_events.html"
EVENTS_SHOWN = 20
ENGINE_UNREADABLE = "The engine could not be read just now: {error}"


def events_context(request: HttpRequest, project: AgentProject) -> dict[str, Any]:
    """The newest recorded statements, the protected tables, and whether this server
    records at all (an external server does not: the card says so)."""
    context: dict[str, Any] = {
        "project": project,
        "can": permissions.can_for(request.user, project),
    }
    try:
        answer = events.events_list(project=project, user=request.user)
        context.update(
            events=list(answer.events[:EVENTS_SHOWN]),
            events_count=answer.events.count(),
            events_supported=answer.supported,
            events_note=answer.note,
        )
        context["protected"] = []
        if answer.supported:
            context["protected"] = events.tables_protected(project=project, user=request.user)
        reach, oldest, role = events.events_reach(project=project)
        context.update(history=reach, history_oldest=oldest, project_role=role)
        for event in context["events"]:
            event.reachable = reach and oldest is not None and event.at >= oldest
    except (ServiceError, EngineError) as error:
        logger.warning("events card of project %s: %s", project.pk, error)
        context.setdefault("events", [])
        context["protected"] = []
        said = job_watchdog.lock_table_full(error) or getattr(error, "message", error)
        context["events_note"] = ENGINE_UNREADABLE.format(error=said)
    return context


def _card(request: HttpRequest, project: AgentProject, status: int = 200) -> HttpResponse:
    template = TEMPLATE + "#events" if request.htmx else TEMPLATE
    return render(request, template, events_context(request, project), status=status)


@require_GET
def project_events(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    return _card(request, project)


@require_http_methods(["GET", "POST"])
def event_restore_before(request: HttpRequest, pk: int, event_pk: int) -> HttpResponse:
    """GET: the confirmation step; POST: start going back to just before the statement."""
    project = selectors.project_get(user=request.user, pk=pk)
    event = (
        StatementEvent.objects.filter(project=project, pk=event_pk).first()
        if 0 <= event_pk <= MAX_ID
        else None
    )
    if event is None:
        raise Http404("No such statement.")
    return confirmed_action(
        request,
        project,
        permission="rollback",
        confirm=lambda: {
            "title": f"Go back to just before {event.label}?",
            "body": "The live database becomes what it was just before that statement's "
            f"transaction ({event.at:%Y-%m-%d %H:%M:%S} UTC, by {event.role}). What it holds "
            "now is kept first as an automatic version, so this can be undone. Like any "
            "rollback it ends the database's open sessions; the connection string stays.",
            "action": request.path,
            "confirm_label": "Go back to just before this",
            "danger": True,
        },
        start=lambda: events.event_restore_before(project=project, event=event, user=request.user),
    )


@require_POST
def table_protect(request: HttpRequest, pk: int) -> HttpResponse:
    return _protect(request, pk, protect=True)


@require_POST
def table_unprotect(request: HttpRequest, pk: int) -> HttpResponse:
    return _protect(request, pk, protect=False)


def _protect(request: HttpRequest, pk: int, *, protect: bool) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    table = request.POST.get("table", "")
    try:
        events.table_protect(project=project, user=request.user, table=table, protect=protect)
    except ServiceError as error:
        return refused(request, project, error)
    except EngineError as error:
        said = job_watchdog.lock_table_full(error) or error
        return refused(request, project, ServiceError(ENGINE_UNREADABLE.format(error=said)))
    if request.htmx:
        return _card(request, project)
    messages.success(request, f"{'Protected' if protect else 'Lifted the protection of'} {table}.")
    return redirect("project-detail", pk=project.pk)
