"""Every user owns a personal team: made on sign-up, or on the first login of a user made
before teams; a deleted team's embedded server goes with it. Connected in
`CheckpointsConfig.ready`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from checkpoints.models import Membership, Team
from checkpoints.servers.engine_connections import team_server_remove

if TYPE_CHECKING:
    from django.contrib.auth.models import User


@transaction.atomic
def team_personal_for(*, user: User) -> Team:
    """The user's personal team, created (with the user as owner) on first use."""
    team, _ = Team.objects.get_or_create(
        personal_for=user, defaults={"name": f"{user.get_username()}’s team"}
    )
    Membership.objects.get_or_create(team=team, user=user, defaults={"role": Membership.Role.OWNER})
    return team


def _user_created_personal_team(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """Every new user owns a personal team from the start."""
    if created:
        team_personal_for(user=instance)


def _user_logged_in_personal_team(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """A first login gets a personal team too (idempotent: users made before teams)."""
    team_personal_for(user=user)


def _team_deleted_server_removed(sender: Any, instance: Team, **kwargs: Any) -> None:
    """A deleted team's embedded server stops and its folder goes, once the deletion is
    committed: no orphan server keeps running for a team that is gone."""
    team_id = instance.pk  # None once the deletion is done
    transaction.on_commit(lambda: team_server_remove(team_id))


def connect() -> None:
    post_delete.connect(
        _team_deleted_server_removed, sender=Team, dispatch_uid="checkpoints.team_server.removed"
    )
    post_save.connect(
        _user_created_personal_team,
        sender=settings.AUTH_USER_MODEL,
        dispatch_uid="checkpoints.personal_team.created",
    )
    user_logged_in.connect(
        _user_logged_in_personal_team, dispatch_uid="checkpoints.personal_team.login"
    )
