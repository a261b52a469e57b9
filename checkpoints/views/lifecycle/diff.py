"""What going from one version to another changes (stored manifests): the lifecycle
card's "What changed" form. A number field reaches versions the dropdowns do not list."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from checkpoints.rules import selectors
from checkpoints.security.input_guard import int_or_none
from checkpoints.services import lifecycle

PICK_TWO = "Pick two versions to compare."


def _number(request: HttpRequest, name: str) -> int | None:
    """The typed number (`from_number`) if any, else the dropdown's choice (`from`)."""
    typed = int_or_none(request.GET.get(f"{name}_number", ""))
    return typed if typed is not None else int_or_none(request.GET.get(name, ""))


@require_GET
def version_diff(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    old_number, new_number = _number(request, "from"), _number(request, "to")
    context: dict = {"project": project, "diff": None, "error": ""}
    if old_number is None or new_number is None:
        context["error"] = PICK_TWO
    else:
        old = selectors.version_get(project=project, number=old_number)
        new = selectors.version_get(project=project, number=new_number)
        context["diff"] = lifecycle.version_diff(old=old, new=new)
    template = "checkpoints/_diff.html"
    if request.htmx:
        template += "#version-diff"
    return render(request, template, context)
