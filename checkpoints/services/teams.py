"""Team use cases: the current team of a session, creating teams, managing members.

Projects belong to teams; a user may belong to several and works in one at a time (the
"current team", kept in the session). Role rules live in `checkpoints.rules.permissions`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from checkpoints.errors import ServiceError
from checkpoints.models import Invitation, Membership, Team
from checkpoints.rules import permissions
from checkpoints.services.team_rotation import ROTATE_REASON, team_passwords_rotate
from checkpoints.signals import team_personal_for

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpRequest

SESSION_KEY = "checkpoints_team"
TEAM_NAME_REQUIRED = "Give the team a name (1 to 200 characters)."
#: The answer to every invitation, whether or not "who" has an account, is a member or
#: was invited already: the form tells nothing about other people's accounts.
INVITED = (
    "If “{who}” has an account, they are invited as {role}. They join when they accept the "
    "invitation on their Teams page."
)
WHO_REQUIRED = "Give a username or an email (1 to 254 characters)."
INVITATION_ACCEPTED = "You joined team “{team}” as {role}."
INVITATION_DECLINED = "You declined the invitation to team “{team}”."
ROLE_INVALID = "Choose a role: viewer, operator or owner."
LAST_OWNER = (
    "{user} is the last owner of team “{team}”. Make another member an owner first: a team "
    "always keeps at least one owner."
)
PERSONAL_TEAM = "This is {user}’s personal team: they stay a member of it."
MEMBER_CHANGED = "{user} is now {role}."
MEMBER_REMOVED = "{user} left the team."


class LastOwner(ServiceError):
    status = 409


# Reads -------------------------------------------------------------------------------------


def teams_for(user: User) -> QuerySet[Team]:
    return Team.objects.filter(memberships__user=user).order_by("name", "pk")


def team_get(*, user: User, pk: int) -> Team:
    """A team the user belongs to; any other id answers 404."""
    return get_object_or_404(teams_for(user), pk=pk)


def members_of(team: Team) -> QuerySet[Membership]:
    return team.memberships.select_related("user").order_by("user__username")


# The current team --------------------------------------------------------------------------


def team_current(request: HttpRequest) -> Team:
    """The team the session works in: the one last switched to, else the personal team.

    A team the user has left (or was removed from) is forgotten silently."""
    user = cast("User", request.user)  # the pages that ask are for signed-in users
    team_id = request.session.get(SESSION_KEY)
    team = teams_for(user).filter(pk=team_id).first() if team_id else None
    if team is None:
        team = Team.objects.filter(personal_for=user, memberships__user=user).first()
    if team is None:
        team = teams_for(user).first() or team_personal_for(user=user)
    if request.session.get(SESSION_KEY) != team.pk:
        request.session[SESSION_KEY] = team.pk
    return team


def team_switch(request: HttpRequest, *, team: Team) -> None:
    request.session[SESSION_KEY] = team.pk


# Use cases ---------------------------------------------------------------------------------


@transaction.atomic
def team_create(*, user: User, name: str) -> Team:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ServiceError(TEAM_NAME_REQUIRED)
    team = Team.objects.create(name=name)
    Membership.objects.create(team=team, user=user, role=Membership.Role.OWNER)
    return team


def _role_checked(role: str) -> str:
    if role not in Membership.Role.values:
        raise ServiceError(ROLE_INVALID)
    return role


def _user_find(who: str) -> User | None:
    """The one user with this username, else the one with this email; else None."""
    User = get_user_model()
    by_name = User.objects.filter(**{User.USERNAME_FIELD: who}).first()
    if by_name is not None:
        return by_name
    matches = list(User.objects.filter(email__iexact=who)[:2]) if "@" in who else []
    return matches[0] if len(matches) == 1 else None


@transaction.atomic
def member_invite(*, team: Team, by: User, who: str, role: str) -> str:
    """Invite a user (by username or email) to the team; owners only. Returns the message
    to show, the same whether or not anyone was invited (`INVITED`)."""
    permissions.require(by, team, "members_manage")
    role = _role_checked(role)
    who = (who or "").strip()
    if not who or len(who) > 254:
        raise ServiceError(WHO_REQUIRED)
    user = _user_find(who)
    if user is not None and not Membership.objects.filter(team=team, user=user).exists():
        Invitation.objects.update_or_create(
            team=team, user=user, defaults={"role": role, "invited_by": by}
        )
    return INVITED.format(who=who, role=role)


def invitations_for(user: User) -> QuerySet[Invitation]:
    return (
        Invitation.objects.filter(user=user)
        .select_related("team", "invited_by")
        .order_by("-created_at", "pk")
    )


def invitation_get(*, user: User, pk: int) -> Invitation:
    """One of the user's own invitations; anyone else's answers 404."""
    return get_object_or_404(invitations_for(user), pk=pk)


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """The invited user joins the team with the invitation's role."""
    if invitation.user_id != user.pk:
        raise ServiceError("This invitation is for someone else.")
    membership, _ = Membership.objects.get_or_create(
        team=invitation.team, user=user, defaults={"role": invitation.role}
    )
    invitation.delete()
    return membership


def invitation_decline(*, invitation: Invitation, user: User) -> None:
    if invitation.user_id != user.pk:
        raise ServiceError("This invitation is for someone else.")
    invitation.delete()


def _owners_locked(team: Team) -> list[int]:
    """Lock the team's owner rows (so two owners cannot demote each other at once)."""
    owners = Membership.objects.select_for_update().filter(team=team, role=Membership.Role.OWNER)
    return list(owners.values_list("pk", flat=True))


@transaction.atomic
def member_set_role(*, membership: Membership, by: User, role: str) -> Membership:
    """Change a member's role. Owners only; the last owner cannot be demoted."""
    team = membership.team
    permissions.require(by, team, "members_manage")
    role = _role_checked(role)
    owners = _owners_locked(team)
    if role != Membership.Role.OWNER and owners == [membership.pk]:
        raise LastOwner(LAST_OWNER.format(user=membership.user.get_username(), team=team.name))
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


def member_remove(*, membership: Membership, by: User) -> str:
    """Remove a member (owners), or leave (anyone, themselves). Never the last owner.

    Then every project of the team gets a new password and its open sessions end: what
    the member saved (a connection string in an agent's config) stops working. Returns
    the message to show (`MEMBER_REMOVED` and what the rotation did)."""
    _member_delete(membership=membership, by=by)
    name = membership.user.get_username()
    return MEMBER_REMOVED.format(user=name) + team_passwords_rotate(
        team=membership.team,
        by=by,
        because=ROTATE_REASON.format(user=name, team=membership.team.name),
    )


@transaction.atomic
def _member_delete(*, membership: Membership, by: User) -> None:
    team = membership.team
    if membership.user_id != by.pk:
        permissions.require(by, team, "members_manage")
    if team.personal_for_id == membership.user_id:
        raise ServiceError(PERSONAL_TEAM.format(user=membership.user.get_username()))
    owners = _owners_locked(team)
    if owners == [membership.pk]:
        raise LastOwner(LAST_OWNER.format(user=membership.user.get_username(), team=team.name))
    membership.delete()


def membership_get(*, team: Team, pk: int) -> Membership:
    return get_object_or_404(members_of(team), pk=pk)


def people_for(project) -> QuerySet:
    """Everyone who may appear in a project's activity: members and past actors."""
    User = get_user_model()
    return (
        User.objects.filter(Q(memberships__team_id=project.team_id) | Q(pk__in=_actor_ids(project)))
        .distinct()
        .order_by(User.USERNAME_FIELD)
    )


def _actor_ids(project):
    return project.activities.exclude(actor=None).values("actor_id")
