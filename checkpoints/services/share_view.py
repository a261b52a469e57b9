"""The public side of share links: `/s/<token>` finds its link, is rate-limited, and is
served from the link's preview through its read-only role (see services/sharing.py for
creating and revoking links)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from checkpoints import connections
from checkpoints.activity import activity_record
from checkpoints.errors import ServiceError
from checkpoints.jobs.webhook_delivery import share_event
from checkpoints.models import Activity, Job, Preview, ShareLink

logger = logging.getLogger(__name__)

SHARE_GONE = "This share link has expired or was revoked."
#: After a failed start, the shared view tries again after this long (not on every refresh).
RETRY_AFTER = timedelta(seconds=30)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


class ShareGone(ServiceError):
    status = 410


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
    return int(settings.CHECKPOINTS_SHARE_RATE_PER_MINUTE)


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
    """What `/s/<token>` shows now: `starting` while the job its maker started runs, then
    the read-only connection string to read the app through (the app reads it, then calls
    `share_opened`)."""
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
    # Visitors never start a job on the project: the link's maker prepared the view when
    # the link was made (`sharing.share_create`). Without it the page says "not available".
    return ShareView("failed", share)


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
    _first_open(share)
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
        share_event(share, "share.opened")


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
