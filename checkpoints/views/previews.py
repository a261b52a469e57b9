"""Previews: open a version side by side (a job), its page (the live app and the
version's app next to each other, read from the preview branch), discard it."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from checkpoints import services
from checkpoints.rules import permissions, selectors
from checkpoints.views.app_panel import app_panel_context
from checkpoints.views.responses import action_done, action_run, refused


@require_POST
def version_preview(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    version = selectors.version_get(project=project, number=number)
    return action_run(
        request,
        project,
        lambda: services.preview_open(project=project, version=version, user=request.user),
    )


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
        context.update(app_panel_context(project=project, preview=preview, side_by_side=True))
    return render(request, "checkpoints/preview_detail.html", context)


@require_POST
def preview_discard(request: HttpRequest, pk: int, preview_pk: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    preview = selectors.preview_get(project=project, pk=preview_pk)
    try:
        services.preview_discard(preview=preview, user=request.user)
    except services.ServiceError as error:
        return refused(request, project, error)
    if request.htmx and request.POST.get("from") != "project":
        return HttpResponseClientRedirect(reverse("project-detail", args=[project.pk]))
    return action_done(request, project)
