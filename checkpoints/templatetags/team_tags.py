"""`{% team_switcher %}`: the header's team menu (current team, switch, manage)."""

from __future__ import annotations

from django import template

from checkpoints.models import Membership
from checkpoints.services import teams

register = template.Library()


@register.inclusion_tag("checkpoints/_team_switcher.html", takes_context=True)
def team_switcher(context) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None)
    if request is None or not getattr(user, "is_authenticated", False):
        return {"show": False}
    current = teams.team_current(request)
    memberships = (
        Membership.objects.filter(user=user).select_related("team").order_by("team__name", "pk")
    )
    role = next((m.role for m in memberships if m.team_id == current.pk), None)
    return {
        "show": True,
        "current": current,
        "role": role,
        "memberships": memberships,
        "csrf_token": context.get("csrf_token"),
    }
