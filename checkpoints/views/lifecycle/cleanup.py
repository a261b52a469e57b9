"""Storage and cleanup: the restore window, what the project holds (as the last job
listed it, no engine call) and the cleanup's dry run and start."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checkpoints import services
from checkpoints.lifecycle.plan import Holding
from checkpoints.models import AgentProject, Job
from checkpoints.rules import permissions, selectors
from checkpoints.services import history, lifecycle
from checkpoints.views.page import project_render
from checkpoints.views.responses import action_run, refused


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
        return refused(request, project, error)
    project.refresh_from_db()
    if request.htmx:
        return project_render(request, project, tab=request.POST.get("tab"))
    return redirect("project-detail", pk=project.pk)


@require_POST
def history_window(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    try:
        history.history_window_set(
            project=project,
            user=request.user,
            hours=request.POST.get("hours"),
            budget_mb=request.POST.get("budget_mb"),
        )
    except services.ServiceError as error:
        return refused(request, project, error)
    project.refresh_from_db()
    if request.htmx:
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
    if request.method == "POST":
        return action_run(
            request, project, lambda: lifecycle.cleanup_start(project=project, user=request.user)
        )
    try:
        plan = lifecycle.project_cleanup(
            project=project, user=request.user, dry_run=True, fresh=False
        )
    except services.ServiceError as error:
        return refused(request, project, error)
    return _holdings(request, project, plan, dry_run=True)


ACTIVE = "kept: the active branch (serves the app)"


def _live_first(project: AgentProject, plan: lifecycle.CleanupPlan) -> Job | None:
    """Name the live branch as live, always, even when the stored listing predates the job
    that moved the app onto it (a listing that failed after a rollback): then its old
    active branch is shown as what it is now, and the stamp says the listing is older.
    Answers the job the listing predates, if it does."""
    last = (
        project.jobs.filter(finished_at__isnull=False)
        .select_related("target_version")
        .order_by("-finished_at")
        .first()
    )
    if plan.error or not project.active_branch_id:
        return None
    stale = last if last and plan.listed_at and plan.listed_at < last.finished_at else None
    if any(h.id == project.active_branch_id for h in plan.branches):
        return stale
    name = next((h.name for h in plan.branches if h.role == "active"), "main")
    for holding in plan.branches:
        if holding.role in ("active", "orphan"):
            holding.role = "replaced"
            holding.note = "replaced by the last rollback (its name has changed since)"
    plan.branches.insert(
        0, Holding("branch", project.active_branch_id, name, None, role="active", note=ACTIVE)
    )
    return stale or last


def _holdings(
    request: HttpRequest, project: AgentProject, plan: lifecycle.CleanupPlan, *, dry_run: bool
) -> HttpResponse:
    context = {
        "listed_before": _live_first(project, plan),
        "project": project,
        "plan": plan,
        "dry_run": dry_run,
        "busy": services.job_active(project=project) is not None,
        "can": permissions.can_for(request.user, project),
        "previews": list(selectors.previews_live(project=project)),
        "history": history.history_storage(project),
        "last_cleanup": project.jobs.filter(kind=Job.Kind.CLEANUP, state=Job.State.SUCCEEDED)
        .order_by("-finished_at")
        .first(),
    }
    template = "checkpoints/_holdings.html"
    if request.htmx:
        template += "#holdings"
    return render(request, template, context)
