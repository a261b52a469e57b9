"""The progress panel of a job (`#job-status`): its status poll and Cancel."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from checkpoints import services
from checkpoints.models import AgentProject, Job
from checkpoints.queue import job_waits
from checkpoints.rules import permissions, selectors
from checkpoints.views.page import PROJECT_TEMPLATE
from checkpoints.views.responses import refused


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
        return refused(request, project, error)
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
    if not job.is_finished:
        return response
    opened = job.kind == Job.Kind.PREVIEW_OPEN and job.state == Job.State.SUCCEEDED
    if opened and job.preview_id:
        return HttpResponseClientRedirect(
            reverse("preview-detail", args=[project.pk, job.preview_id])
        )
    # Terminal: the fragment has no hx-trigger (polling stops); the page refreshes.
    return trigger_client_event(response, "jobFinished", {"job": job.pk, "state": job.state})
