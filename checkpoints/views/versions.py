"""Versions: create the next one, roll back to one, rename, delete, save one as of a
past time. Rename is inline (the name swaps for a small form and back); rollback and
delete have a confirmation step (a GET that only reads)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from checkpoints import services
from checkpoints.engines.errors import EngineError
from checkpoints.rules import permissions, selectors
from checkpoints.services import lifecycle
from checkpoints.services.undo import NOTHING_TO_UNDO, NothingToUndo
from checkpoints.views.lifecycle.rollback_note import rollback_sentence
from checkpoints.views.responses import action_run, confirm_page, confirmed_action, refused

LIFECYCLE_TEMPLATE = "checkpoints/_lifecycle.html"


@require_POST
def version_create_next(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    return action_run(
        request,
        project,
        lambda: services.version_create_next(project=project, user=request.user),
    )


@require_http_methods(["GET", "POST"])
def version_rollback(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """GET: the confirmation step; POST: start the rollback."""
    project = selectors.project_get(user=request.user, pk=pk)
    version = selectors.version_get(project=project, number=number)
    return confirmed_action(
        request,
        project,
        permission="rollback",
        confirm=lambda: _rollback_confirm(project, version),
        start=lambda: services.version_rollback(
            project=project, version=version, user=request.user
        ),
    )


def _rollback_confirm(project, version) -> dict:
    """The rollback's confirmation; going to a later version than the live one reads as a
    move forward ("Move to v3"), not as losing what came after it."""
    label, current = version.label, project.current_version
    forward = current is not None and version.number > current.number
    if forward:
        title, verb = f"Move to {label}?", f"Move to {label}"
        effect = (
            f"The live database becomes {label} ({version.name}). What it holds now "
            f"({current.label} and any changes since) is kept first as an automatic version, "
            "so the move can be undone. The connection string does not change."
        )
    else:
        title, verb = f"Roll back to {label}?", f"Roll back to {label}"
        effect = (
            f"The live database becomes {label} again. Changes made after {label} (data "
            "and schema) will be gone from it; they are kept first as an automatic version, "
            "so the rollback can be undone. The connection string does not change."
        )
    return {
        "title": title,
        "body": rollback_sentence(project, version, forward=forward) + effect,
        "action": reverse("version-rollback", args=[project.pk, version.number]),
        "confirm_label": verb,
        "danger": True,
    }


@require_http_methods(["GET", "POST"])
def rollback_undo(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the confirmation step; POST: roll forward to what the last rollback replaced."""
    project = selectors.project_get(user=request.user, pk=pk)
    version = services.undo_version(project=project)
    if version is None:
        return refused(request, project, NothingToUndo(NOTHING_TO_UNDO))
    label = version.label
    return confirmed_action(
        request,
        project,
        permission="rollback",
        confirm=lambda: {
            "title": "Undo the rollback?",
            "body": rollback_sentence(project, version, undo=True)
            + f"The live database goes back to {label} ({version.name}), as it was before "
            "the rollback; its state now is kept first if it changed. The connection "
            "string does not change.",
            "action": reverse("rollback-undo", args=[project.pk]),
            "confirm_label": "Undo rollback",
            "danger": True,
        },
        start=lambda: services.rollback_undo(project=project, user=request.user),
    )


@require_http_methods(["GET", "POST"])
def version_rename(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """GET: the inline form (htmx) or a small page; POST: rename, answer the new name."""
    project = selectors.project_get(user=request.user, pk=pk)
    version = selectors.version_get(project=project, number=number)
    # `can` too: the name fragment shows its Rename button only when the role allows it.
    can = permissions.can_for(request.user, project)
    context = {"project": project, "version": version, "error": "", "can": can}
    if request.method == "POST":
        return _rename(request, context)
    if request.GET.get("cancel"):
        return render(request, f"{LIFECYCLE_TEMPLATE}#version-name", context)
    template = (
        f"{LIFECYCLE_TEMPLATE}#version-name-form"
        if request.htmx
        else "checkpoints/_lifecycle_rename_page.html"
    )
    return render(request, template, context)


def _rename(request: HttpRequest, context: dict) -> HttpResponse:
    version, project = context["version"], context["project"]
    try:
        services.version_rename(
            version=version, user=request.user, name=request.POST.get("name", "")
        )
    except services.NotAllowed:
        raise  # answered 403 by handler403, like every refused action
    except services.ServiceError as error:
        context["error"] = error.message
        status = 422 if type(error) is services.ServiceError else error.status
    except EngineError as error:
        context["error"] = f"The engine could not rename the snapshot: {error}"
        status = 502
    else:
        if not request.htmx:
            return redirect("project-detail", pk=project.pk)
        context["renamed"] = True
        return render(request, f"{LIFECYCLE_TEMPLATE}#version-name", context)
    return render(request, f"{LIFECYCLE_TEMPLATE}#version-name-form", context, status=status)


@require_http_methods(["GET", "POST"])
def version_delete(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """GET: the confirmation step; POST: delete the snapshot (a job), keep the row."""
    project = selectors.project_get(user=request.user, pk=pk)
    version = selectors.version_get(project=project, number=number)
    if request.method == "POST":
        return action_run(
            request, project, lambda: services.version_delete(version=version, user=request.user)
        )
    if version.deleted_at is not None:
        return refused(request, project, services.ServiceError(services.VERSION_DELETED))
    live = (
        " The live database keeps serving it." if version.pk == project.current_version_id else ""
    )
    return confirm_page(
        request,
        project,
        title=f"Delete {version.label}?",
        body=(
            f"The snapshot of {version.label} “{version.name}” is deleted from the engine: "
            f"you can no longer roll back to it or preview it.{live} It stays in the "
            "history, marked deleted, with who deleted it and when."
        ),
        action=reverse("version-delete", args=[project.pk, version.number]),
        confirm_label=f"Delete {version.label}",
        danger=True,
    )


def _as_of(raw: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None
    if when is not None and timezone.is_naive(when):
        when = when.replace(tzinfo=UTC)  # the form asks for UTC
    return when


@require_POST
def version_create_as_of(request: HttpRequest, pk: int) -> HttpResponse:
    """Save a version of the active branch as it was at a past moment (its history window)."""
    project = selectors.project_get(user=request.user, pk=pk)
    return action_run(
        request,
        project,
        lambda: lifecycle.version_create_as_of(
            project=project,
            user=request.user,
            # A moment picked from the recent activity, else the time typed.
            timestamp=_as_of(request.POST.get("as_of_pick") or request.POST.get("as_of", "")),
            name=request.POST.get("name", ""),
        ),
    )
