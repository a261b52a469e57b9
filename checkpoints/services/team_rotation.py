"""When someone leaves a team, what they saved must stop working: every project of the
team (and its previews) gets a new password and its open sessions end."""

from __future__ import annotations

from typing import TYPE_CHECKING

from checkpoints.errors import ServiceError
from checkpoints.models import Team
from checkpoints.services.projects import project_password_rotate

if TYPE_CHECKING:
    from django.contrib.auth.models import User

#: Said after MEMBER_REMOVED when the team has projects: a connection string the member
#: saved must stop working, so every project of the team gets a new password.
PASSWORDS_ROTATED = (
    " The passwords of the team’s {count} project{s} were rotated and their open sessions "
    "ended: connection strings saved before stop working; copy the new ones from each "
    "project’s page."
)
ROTATE_FAILED = (
    " Not rotated (busy or unreachable), rotate them from their project page now: {names}."
)
ROTATE_REASON = "{user} left team “{team}”. "


def team_passwords_rotate(*, team: Team, by: User, because: str) -> str:
    """Rotate the password of each of the team's projects; the sentence to add to the
    member's removal (`PASSWORDS_ROTATED`, and `ROTATE_FAILED` naming any not rotated)."""
    projects = list(team.projects.exclude(engine_project_id="").order_by("name", "pk"))
    failed = []
    for project in projects:
        try:
            project_password_rotate(project=project, user=None, actor=by, because=because)
        except ServiceError:
            failed.append(project.name)
    if not projects:
        return ""
    done = PASSWORDS_ROTATED.format(count=len(projects), s="" if len(projects) == 1 else "s")
    return done + (ROTATE_FAILED.format(names=", ".join(failed)) if failed else "")
