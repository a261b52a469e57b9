"""Who may do what: every role rule of the app lives in `ACTIONS`, and nowhere else.

A team member has one role: viewer < operator < owner. Each action needs a minimum role.
Services call `require(...)` (the server-side check, authoritative for pages, htmx
fragments, the API and commands alike); templates get a `Can` (`{% if can.rollback %}`)
so that buttons a role cannot use are not shown. Not being a member at all is not a
permission question: selectors scope every lookup to the user's teams, so it answers 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from checkpoints.errors import NotAllowed
from checkpoints.models import AgentProject, Membership, Team

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

VIEWER, OPERATOR, OWNER = Membership.Role.VIEWER, Membership.Role.OPERATOR, Membership.Role.OWNER
RANK = {VIEWER: 1, OPERATOR: 2, OWNER: 3}

#: action -> (minimum role, what it is, for the refusal message)
ACTIONS: dict[str, tuple[str, str]] = {
    "view": (VIEWER, "see this project"),
    "project_create": (OPERATOR, "create projects"),
    "version_create": (OPERATOR, "create versions"),
    "version_rename": (OPERATOR, "rename versions"),
    "version_pin": (OPERATOR, "pin versions (keep them hot)"),
    "rollback": (OPERATOR, "roll back"),
    "tables_restore": (OPERATOR, "restore tables"),
    "table_protect": (OPERATOR, "protect tables"),
    "preview_open": (OPERATOR, "open previews"),
    "preview_discard": (OPERATOR, "discard previews"),
    "job_cancel": (OPERATOR, "cancel jobs"),
    "sessions_end": (OPERATOR, "end the project’s database sessions"),
    "contacts_edit": (OPERATOR, "edit the app’s data"),
    "share_create": (OPERATOR, "share versions with a link"),
    "share_revoke": (OPERATOR, "revoke share links"),
    "connection_uri": (OPERATOR, "read connection strings with their password"),
    "version_delete": (OWNER, "delete versions"),
    "start_over": (OWNER, "start over"),
    "project_delete": (OWNER, "delete projects"),
    "restore_window": (OWNER, "change the restore window"),
    "table_unprotect": (OWNER, "lift a table’s protection"),
    "cleanup": (OWNER, "change or run the cleanup"),
    "members_manage": (OWNER, "manage the team’s members"),
    "webhooks_manage": (OWNER, "manage the team’s webhooks"),
    "connections_manage": (OWNER, "manage the team’s engine connections"),
    "project_move": (OWNER, "move projects to another connection"),
    "password_rotate": (OWNER, "rotate the connection string’s password"),
}

NOT_ALLOWED = "Your role in team “{team}” is {role}: only {who} can {what}."
WHO = {OPERATOR: "an operator or an owner", OWNER: "an owner"}
NOT_A_MEMBER = "You are not a member of team “{team}”."


def role_rank(role: str | None) -> int:
    return RANK.get(role or "", 0)


def allows(role: str | None, action: str) -> bool:
    """Whether `role` may do `action` (an unknown action is a bug: KeyError)."""
    needed, _ = ACTIONS[action]
    return role_rank(role) >= RANK[needed]


def _team_id(target: AgentProject | Team) -> int:
    return target.team_id if isinstance(target, AgentProject) else target.pk


def role_for(user: AbstractBaseUser, target: AgentProject | Team) -> str | None:
    """The user's role in the team of `target` (a project or a team), None if not a member."""
    if not getattr(user, "is_authenticated", False):
        return None
    return (
        Membership.objects.filter(team_id=_team_id(target), user=user)
        .values_list("role", flat=True)
        .first()
    )


def require(user: AbstractBaseUser, target: AgentProject | Team, action: str) -> str:
    """Refuse with `NotAllowed` (403, readable message) unless the user may do `action`.

    Returns the user's role."""
    needed, what = ACTIONS[action]
    role = role_for(user, target)
    if not allows(role, action):
        team = target.team if isinstance(target, AgentProject) else target
        if role is None:
            raise NotAllowed(NOT_A_MEMBER.format(team=team.name))
        raise NotAllowed(NOT_ALLOWED.format(team=team.name, role=role, who=WHO[needed], what=what))
    return role


class Can:
    """`can.<action>` for templates: True when the role allows the action.

    An unknown action name is False in a template (Django swallows the error) but raises
    in Python, so tests catch typos."""

    def __init__(self, role: str | None) -> None:
        self.role = role

    def __getitem__(self, action: str) -> bool:
        if action not in ACTIONS:
            raise KeyError(action)
        return allows(self.role, action)

    def __getattr__(self, action: str) -> bool:
        if action.startswith("_") or action not in ACTIONS:
            raise AttributeError(action)
        return allows(self.role, action)

    def __repr__(self) -> str:
        return f"Can(role={self.role!r})"


def can_for(user: AbstractBaseUser, target: AgentProject | Team) -> Can:
    return Can(role_for(user, target))
