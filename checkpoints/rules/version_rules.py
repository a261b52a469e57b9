"""Rules about versions and previews that use cases and runners share: the SQL split (its
checks are `version_sql`'s), numbering, default names, room for a snapshot, preview TTL."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from checkpoints.demo import demo_step
from checkpoints.errors import (
    SNAPSHOT_LIMIT,
    VERSION_DELETED,
    VERSION_EXPIRED,
    ServiceError,
    SnapshotLimitReached,
)
from checkpoints.models import AgentProject, Version
from checkpoints.rules import version_sql


def sql_split(sql: str) -> list[str]:
    """The statements of `sql` (see `version_sql.statements`: raises `SqlRefused`)."""
    return version_sql.statements(sql)


def version_default_name(*, prompt: str, number: int) -> str:
    first_line = prompt.strip().splitlines()[0] if prompt.strip() else ""
    return first_line[:80] or f"Version {number}"


def version_number_after(*, project: AgentProject) -> int:
    """The number a new version gets: one more than any since the project (re)started."""
    first_live = project.versions.filter(deleted_at__isnull=True).order_by("pk").first()
    if first_live is None:
        return 0
    since = project.versions.filter(pk__gte=first_live.pk)
    return max(since.values_list("number", flat=True)) + 1


def version_next_number(*, project: AgentProject) -> int | None:
    """The demo script's next step, or None at the end. Automatic versions (the live
    state kept before a rollback) are no step of the script: they are skipped."""
    live = project.versions.filter(deleted_at__isnull=True, automatic=False)
    last = live.order_by("-number").first()
    number = 0 if last is None else last.number + 1
    return number if demo_step(number) is not None else None


def version_require_live(version: Version) -> None:
    """Refuse a deleted or expired version (its snapshot is gone)."""
    if version.deleted_at is not None:
        raise ServiceError(VERSION_DELETED)
    if version.expires_at is not None and version.expires_at <= timezone.now():
        raise ServiceError(VERSION_EXPIRED)


def snapshot_room_check(*, project: AgentProject) -> None:
    """Refuse a new version at once (`SnapshotLimitReached`, 409 `snapshot_limit`) when the
    last job saw the engine's snapshot limit reached and no expired version can make room.

    Reads the metadata only; the job checks the engine again before applying anything."""
    capacity = (project.engine_listing or {}).get("capacity") or {}
    limit, used = capacity.get("limit"), capacity.get("used", 0)
    if not limit or used < limit:
        return
    expired = project.versions.filter(deleted_at__isnull=True, expires_at__lte=timezone.now())
    if expired.exclude(pk=project.current_version_id or 0).exists():
        return  # the job deletes their snapshots first
    name = capacity.get("engine") or project.engine_name
    engine = "Neon" if name == "neon" else f"The {name} engine"
    raise SnapshotLimitReached(SNAPSHOT_LIMIT.format(engine=engine, used=used, limit=limit))


def preview_ttl() -> timedelta:
    return timedelta(minutes=settings.CHECKPOINTS_PREVIEW_TTL_MINUTES)
