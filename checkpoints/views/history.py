"""The project page's versions: the history card (deleted versions included, since the
last start over) one page at a time, the timeline, and the lifecycle card's choices.

Only the shown page is loaded and annotated (expiry and rollback notes), so the page
stays small at 1,000 versions; the diff dropdowns offer the shown page's versions (plus
the live and the previous one) and a number field reaches any other.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from checkpoints import services
from checkpoints.engines.errors import EngineError
from checkpoints.models import AgentProject, Version
from checkpoints.rules import snapshot_room
from checkpoints.services import lifecycle
from checkpoints.services.history import history_moments
from checkpoints.views.pages import page_get, pager

VERSIONS_PER_PAGE = 20
VERSIONS_PARAM = "versions_page"
META_PER_PAGE = 50
META_PARAM = "meta_page"


def _pager(
    request: HttpRequest, project: AgentProject, page: Page, param: str, what: str, noun: str
) -> dict[str, Any]:
    """A pager of the project page: its links reload the `#project` region."""
    return pager(
        page,
        query=request.GET,
        param=param,
        href=reverse("project-detail", args=[project.pk]),
        target="#project",
        push="1",
        what=what,
        label=f"Pages of {what.lower()}",
        newer=f"Newer {noun}",
        older=f"Older {noun}",
    )


def _annotate(project: AgentProject, versions: list[Version], current: Version | None) -> None:
    now = timezone.now()
    for version in versions:
        version.expiry_note = lifecycle.version_expiry_note(
            project=project, version=version, now=now
        )
        version.diff_note = ""
        if current is not None and version.pk != current.pk and not version.deleted_at:
            version.diff_note = lifecycle.version_diff(old=current, new=version).summary


def _point_in_time(project: AgentProject) -> bool:
    try:
        return services.engine_for(project=project).supports_point_in_time
    except (EngineError, RuntimeError, ValueError):  # the engine cannot be built: no as-of form
        return False


def _diff_choices(project: AgentProject, shown: list[Version], current: Version | None):
    """(dropdown versions ascending, default from, default to)."""
    live = project.versions.filter(deleted_at__isnull=True)
    previous = None
    if current is not None:
        previous = live.filter(number__lt=current.number).order_by("-number").first()
    choices = {v.pk: v for v in shown if v.deleted_at is None}
    for extra in (current, previous):
        if extra is not None:
            choices.setdefault(extra.pk, extra)
    ordered = sorted(choices.values(), key=lambda v: (v.number, v.pk))
    first = ordered[0].number if ordered else None
    return ordered, previous.number if previous else first, current.number if current else None


def history_context(request: HttpRequest, project: AgentProject) -> dict[str, Any]:
    """The history page, the timeline and the lifecycle card of the project page."""
    first_live = project.versions.filter(deleted_at__isnull=True).order_by("pk").first()
    rows = project.versions.none()
    if first_live is not None:
        rows = project.versions.filter(pk__gte=first_live.pk).order_by("-number", "-pk")
    page = page_get(
        rows.select_related("deleted_by"),
        query=request.GET,
        param=VERSIONS_PARAM,
        per_page=VERSIONS_PER_PAGE,
    )
    history = list(page.object_list)
    current = project.current_version
    _annotate(project, history, current)
    choices, diff_from, diff_to = _diff_choices(project, history, current)
    live_total = project.versions.filter(deleted_at__isnull=True).count()
    point_in_time = _point_in_time(project)
    return {
        "history": history,
        "history_pager": _pager(request, project, page, VERSIONS_PARAM, "Versions", "versions"),
        "lifecycle": {
            "window_text": lifecycle.window_describe(project),
            "window_choices": AgentProject.RestoreWindow.choices,
            "versions": choices,
            "versions_total": live_total,
            "more_versions": live_total > len(choices),
            "diff_from": diff_from,
            "diff_to": diff_to,
            "point_in_time": point_in_time,
            "history_hours": project.history_hours,
            "history_local": point_in_time and project.engine_name == "local",
            "moments": history_moments(project) if point_in_time else [],
            "capacity": snapshot_room.capacity_shown(project),
            "window_warning": snapshot_room.window_warning(project),
        },
    }


def timeline_context(project: AgentProject) -> dict[str, Any]:
    """The newest live versions, oldest first, and how many earlier ones are not shown."""
    live = project.versions.filter(deleted_at__isnull=True)
    newest = list(live.order_by("-number")[:VERSIONS_PER_PAGE])[::-1]
    total = live.count() if len(newest) == VERSIONS_PER_PAGE else len(newest)
    return {"versions": newest, "versions_earlier": total - len(newest)}


def meta_context(request: HttpRequest, project: AgentProject) -> dict[str, Any]:
    """The Meta tab's table of every version row, newest first, one page at a time."""
    rows = project.versions.select_related("parent", "created_by").order_by("-pk")
    page = page_get(rows, query=request.GET, param=META_PARAM, per_page=META_PER_PAGE)
    return {
        "all_versions": page.object_list,
        "meta_pager": _pager(request, project, page, META_PARAM, "Version rows", "rows"),
    }
