"""Pages and htmx fragments of the versioning app. Views are control flow only.

Every project-scoped view fetches through `selectors.project_get` (the user's teams), so
another user's ids answer 404, fragments included. POST actions call a service; htmx gets
the refreshed `#project` region back, other clients a redirect (POST/redirect/GET).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget, trigger_client_event

from checkpoints import job_waits, permissions, selectors, services, share_views
from checkpoints.demo import DEMO_STEPS, demo_step
from checkpoints.engines.base import mask_password
from checkpoints.input_guard import int_or_none
from checkpoints.models import Activity, AgentProject, Job
from checkpoints.services import teams
from contacts.views import contacts_app_context

logger = logging.getLogger(__name__)

TABS = {"app": "App", "meta": "Meta DB", "schema": "App DB schema", "activity": "Activity"}
PROJECT_TEMPLATE = "checkpoints/project_detail.html"
#: The outcome of the latest job stays on the page this long after it ended.
RESULT_SHOWN_FOR = timedelta(minutes=15)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The current team's projects (the team switcher in the header changes team)."""
    team = teams.team_current(request)
    projects = selectors.projects_for(request.user).filter(team=team)
    context = {"projects": projects, "team": team, "can": permissions.can_for(request.user, team)}
    return render(request, "checkpoints/home.html", context)


@require_POST
def project_start_demo(request: HttpRequest) -> HttpResponse:
    """A demo project in the current team (operators and owners)."""
    job = services.project_start_demo(user=request.user, team=teams.team_current(request))
    return redirect("project-detail", pk=job.project_id)


def _connection_string(project: AgentProject) -> tuple[str, str]:
    """(masked connection string, error) for display; never the password."""
    if not project.engine_project_id:
        return "", ""
    try:
        return mask_password(services.project_connection_uri(project=project)), ""
    except Exception as exc:  # the page still renders when the engine is unreachable
        logger.warning("connection string of project %s: %s", project.pk, exc)
        return "", mask_password(str(exc))


def _project_context(request: HttpRequest, project: AgentProject, tab: str) -> dict:
    versions = list(selectors.versions_live(project=project))
    active_job = services.job_active(project=project)
    latest = selectors.job_latest(project=project)
    result_job = None
    if (
        latest is not None
        and latest.is_finished
        and latest.finished_at
        and timezone.now() - latest.finished_at < RESULT_SHOWN_FOR
    ):
        result_job = latest
    next_number = services.version_next_number(project=project)
    connection, connection_error = _connection_string(project)
    can = permissions.can_for(request.user, project)
    context = {
        "project": project,
        "can": can,
        "versions": versions,
        "current": project.current_version,
        "job": active_job,
        "job_seen": job_waits.job_marker(active_job) if active_job else "",
        "poll_delay_ms": 0,
        "result_job": result_job,
        "busy": active_job is not None,
        "next_step": demo_step(next_number) if next_number is not None else None,
        "last_step": DEMO_STEPS[-1],
        "previews": list(selectors.previews_live(project=project)),
        "connection": connection,
        "connection_error": connection_error,
        "tabs": TABS,
        "tab": tab,
    }
    ready = bool(project.engine_project_id and project.current_version)
    if tab == "app" and ready:
        page = int_or_none(request.GET.get("page")) or 1
        context.update(contacts_app_context(project=project, can_edit=can.contacts_edit, page=page))
    elif tab == "schema" and ready:
        context.update(contacts_app_context(project=project, schema_only=True))
    elif tab == "meta":
        context["all_versions"] = project.versions.select_related("parent", "created_by")
    elif tab == "activity":
        context.update(_activity_context(request, project))
    from checkpoints.lifecycle_views import project_lifecycle_context

    context.update(project_lifecycle_context(project))
    context.update(share_views.shares_context(project))
    return context


def _activity_context(request: HttpRequest, project: AgentProject) -> dict:
    """The activity list, filtered by person (`person`, a user id) and by `kind`."""
    kinds = dict(Activity.Kind.choices)
    kind = request.GET.get("kind", "")
    kind = kind if kind in kinds else ""
    person = request.GET.get("person", "")
    actor_id = int_or_none(person)
    person = person if actor_id is not None else ""
    activities = selectors.activities_for(project=project, actor_id=actor_id, kind=kind or None)
    return {
        "activities": activities,
        "activity_filter": {"person": person, "kind": kind},
        "activity_kinds": kinds,
        "activity_people": teams.people_for(project),
    }


@require_GET
def project_activity(request: HttpRequest, pk: int) -> HttpResponse:
    """The filtered activity list: a fragment for htmx, else the page's Activity tab."""
    project = selectors.project_get(user=request.user, pk=pk)
    if not request.htmx:
        query = request.GET.copy()
        query["tab"] = "activity"
        return redirect(reverse("project-detail", args=[project.pk]) + "?" + query.urlencode())
    context = {"project": project, **_activity_context(request, project)}
    return render(request, "checkpoints/_activity.html#activity-list", context)


def project_render(
    request: HttpRequest, project: AgentProject, *, status: int = 200, tab: str | None = None
) -> HttpResponse:
    """The project page, or its `#project` region for htmx."""
    tab = tab or request.GET.get("tab", "app")
    if tab not in TABS:
        tab = "app"
    template = PROJECT_TEMPLATE
    if request.htmx and not request.htmx.history_restore_request:
        template += "#project"
    return render(request, template, _project_context(request, project, tab), status=status)


@require_GET
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    return project_render(request, project)


def _action_done(request: HttpRequest, project: AgentProject) -> HttpResponse:
    if request.htmx:
        response = project_render(request, project, tab=request.POST.get("tab"))
        return trigger_client_event(response, "jobStarted")
    return redirect("project-detail", pk=project.pk)


def _refused(request: HttpRequest, project: AgentProject, error: services.ServiceError):
    """A refused action: a 409 "busy" (or other) fragment into #flash, or a message."""
    if isinstance(error, services.NotAllowed) and not request.htmx:
        raise error  # a readable 403 page (handler403), not a redirect
    if request.htmx:
        response = render(
            request,
            "checkpoints/_flash.html",
            {
                "level": "busy" if isinstance(error, services.ProjectBusy) else "error",
                "message": error.message,
                "project": project,
            },
            status=error.status,
        )
        return reswap(retarget(response, "#flash"), "innerHTML")
    messages.error(request, error.message)
    response = redirect("project-detail", pk=project.pk)
    return response


@require_POST
def version_create_next(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    try:
        services.version_create_next(project=project, user=request.user)
    except services.ServiceError as error:
        return _refused(request, project, error)
    return _action_done(request, project)


@require_http_methods(["GET", "POST"])
def version_rollback(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """GET: the confirmation step; POST: start the rollback."""
    project = selectors.project_get(user=request.user, pk=pk)
    version = selectors.version_get(project=project, number=number)
    if request.method == "GET":
        from checkpoints.lifecycle_views import rollback_sentence

        try:
            permissions.require(request.user, project, "rollback")
        except services.NotAllowed as error:
            return _refused(request, project, error)
        return _confirm(
            request,
            project,
            title=f"Roll back to {version.label}?",
            body=(
                rollback_sentence(project, version)
                + f"The live database becomes {version.label} again. Changes made after "
                f"{version.label} (data and schema) will be gone. The connection string "
                "does not change."
            ),
            action=reverse("version-rollback", args=[project.pk, version.number]),
            confirm_label=f"Roll back to {version.label}",
            danger=True,
        )
    try:
        services.version_rollback(project=project, version=version, user=request.user)
    except services.ServiceError as error:
        return _refused(request, project, error)
    return _action_done(request, project)


@require_http_methods(["GET", "POST"])
def project_start_over(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    if request.method == "GET":
        try:
            permissions.require(request.user, project, "start_over")
        except services.NotAllowed as error:
            return _refused(request, project, error)
        return _confirm(
            request,
            project,
            title="Start over?",
            body=(
                "This deletes the engine project with every branch, snapshot and version, "
                "then begins again at v0. The activity log is kept."
            ),
            action=reverse("project-start-over", args=[project.pk]),
            confirm_label="Delete everything and start over",
            danger=True,
        )
    try:
        services.project_start_over(project=project, user=request.user)
    except services.ServiceError as error:
        return _refused(request, project, error)
    return _action_done(request, project)


@require_http_methods(["GET", "POST"])
def project_password_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    if request.method == "GET":
        try:
            permissions.require(request.user, project, "password_rotate")
        except services.NotAllowed as error:
            return _refused(request, project, error)
        return _confirm(
            request,
            project,
            title="Rotate the password?",
            body=(
                "The connection string gets a new password. The old one stops working at "
                "once and every open session on it ends: apps must use the new string."
            ),
            action=reverse("project-password-rotate", args=[project.pk]),
            confirm_label="Rotate the password",
            danger=True,
        )
    try:
        services.project_password_rotate(project=project, user=request.user)
    except services.ServiceError as error:
        return _refused(request, project, error)
    return _action_done(request, project)


def _confirm(request: HttpRequest, project: AgentProject, **confirm) -> HttpResponse:
    template = "checkpoints/confirm.html"
    if request.htmx:
        template += "#confirm"
    context = {"project": project, "confirm": confirm, "back": request.GET.get("back", "")}
    return render(request, template, context)


@require_POST
def version_preview(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    version = selectors.version_get(project=project, number=number)
    try:
        services.preview_open(project=project, version=version, user=request.user)
    except services.ServiceError as error:
        return _refused(request, project, error)
    return _action_done(request, project)


@require_GET
def preview_detail(request: HttpRequest, pk: int, preview_pk: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    preview = selectors.preview_get(project=project, pk=preview_pk)
    context = {
        "project": project,
        "preview": preview,
        "busy": services.job_active(project=project),
        "can": permissions.can_for(request.user, project),
    }
    if preview.is_live:
        context.update(contacts_app_context(project=project, preview=preview))
    return render(request, "checkpoints/preview_detail.html", context)


@require_POST
def preview_discard(request: HttpRequest, pk: int, preview_pk: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    preview = selectors.preview_get(project=project, pk=preview_pk)
    try:
        services.preview_discard(preview=preview, user=request.user)
    except services.ServiceError as error:
        return _refused(request, project, error)
    if request.htmx and request.POST.get("from") != "project":
        return HttpResponseClientRedirect(reverse("project-detail", args=[project.pk]))
    return _action_done(request, project)


@require_GET
def job_status(request: HttpRequest, pk: int, job_pk: int) -> HttpResponse:
    """The progress panel. It only reads the job row; the worker does the work.

    With `?seen=<marker>` it answers once the job changed from what the page shows (or
    after a couple of seconds), so the page learns of a finished job at once."""
    project = selectors.project_get(user=request.user, pk=pk)
    job = selectors.job_get(project=project, pk=job_pk)
    seen = request.GET.get("seen", "")[:40]
    waited = job_waits.job_wait_changed(job, seen, user_id=request.user.pk) if seen else True
    if seen:
        job = selectors.job_get(project=project, pk=job_pk)
    return _job_status_response(request, project, job, poll_later=not waited)


@require_POST
def job_cancel(request: HttpRequest, pk: int, job_pk: int) -> HttpResponse:
    """Cancel the job from its progress panel (operators and owners)."""
    project = selectors.project_get(user=request.user, pk=pk)
    job = selectors.job_get(project=project, pk=job_pk)
    try:
        job = services.job_cancel(job=job, user=request.user)
    except services.ServiceError as error:
        return _refused(request, project, error)
    if not request.htmx:
        return redirect("project-detail", pk=project.pk)
    return _job_status_response(request, project, job)


def _job_status_response(
    request: HttpRequest, project: AgentProject, job: Job, *, poll_later: bool = False
) -> HttpResponse:
    context = {
        "project": project,
        "job": job,
        "can": permissions.can_for(request.user, project),
        "job_seen": job_waits.job_marker(job),
        # No waiting slot was free: the panel asks again a little later, not at once.
        "poll_delay_ms": 400 if poll_later else 0,
    }
    response = render(request, f"{PROJECT_TEMPLATE}#job-status", context)
    if job.is_finished:
        if (
            job.kind == Job.Kind.PREVIEW_OPEN
            and job.state == Job.State.SUCCEEDED
            and job.preview_id
        ):
            return HttpResponseClientRedirect(
                reverse("preview-detail", args=[project.pk, job.preview_id])
            )
        # Terminal: the fragment has no hx-trigger (polling stops); the page refreshes.
        trigger_client_event(response, "jobFinished", {"job": job.pk, "state": job.state})
    return response
