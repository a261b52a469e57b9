"""Use cases on a version's tier: Pin keeps it hot whatever the policy says, Unpin lets
the policy move it again. Either queues a tier move (the thaw or freeze runs as a job)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from checkpoints.activity import activity_record
from checkpoints.jobs.tier_move import tier_move_soon
from checkpoints.models import Activity, Version
from checkpoints.rules import permissions, version_rules

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def version_pin(*, version: Version, user: User) -> Version:
    """Keep the version hot (a cold one is brought back by the queued tier move)."""
    return _pin_set(version=version, user=user, pinned=True)


def version_unpin(*, version: Version, user: User) -> Version:
    """Let the tier policy move the version again."""
    return _pin_set(version=version, user=user, pinned=False)


def _pin_set(*, version: Version, user: User, pinned: bool) -> Version:
    project = version.project
    permissions.require(user, project, "version_pin")
    version_rules.version_require_live(version)
    if version.pinned != pinned:
        Version.objects.filter(pk=version.pk).update(pinned=pinned)
        version.pinned = pinned
        activity_record(
            project=project,
            actor=user,
            kind=Activity.Kind.PIN if pinned else Activity.Kind.UNPIN,
            to_version=version,
            detail=f"{'Pinned' if pinned else 'Unpinned'} {version.label}"
            + (": kept hot" if pinned else ": the tier policy applies again"),
        )
    tier_move_soon(project)
    return version
