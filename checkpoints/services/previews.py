"""Use cases on previews: open a version on a temporary branch, discard it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from checkpoints import tasks
from checkpoints.models import AgentProject, Job, Preview, Version
from checkpoints.rules import permissions, version_rules

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def preview_open(*, project: AgentProject, version: Version, user: User) -> Job:
    """Restore `version` to a temporary branch with its own connection string
    (`jobs.preview.run_preview_open`)."""
    permissions.require(user, project, "preview_open")
    version_rules.version_require_live(version)
    return tasks.job_enqueue(
        project=project, kind=Job.Kind.PREVIEW_OPEN, user=user, target_version=version
    )


def preview_discard(*, preview: Preview, user: User | None) -> Job:
    """Delete the preview's branch (`user=None`: the preview expired)."""
    if user is not None:
        permissions.require(user, preview.project, "preview_discard")
    return tasks.preview_discard_enqueue(preview=preview, user=user)
