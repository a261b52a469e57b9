"""How an action answers: htmx gets the refreshed `#project` region (or a `#flash`
fragment when refused), other clients a redirect (POST/redirect/GET) or a readable page.

`confirmed_action` is the one shape of every "GET: confirm, POST: do it" view, and
`action_run` the one shape of a POST that calls a service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget, trigger_client_event

from checkpoints import services
from checkpoints.models import AgentProject, Job
from checkpoints.queue import job_waits
from checkpoints.refusals import RETRY_AFTER_BUSY
from checkpoints.rules import permissions
from checkpoints.views.page import project_render

FORBIDDEN = "You are not allowed to do this."


def flash(request: HttpRequest, *, level: str, message: str, status: int, **extra: Any):
    """A message fragment swapped into the page's `#flash` region."""
    context = {"level": level, "message": message, **extra}
    response = render(request, "checkpoints/_flash.html", context, status=status)
    return reswap(retarget(response, "#flash"), "innerHTML")


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """403 with a readable message (`handler403`): a `#flash` fragment for htmx, else a page."""
    message = getattr(exception, "message", "") or FORBIDDEN
    if getattr(request, "htmx", False):
        return flash(request, level="error", message=message, status=403)
    return render(request, "403.html", {"message": message}, status=403)


def action_done(
    request: HttpRequest, project: AgentProject, job: Job | None = None
) -> HttpResponse:
    """An action started: the refreshed `#project` region (it fires `jobStarted`).

    It first waits a moment (`CHECKPOINTS_ACTION_WAIT_SECONDS`) for the action's `job`: one
    that ends within it is answered with its result, without a progress panel and the
    status requests it would make (a warm rollback: click to page in one request)."""
    if job is not None and _wait_for(request, job):
        project.refresh_from_db()
        job.refresh_from_db()
        opened = job.kind == Job.Kind.PREVIEW_OPEN and job.state == Job.State.SUCCEEDED
        if opened and job.preview_id:
            target = reverse("preview-detail", args=[project.pk, job.preview_id])
            return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
    if request.htmx:
        response = project_render(request, project, tab=request.POST.get("tab"))
        return trigger_client_event(response, "jobStarted")
    return redirect("project-detail", pk=project.pk)


def _wait_for(request: HttpRequest, job: Job) -> bool:
    """Wait for `job` to end, at most the action wait; answers whether it ended."""
    seconds = float(settings.CHECKPOINTS_ACTION_WAIT_SECONDS)
    if seconds <= 0:
        return False
    job_waits.job_wait_finished(job, seconds, user_id=request.user.pk)
    return Job.objects.filter(pk=job.pk, state__in=Job.FINISHED).exists()


def refused(
    request: HttpRequest, project: AgentProject, error: services.ServiceError
) -> HttpResponse:
    """A refused action: a 409 "busy" (or other) fragment into #flash, or a message."""
    if isinstance(error, services.NotAllowed) and not request.htmx:
        raise error  # a readable 403 page (handler403), not a redirect
    if request.htmx:
        busy = isinstance(error, services.ProjectBusy)
        response = flash(
            request,
            level="busy" if busy else "error",
            message=error.message,
            status=error.status,
            project=project,
        )
        if busy:
            response["Retry-After"] = str(RETRY_AFTER_BUSY)
        return response
    messages.error(request, error.message)
    return redirect("project-detail", pk=project.pk)


def action_run(
    request: HttpRequest, project: AgentProject, start: Callable[[], object]
) -> HttpResponse:
    """Call the service `start`; answer `action_done`, or `refused` with its error."""
    try:
        started = start()
    except services.ServiceError as error:
        return refused(request, project, error)
    return action_done(request, project, started if isinstance(started, Job) else None)


def confirm_page(request: HttpRequest, project: AgentProject, **confirm: Any) -> HttpResponse:
    """The confirmation step (`title`, `body`, `action`, `confirm_label`, `danger`)."""
    template = "checkpoints/confirm.html"
    if request.htmx:
        template += "#confirm"
    context = {"project": project, "confirm": confirm, "back": request.GET.get("back", "")}
    return render(request, template, context)


def confirmed_action(
    request: HttpRequest,
    project: AgentProject,
    *,
    permission: str,
    confirm: Callable[[], dict[str, Any]],
    start: Callable[[], object],
) -> HttpResponse:
    """GET: the confirmation step (if the role may `permission`); POST: `start` it.

    `confirm` is called only on GET, so what it reads is read only when shown."""
    if request.method != "GET":
        return action_run(request, project, start)
    try:
        permissions.require(request.user, project, permission)
    except services.NotAllowed as error:
        return refused(request, project, error)
    return confirm_page(request, project, **confirm())
