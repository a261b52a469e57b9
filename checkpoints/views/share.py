"""Share links, for members: the Share… dialog and the links card on the project page.
Control flow only: see `checkpoints.sharing` for the rules. The public read-only view
`/s/<token>` shows the versioned app, so the app serves it (`contacts.share_page`).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import retarget, trigger_client_event

from checkpoints import services
from checkpoints.models import AgentProject
from checkpoints.queue import job_waits
from checkpoints.rules import permissions, selectors
from checkpoints.security.input_guard import int_or_none
from checkpoints.services import sharing

DIALOG = "share/_dialog.html"
CARD = "share/_shares.html#shares"
#: Expiry choices of the dialog (hours, label); the API and CLI take any 1..168.
#: How long making a link waits for its shared view to be ready (a local preview: ~1-2 s);
#: none when buttons answer at once (`CHECKPOINTS_ACTION_WAIT_SECONDS` = 0).
READY_WAIT_SECONDS = 10.0
EXPIRY_CHOICES = [(1, "1 hour"), (8, "8 hours"), (24, "24 hours"), (72, "3 days"), (168, "7 days")]


# Members ---------------------------------------------------------------------------------


def _card(request: HttpRequest, project: AgentProject, status: int = 200) -> HttpResponse:
    context = {
        "project": project,
        "can": permissions.can_for(request.user, project),
        "shares": list(sharing.shares_live(project=project)),
    }
    return render(request, CARD, context, status=status)


@require_http_methods(["GET", "POST"])
def version_share(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """GET: the Share… dialog; POST: make the link and show it once."""
    project = selectors.project_get(user=request.user, pk=pk)
    version = selectors.version_get(project=project, number=number)
    context: dict = {
        "project": project,
        "version": version,
        "choices": EXPIRY_CHOICES,
        "hours": sharing.DEFAULT_HOURS,
    }
    template = DIALOG + ("#share-dialog" if request.htmx else "")
    if request.method == "GET":
        permissions.require(request.user, project, "share_create")
        return render(request, template, context)
    hours = int_or_none(request.POST.get("hours"), maximum=99_999) or 0
    try:
        created = sharing.share_create(version=version, user=request.user, hours=hours)
    except services.NotAllowed:
        raise
    except services.ServiceError as error:
        context.update(error=error.message, hours=hours or sharing.DEFAULT_HOURS)
        return render(request, template, context, status=422)
    context.update(
        created=created,
        url=request.build_absolute_uri(created.path),
        ready_job=_ready_job(request, created),
    )
    response = render(request, template, context, status=201 if request.htmx else 200)
    return trigger_client_event(response, "shareCreated") if request.htmx else response


def _ready_job(request: HttpRequest, created: sharing.ShareCreated):
    """The job preparing the shared view, once it ended (or the wait ran out)."""
    job = created.job
    if job is None:
        return None
    if settings.CHECKPOINTS_ACTION_WAIT_SECONDS > 0:
        job_waits.job_wait_finished(job, READY_WAIT_SECONDS, user_id=request.user.pk)
    job.refresh_from_db()
    return job


@require_GET
def project_shares(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    if not request.htmx:
        return redirect("project-detail", pk=project.pk)
    return _card(request, project)


@require_POST
def share_revoke(request: HttpRequest, pk: int, share_pk: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    share = sharing.share_get(project=project, pk=share_pk)
    sharing.share_revoke(share=share, user=request.user)
    if not request.htmx:
        return redirect("project-detail", pk=project.pk)
    return retarget(_card(request, project), "#shares")
