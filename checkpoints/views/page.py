"""The project page and its `#project` region: what every project view renders.

Every project-scoped view fetches through `selectors.project_get` (the user's teams), so
another user's ids answer 404, fragments included.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from checkpoints import services
from checkpoints.demo import DEMO_STEPS, demo_step
from checkpoints.engines.base import mask_password
from checkpoints.engines.errors import EngineError
from checkpoints.models import AgentProject, Job
from checkpoints.queue import job_waits, job_watchdog
from checkpoints.rules import permissions, selectors
from checkpoints.security.input_guard import int_or_none
from checkpoints.services import sharing
from checkpoints.services.project_move import move_destinations
from checkpoints.views import neon_context
from checkpoints.views.activity import activity_context
from checkpoints.views.app_panel import app_panel_context
from checkpoints.views.history import history_context, meta_context, timeline_context

logger = logging.getLogger(__name__)

TABS = {"app": "App", "meta": "Meta DB", "schema": "App DB schema", "activity": "Activity"}
PROJECT_TEMPLATE = "checkpoints/project_detail.html"
#: The outcome of the latest job stays on the page this long after it ended.
RESULT_SHOWN_FOR = timedelta(minutes=15)


def _connection_string(project: AgentProject) -> tuple[str, str]:
    """(masked connection string, error) for display; never the password."""
    if not project.engine_project_id:
        return "", ""
    try:
        return mask_password(services.project_connection_uri(project=project)), ""
    except (EngineError, services.ServiceError, RuntimeError, ValueError) as exc:
        # The page still renders when the engine is unreachable, and says so.
        logger.warning("connection string of project %s: %s", project.pk, exc)
        return "", job_watchdog.lock_table_full(exc) or mask_password(str(exc))


def _result_job(project: AgentProject) -> Job | None:
    """The latest job if it ended a short while ago (its outcome banner). A share link's
    preparation is answered in its dialog: it never replaces a banner (and its Undo)."""
    latest = project.jobs.exclude(kind=Job.Kind.SHARE_OPEN).select_related("target_version").first()
    if latest is None or not latest.is_finished or not latest.finished_at:
        return None
    return latest if timezone.now() - latest.finished_at < RESULT_SHOWN_FOR else None


def _undo_to(project: AgentProject):
    """The version "Undo the last rollback" goes back to, if it is still there."""
    version = services.undo_version(project=project)
    return version if version is not None and version.deleted_at is None else None


def _tab_context(request: HttpRequest, project: AgentProject, tab: str, can) -> dict[str, Any]:
    ready = bool(project.engine_project_id and project.current_version)
    if tab == "app" and ready:
        page = int_or_none(request.GET.get("page")) or 1
        return app_panel_context(project=project, can_edit=can.contacts_edit, page=page)
    if tab == "schema" and ready:
        return app_panel_context(project=project, schema_only=True)
    if tab == "meta":
        return meta_context(request, project)
    if tab == "activity":
        return activity_context(request, project)
    return {}


def project_context(request: HttpRequest, project: AgentProject, tab: str) -> dict[str, Any]:
    active_job = services.job_active(project=project)
    next_number = services.version_next_number(project=project)
    connection, connection_error = _connection_string(project)
    can = permissions.can_for(request.user, project)
    return {
        "project": project,
        "can": can,
        "current": project.current_version,
        "job": active_job,
        "job_seen": job_waits.job_marker(active_job) if active_job else "",
        "poll_delay_ms": 0,
        "result_job": _result_job(project),
        "busy": active_job is not None,
        "next_step": demo_step(next_number) if next_number is not None else None,
        "last_step": DEMO_STEPS[-1],
        # A share link's preview belongs to the link (revoking it ends it), not to this list.
        "previews": list(
            selectors.previews_live(project=project).exclude(
                pk__in=project.shares.exclude(preview=None).values("preview")
            )
        ),
        "connection": connection,
        "connection_error": connection_error,
        "tabs": TABS,
        "tab": tab,
        "shares": list(sharing.shares_live(project=project)),
        "undo_to": _undo_to(project),
        "move_to": move_destinations(project=project) if can.project_move else [],
        "quota_banner": job_watchdog.quota_banner(project),
        **timeline_context(project),
        **history_context(request, project),
        **_tab_context(request, project, tab, can),
        **neon_context.neon_project_context(
            project
        ),  # adopted snapshots, a removed key (views/neon.py)
    }


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
    return render(request, template, project_context(request, project, tab), status=status)


@require_GET
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    return project_render(request, project)
