"""Share links: read-only, expiring, revocable links `/s/<token>` to one version's app.

Use cases for the pages, the API, the CLI and an MCP tool (each is one call):
`share_create`, `share_revoke`, `shares_live`, and for the public view `share_find` +
`share_view`. A link's token (256 bits) is shown once; only its sha256 is stored, and a
lookup compares it in constant time. The view is served from a preview branch made on
the link's first open (job `share_open`), read through that branch's read-only role (the
engine's `readonly_role_ensure`): the connection behind a shared page cannot write. The
preview expires with the link, and revoking ends it at once; the periodic preview
cleanup (`tasks.previews_cleanup_expired`, via `tasks.share_previews_ended`) deletes the
branch.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from checkpoints import connections, permissions, tasks, version_rules
from checkpoints.activity import activity_record
from checkpoints.errors import NOT_STARTED, ProjectBusy, ServiceError
from checkpoints.models import Activity, AgentProject, Job, Preview, ShareLink, Version
from checkpoints.services.previews import preview_discard

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
SHARE_GONE = "This share link has expired or was revoked."
#: After a failed start, the shared view tries again after this long (not on every refresh).
RETRY_AFTER = timedelta(seconds=30)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


class ShareGone(ServiceError):
    status = 410


@dataclass(frozen=True)
class ShareCreated:
    """A new link. `token` exists only here: show it once, it is not stored."""

    share: ShareLink
    token: str

    @property
    def path(self) -> str:
        return reverse("share-view", args=[self.token])


@dataclass(frozen=True)
class ShareView:
    """What the public page shows: `ready` (the app, read through `uri`, the preview
    branch's read-only connection string: never show it), `starting` or `failed`."""

    state: str
    share: ShareLink
    uri: str = ""
    steps: list[dict] = field(default_factory=list)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def rate_per_minute() -> int:
    return int(getattr(settings, "CHECKPOINTS_SHARE_RATE_PER_MINUTE", 120))


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
    return ShareCreated(share=share, token=token)


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


# The public view ------------------------------------------------------------------------------


def share_find(*, token: str) -> ShareLink | None:
    """The link of `token` (live or not), or None. Looked up by hash, then compared in
    constant time."""
    if not _TOKEN.match(token or ""):
        return None
    digest = token_hash(token)
    share = (
        ShareLink.objects.select_related("project", "version", "preview")
        .filter(token_hash=digest)
        .first()
    )
    if share is None or not hmac.compare_digest(share.token_hash, digest):
        return None
    return share


def share_rate_allowed(*, share: ShareLink) -> bool:
    """At most `CHECKPOINTS_SHARE_RATE_PER_MINUTE` requests per link and minute (per
    process: the cache is local memory unless configured otherwise)."""
    key = f"share-rate:{share.pk}:{int(timezone.now().timestamp() // 60)}"
    if cache.add(key, 1, timeout=120):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=120)
            count = 1
    return count <= rate_per_minute()


def share_view(*, share: ShareLink) -> ShareView:
    """What `/s/<token>` shows now. Starts the link's preview on first open (and again if
    its preview is gone); once it is ready, the read-only connection string to read the
    app through (the app reads it, then calls `share_opened`)."""
    if not share.is_live:
        raise ShareGone(SHARE_GONE)
    preview = share.preview
    if preview is not None and preview.is_live:
        return _ready(share, preview)
    if share.version.deleted_at is not None:  # no snapshot to start from any more
        raise ShareGone(SHARE_GONE)
    job = _latest_job(share)
    if job is not None and not job.is_finished:
        return ShareView("starting", share, steps=_steps(job))
    recently_failed = (
        job is not None
        and job.state == Job.State.FAILED
        and job.finished_at is not None
        and timezone.now() - job.finished_at < RETRY_AFTER
    )
    if recently_failed:
        return ShareView("failed", share)
    _first_open(share)
    try:
        job = tasks.job_enqueue(
            project=share.project,
            kind=Job.Kind.SHARE_OPEN,
            user=None,
            target_version=share.version,
            request={"share_id": share.pk, "expires_at": share.expires_at.isoformat()},
        )
    except ProjectBusy:
        return ShareView("starting", share)  # another job runs: the page tries again
    return ShareView("starting", share, steps=_steps(job))


def _ready(share: ShareLink, preview: Preview) -> ShareView:
    project = share.project
    try:
        uri = connections.engine_for(project=project).readonly_connection_uri(
            project.engine_project_id, preview.branch_id
        )
    except Exception as exc:  # the page says "not available", never why (no ids, no URIs)
        logger.warning(
            "share link #%s: the read-only role failed: %s", share.pk, type(exc).__name__
        )
        return ShareView("failed", share)
    return ShareView("ready", share, uri=uri)


def share_opened(*, share: ShareLink) -> None:
    """Count one open of the link (the app was shown)."""
    ShareLink.objects.filter(pk=share.pk).update(
        open_count=F("open_count") + 1, last_opened_at=timezone.now()
    )


def _first_open(share: ShareLink) -> None:
    if ShareLink.objects.filter(pk=share.pk, first_opened_at__isnull=True).update(
        first_opened_at=timezone.now()
    ):
        activity_record(
            project=share.project,
            actor=None,
            kind=Activity.Kind.SHARE_OPEN,
            to_version=share.version,
            detail=f"Share link #{share.pk} of {share.version.label} opened for the first time.",
        )


def _latest_job(share: ShareLink) -> Job | None:
    return (
        Job.objects.filter(
            project=share.project, kind=Job.Kind.SHARE_OPEN, result__request__share_id=share.pk
        )
        .order_by("-pk")
        .first()
    )


def _steps(job: Job) -> list[dict]:
    """Step names and states only: details carry branch ids, which a link must not show."""
    return [{"name": step["name"], "state": step["state"]} for step in job.steps]
