"""Pin / Unpin on "What this project holds": keep a version hot, or let the tier policy
move it again; answers with the holdings card."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from checkpoints import services
from checkpoints.rules import selectors
from checkpoints.services import lifecycle
from checkpoints.views.lifecycle.cleanup import _holdings
from checkpoints.views.responses import refused


@require_POST
def version_pin(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    return _pin_set(request, pk, number, services.version_pin)


@require_POST
def version_unpin(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    return _pin_set(request, pk, number, services.version_unpin)


def _pin_set(request: HttpRequest, pk: int, number: int, use_case: Callable) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    version = selectors.version_get(project=project, number=number)
    try:
        use_case(version=version, user=request.user)
    except services.ServiceError as error:
        return refused(request, project, error)
    if not request.htmx:
        return redirect("project-holdings", pk=project.pk)
    return _holdings(request, project, lifecycle.project_holdings(project=project), dry_run=False)
