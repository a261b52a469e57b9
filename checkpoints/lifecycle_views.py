"""Pages and htmx fragments of the version lifecycle (see `checkpoints.lifecycle`).

Rename is inline (the name swaps for a small form and back); delete and cleanup have a
confirmation step; what the project holds, the cleanup dry run and diffs are fragments
loaded into the project page's lifecycle card. Every view fetches through `selectors`, so
another team's ids answer 404.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checkpoints import permissions, selectors, services, snapshot_room
from checkpoints.engines.errors import EngineError
from checkpoints.input_guard import int_or_none
from checkpoints.models import AgentProject, Job, Version
from checkpoints.services import lifecycle
from checkpoints.views import _action_done, _confirm, _refused

LIFECYCLE_TEMPLATE = "checkpoints/_lifecycle.html"
PICK_TWO = "Pick two versions to compare."


def _version_any(project: AgentProject, number: int) -> Version:
    """The live version `number`, else the latest deleted one (so it can be refused)."""
    return selectors.version_get(project=project, number=number)


@require_http_methods(["GET", "POST"])
def version_rename(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """GET: the inline form (htmx) or a small page; POST: rename, answer the new name."""
    project = selectors.project_get(user=request.user, pk=pk)
    version = _version_any(project, number)
    # `can` too: the name fragment shows its Rename button only when the role allows it.
    can = permissions.can_for(request.user, project)
    context = {"project": project, "version": version, "error": "", "can": can}
    if request.method == "POST":
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
    if request.GET.get("cancel"):
        return render(request, f"{LIFECYCLE_TEMPLATE}#version-name", context)
    template = (
        f"{LIFECYCLE_TEMPLATE}#version-name-form"
        if request.htmx
        else "checkpoints/_lifecycle_rename_page.html"
    )
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
def version_delete(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """GET: the confirmation step; POST: delete the snapshot (a job), keep the row."""
    project = selectors.project_get(user=request.user, pk=pk)
    version = _version_any(project, number)
    if request.method == "GET":
        if version.deleted_at is not None:
            return _refused(request, project, services.ServiceError(services.VERSION_DELETED))
        live = (
            " The live database keeps serving it."
            if version.pk == project.current_version_id
            else ""
        )
        return _confirm(
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
    try:
        services.version_delete(version=version, user=request.user)
    except services.ServiceError as error:
        return _refused(request, project, error)
    return _action_done(request, project)


@require_POST
def restore_window(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    try:
        lifecycle.restore_window_set(
            project=project,
            user=request.user,
            window=request.POST.get("window", ""),
            count=request.POST.get("count"),
        )
    except services.ServiceError as error:
        return _refused(request, project, error)
    project.refresh_from_db()
    if request.htmx:
        from checkpoints.views import project_render

        return project_render(request, project, tab=request.POST.get("tab"))
    return redirect("project-detail", pk=project.pk)


@require_GET
def project_holdings(request: HttpRequest, pk: int) -> HttpResponse:
    """What the engine holds for the project, as the last job listed it (no engine call)."""
    project = selectors.project_get(user=request.user, pk=pk)
    plan = lifecycle.project_holdings(project=project)
    return _holdings(request, project, plan, dry_run=False)


@require_http_methods(["GET", "POST"])
def project_cleanup(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the dry run (what would go and why); POST: "Clean up now" (a job)."""
    project = selectors.project_get(user=request.user, pk=pk)
    if request.method == "GET":
        try:
            plan = lifecycle.project_cleanup(
                project=project, user=request.user, dry_run=True, fresh=False
            )
        except services.ServiceError as error:
            return _refused(request, project, error)
        return _holdings(request, project, plan, dry_run=True)
    try:
        lifecycle.cleanup_start(project=project, user=request.user)
    except services.ServiceError as error:
        return _refused(request, project, error)
    return _action_done(request, project)


def _holdings(request, project, plan, *, dry_run: bool) -> HttpResponse:
    from checkpoints import permissions

    context = {
        "project": project,
        "plan": plan,
        "dry_run": dry_run,
        "busy": services.job_active(project=project) is not None,
        "can": permissions.can_for(request.user, project),
        "previews": list(selectors.previews_live(project=project)),
        "last_cleanup": project.jobs.filter(kind=Job.Kind.CLEANUP, state=Job.State.SUCCEEDED)
        .order_by("-finished_at")
        .first(),
    }
    template = "checkpoints/_holdings.html"
    if request.htmx:
        template += "#holdings"
    return render(request, template, context)


@require_GET
def version_diff(request: HttpRequest, pk: int) -> HttpResponse:
    """What going from version `from` to version `to` changes (stored manifests)."""
    project = selectors.project_get(user=request.user, pk=pk)
    old_number, new_number = request.GET.get("from", ""), request.GET.get("to", "")
    context: dict = {"project": project, "diff": None, "error": ""}
    old_int, new_int = int_or_none(old_number), int_or_none(new_number)
    if old_int is None or new_int is None:
        context["error"] = PICK_TWO
    else:
        old = _version_any(project, old_int)
        new = _version_any(project, new_int)
        context["diff"] = lifecycle.version_diff(old=old, new=new)
    template = "checkpoints/_diff.html"
    if request.htmx:
        template += "#version-diff"
    return render(request, template, context)


@require_POST
def version_create_as_of(request: HttpRequest, pk: int) -> HttpResponse:
    """Save a version of the active branch as it was at a past time (Neon engine)."""
    project = selectors.project_get(user=request.user, pk=pk)
    raw = request.POST.get("as_of", "")
    try:
        when = datetime.fromisoformat(raw) if raw else None
    except ValueError:
        when = None
    if when is not None and timezone.is_naive(when):
        when = when.replace(tzinfo=UTC)  # the form asks for UTC
    try:
        lifecycle.version_create_as_of(
            project=project, user=request.user, timestamp=when, name=request.POST.get("name", "")
        )
    except services.ServiceError as error:
        return _refused(request, project, error)
    return _action_done(request, project)


def rollback_sentence(project: AgentProject, version: Version) -> str:
    """ "Rolling back to v1 drops columns role, company, tags and 1 contact." (live diff)."""
    try:
        diff = lifecycle.rollback_diff(project=project, version=version)
    except Exception:  # the confirmation still works when the live database is unreachable
        return ""
    if diff.unavailable or diff.changes is None:
        return ""
    return f"Rolling back to {version.label} {diff.summary}. "


def project_lifecycle_context(project: AgentProject) -> dict:
    """What the project page needs from the lifecycle: the version history (deleted ones
    included, since the last start over) with expiry and rollback notes, and the card."""
    now = timezone.now()
    first_live = project.versions.filter(deleted_at__isnull=True).order_by("pk").first()
    history = (
        list(
            project.versions.filter(pk__gte=first_live.pk)
            .select_related("deleted_by")
            .order_by("number", "pk")
        )
        if first_live
        else []
    )
    current = next((v for v in history if v.pk == project.current_version_id), None)
    for version in history:
        version.expiry_note = lifecycle.version_expiry_note(
            project=project, version=version, now=now
        )
        version.diff_note = ""
        if current is not None and version.pk != current.pk and not version.deleted_at:
            diff = lifecycle.version_diff(old=current, new=version)
            version.diff_note = diff.summary
    live = [v for v in history if v.deleted_at is None]
    try:
        point_in_time = services.engine_for(project=project).supports_point_in_time
    except Exception:  # the page still renders when the engine cannot be built
        point_in_time = False
    earlier = [v for v in live if current is not None and v.number < current.number]
    previous = earlier[-1] if earlier else None
    return {
        "history": history,
        "lifecycle": {
            "window_text": lifecycle.window_describe(project),
            "window_choices": AgentProject.RestoreWindow.choices,
            "versions": live,
            "diff_from": previous.number if previous else (live[0].number if live else None),
            "diff_to": current.number if current else None,
            "point_in_time": point_in_time,
            "capacity": snapshot_room.capacity_shown(project),
            "window_warning": snapshot_room.window_warning(project),
        },
    }
