"""The project page's "Move to …" (owners): a confirmation that says the connection
string will change once, then the PROJECT_MOVE job with its live steps."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from checkpoints.rules import selectors
from checkpoints.security.input_guard import int_or_none
from checkpoints.services.project_move import move_destinations, project_move
from checkpoints.views.responses import confirmed_action

MOVE_BODY = (
    "Every version goes across to {name}{server} (a version it cannot hold is named and "
    "left behind), the live database last. The connection string changes once, when the "
    "move is done: the old one stops working then, and apps must use the new one. Until "
    "then the project stays whole where it is."
)


@require_http_methods(["GET", "POST"])
def project_move_view(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, pk=pk)
    wanted = request.POST.get("connection") or request.GET.get("connection", "")

    def confirm() -> dict:
        chosen = [c for c in move_destinations(project=project) if c.pk == int_or_none(wanted)]
        if not chosen:
            raise Http404("no such connection")
        server = f" ({chosen[0].server})" if chosen[0].server else ""
        return {
            "title": f"Move this project to {chosen[0].name}?",
            "body": MOVE_BODY.format(name=chosen[0].name, server=server),
            "action": reverse("project-move", args=[project.pk]) + f"?connection={chosen[0].pk}",
            "confirm_label": f"Move to {chosen[0].name}",
            "danger": True,
        }

    return confirmed_action(
        request,
        project,
        permission="project_move",
        confirm=confirm,
        start=lambda: project_move(project=project, user=request.user, connection_id=wanted),
    )
