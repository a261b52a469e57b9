"""The restore window: how long versions are kept, and the expiry it gives each one.

Keep every version (default), keep versions N days, or keep the last N versions. It sets
`Version.expires_at`: a new version gets `now + N days` under "days" (also passed to the
engine as the snapshot's `expires_at`); under "last N", versions that fall out of the last
N expire at once. Changing the window recomputes the expiry of every live version but the
current one. Neon cannot change a snapshot's `expires_at` after creation, so a window made
longer later is honoured here while Neon still deletes the snapshot at its first expiry;
cleanup then marks such a version deleted ("snapshot gone")."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from checkpoints.models import AgentProject, Version

Window = AgentProject.RestoreWindow


def window_describe(project: AgentProject) -> str:
    count = project.restore_window_count
    if project.restore_window == Window.DAYS:
        return f"Versions are kept {count} day{'s' if count != 1 else ''}."
    if project.restore_window == Window.VERSIONS:
        return f"The last {count} version{'s are' if count != 1 else ' is'} kept."
    return "Every version is kept until you delete it."


def version_expiry_default(*, project: AgentProject, created_at: datetime) -> datetime | None:
    """The expiry a version created at `created_at` gets (None: no time-based expiry)."""
    if project.restore_window == Window.DAYS:
        return created_at + timedelta(days=project.restore_window_count)
    return None


def versions_in_window(*, project: AgentProject, now: datetime | None = None) -> set[int]:
    """Pks of the live versions inside the restore window (cleanup never removes them)."""
    now = now or timezone.now()
    live = project.versions.filter(deleted_at__isnull=True)
    if project.restore_window == Window.FOREVER:
        return set(live.values_list("pk", flat=True))
    if project.restore_window == Window.DAYS:
        since = now - timedelta(days=project.restore_window_count)
        return set(live.filter(created_at__gt=since).values_list("pk", flat=True))
    newest = live.order_by("-created_at", "-pk")[: project.restore_window_count]
    return set(newest.values_list("pk", flat=True))


def versions_expiry_apply(*, project: AgentProject, now: datetime | None = None) -> int:
    """Recompute `expires_at` of the live versions per the window; return how many changed.

    The current version is never touched."""
    now = now or timezone.now()
    keep = versions_in_window(project=project, now=now)
    changed = 0
    live = project.versions.filter(deleted_at__isnull=True).exclude(
        pk=project.current_version_id or 0
    )
    for version in live:
        if project.restore_window == Window.DAYS:
            expires = version_expiry_default(project=project, created_at=version.created_at)
        elif project.restore_window == Window.VERSIONS:
            outside = version.pk not in keep
            already = (
                version.expires_at if version.expires_at and version.expires_at <= now else None
            )
            expires = (already or now) if outside else None
        else:
            expires = None
        if expires != version.expires_at:
            Version.objects.filter(pk=version.pk).update(expires_at=expires)
            changed += 1
    return changed


def version_expiry_note(*, project: AgentProject, version: Version, now: datetime) -> str:
    """What the page says about when a version goes ("expires 12 May 14:00 UTC")."""
    if version.deleted_at is not None:
        return ""
    if version.pk == project.current_version_id:
        return "kept while it is the current version"
    if version.expires_at is not None:
        when = timezone.localtime(version.expires_at).strftime("%d %b %H:%M")
        if version.expires_at <= now:
            return f"expired {when} UTC: the next cleanup removes it"
        return f"expires {when} UTC"
    if project.restore_window == Window.VERSIONS:
        return f"kept while among the last {project.restore_window_count}"
    return "kept until deleted"
