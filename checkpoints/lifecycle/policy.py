"""Settings that decide what cleanup and rollbacks leave behind."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings


def rollback_keeps_old_branch() -> bool:
    """CHECKPOINTS_ROLLBACK_KEEP_OLD_BRANCH: leave a verified rollback's `(old)` branch for
    cleanup instead of deleting it at once (an undo window until the next cleanup)."""
    return bool(settings.CHECKPOINTS_ROLLBACK_KEEP_OLD_BRANCH)


def cleanup_interval() -> timedelta | None:
    minutes = settings.CHECKPOINTS_CLEANUP_INTERVAL_MINUTES
    return timedelta(minutes=minutes) if minutes else None
