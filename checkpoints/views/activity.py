"""The Activity tab: what happened to the project, newest first, filtered by person
(`person`, a user id) and `kind`, one page at a time (`activity_page`)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from checkpoints.models import Activity, AgentProject
from checkpoints.rules import selectors
from checkpoints.security.input_guard import int_or_none
from checkpoints.services import teams
from checkpoints.views.pages import page_get, pager

ACTIVITY_PER_PAGE = 50
ACTIVITY_PARAM = "activity_page"


def activity_context(request: HttpRequest, project: AgentProject) -> dict[str, Any]:
    """The filtered activity page and the filters' choices."""
    kinds = dict(Activity.Kind.choices)
    kind = request.GET.get("kind", "")
    kind = kind if kind in kinds else ""
    person = request.GET.get("person", "")
    actor_id = int_or_none(person)
    person = person if actor_id is not None else ""
    activities = selectors.activities_for(
        project=project, actor_id=actor_id, kind=kind or None, limit=None
    )
    query = request.GET.copy()
    query["tab"] = "activity"
    for name, value in (("person", person), ("kind", kind)):
        query[name] = value
    page = page_get(activities, query=query, param=ACTIVITY_PARAM, per_page=ACTIVITY_PER_PAGE)
    return {
        "activities": page.object_list,
        "activity_pager": pager(
            page,
            query=query,
            param=ACTIVITY_PARAM,
            href=reverse("project-detail", args=[project.pk]),
            hx_get=reverse("project-activity", args=[project.pk]),
            target="#activity-list",
            what="Events",
            label="Pages of activity",
            newer="Newer",
            older="Older",
        ),
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
    context = {"project": project, **activity_context(request, project)}
    return render(request, "checkpoints/_activity.html#activity-list", context)
