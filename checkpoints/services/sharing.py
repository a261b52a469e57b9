"""Share links: read-only, expiring, revocable links `/s/<token>` to one version's app.

Use cases for the pages, the API, the CLI and an MCP tool (each is one call):
`share_create`, `share_revoke`, `shares_live`, and for the public view `share_find` +
`share_view`. A link's token (256 bits) is shown once; only its sha256 is stored, and a
lookup compares it in constant time. The view is served from a preview branch made when
the link is made, by its maker (job `share_open`): a visitor never starts, waits for or
holds a job on the project, so the owner's page, buttons and Undo stay as they are. It is
read through that branch's read-only role (the engine's `readonly_role_ensure`): the
connection behind a shared page cannot write. The
preview expires with the link, and revoking ends it at once; the periodic preview
cleanup (`tasks.previews_cleanup_expired`, via `tasks.share_previews_ended`) deletes the
branch.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from checkpoints import connections, tasks
from checkpoints.activity import activity_record
from checkpoints.errors import NOT_STARTED, ServiceError
from checkpoints.jobs.webhook_delivery import share_event
from checkpoints.models import Activity, AgentProject, Job, Preview, ShareLink, Version
from checkpoints.rules import permissions, version_rules
from checkpoints.services.previews import preview_discard
from checkpoints.services.share_view import (  # the public side, re-exported
    RETRY_AFTER,
    SHARE_GONE,
    ShareGone,
    ShareView,
    rate_per_minute,
    share_find,
    share_opened,
    share_rate_allowed,
    share_view,
    token_hash,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

DEFAULT_HOURS = 24
MAX_HOURS = 7 * 24
HOURS_INVALID = "Choose when the link expires: from 1 hour to 7 days (1 to 168 hours)."
SHARE_UNSUPPORTED = (
    "Share links need a read-only database role, which the {engine} engine cannot make yet. "
    "Use the local engine to share versions."
)


@dataclass(frozen=True)
class ShareCreated:
    """A new link. `token` exists only here: show it once, it is not stored."""

    share: ShareLink
    token: str
    #: The job preparing the shared view (None for a link made without one).
    job: Job | None = None

    @property
    def path(self) -> str:
        return reverse("share-view", args=[self.token])


# Members: create, list, revoke --------------------------------------------------------------


def share_create(*, version: Version, user: User, hours: int = DEFAULT_HOURS) -> ShareCreated:
    """A read-only link to `version`'s app that expires in `hours` (1 to 168)."""
    project = version.project
    permissions.require(user, project, "share_create")
    version_rules.version_require_live(version)
    if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= MAX_HOURS:
        raise ServiceError(HOURS_INVALID)
    engine = connections.engine_for(project=project)
    if not engine.supports_readonly_roles:
        raise ServiceError(SHARE_UNSUPPORTED.format(engine=engine.name))
    if not project.engine_project_id:
        raise ServiceError(NOT_STARTED)
    token = secrets.token_urlsafe(32)
    expires_at = timezone.now() + timedelta(hours=hours)
    with transaction.atomic():
        share = ShareLink.objects.create(
            project=project,
            version=version,
            token_hash=token_hash(token),
            created_by=user,
            expires_at=expires_at,
        )
        activity_record(
            project=project,
            actor=user,
            kind=Activity.Kind.SHARE,
            to_version=version,
            detail=f"Share link #{share.pk} of {version.label}, read-only, "
            f"until {expires_at:%d %b %H:%M} UTC.",
        )
        # The shared view is prepared now, by the link's maker (ProjectBusy: no link).
        job = tasks.job_enqueue(
            project=project,
            kind=Job.Kind.SHARE_OPEN,
            user=user,
            target_version=version,
            request={"share_id": share.pk, "expires_at": expires_at.isoformat()},
        )
    return ShareCreated(share=share, token=token, job=job)


def shares_live(*, project: AgentProject) -> QuerySet[ShareLink]:
    """The project's links that still open (not revoked, not expired), newest first."""
    return project.shares.filter(
        revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).select_related("version", "created_by")


def share_get(*, project: AgentProject, pk: int) -> ShareLink:
    return get_object_or_404(project.shares.select_related("version", "preview", "project"), pk=pk)


def share_revoke(*, share: ShareLink, user: User) -> ShareLink:
    """End the link at once (410 from now on) and discard its preview branch."""
    permissions.require(user, share.project, "share_revoke")
    now = timezone.now()
    with transaction.atomic():
        revoked = ShareLink.objects.filter(pk=share.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=user
        )
        if revoked:
            activity_record(
                project=share.project,
                actor=user,
                kind=Activity.Kind.UNSHARE,
                to_version=share.version,
                detail=f"Share link #{share.pk} of {share.version.label} revoked.",
            )
            share_event(share, "share.revoked")
    share.refresh_from_db()
    _preview_end(share, user=user)
    return share


def _preview_end(share: ShareLink, *, user: User | None) -> None:
    preview = share.preview
    if preview is None or preview.discarded_at is not None:
        return
    Preview.objects.filter(pk=preview.pk).update(expires_at=timezone.now())
    preview.refresh_from_db()
    try:
        preview_discard(preview=preview, user=user)
    except ServiceError:
        pass  # busy: the preview cleanup after the running job discards it (it has expired)


__all__ = [
    "RETRY_AFTER",
    "SHARE_GONE",
    "ShareGone",
    "ShareView",
    "rate_per_minute",
    "share_find",
    "share_opened",
    "share_rate_allowed",
    "share_view",
    "token_hash",
]
