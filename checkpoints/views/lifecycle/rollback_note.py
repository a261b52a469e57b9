"""The sentence the rollback confirmation opens with: what rolling back changes in the
live database now ("Rolling back to v1 drops columns role, company, tags and 1 contact.").

The confirmation is a GET: it only reads, through the one bounded live read every door's
plan uses (`lifecycle.diff.live_manifest`), so a slow or unreachable database costs at
most a few seconds, and then the sentence says plainly that it could not look (never a
silent nothing). A version saved without a manifest has nothing to compare: no sentence.
"""

from __future__ import annotations

import logging

import psycopg

from checkpoints import services
from checkpoints.engines.base import mask_password
from checkpoints.engines.errors import EngineError
from checkpoints.lifecycle.diff import READ_SECONDS, diff_summary, manifest_diff
from checkpoints.lifecycle.diff import live_manifest as _live_manifest
from checkpoints.models import AgentProject, Version

logger = logging.getLogger(__name__)

UNREADABLE = (
    "What {doing} changes could not be read from the live database within {seconds} s ({reason}). "
)


def rollback_sentence(
    project: AgentProject, version: Version, *, undo: bool = False, forward: bool = False
) -> str:
    """What rolling back to `version` (moving `forward` to it, or undoing the rollback,
    which goes back to it) changes, or why that cannot be said now."""
    verb = "moving" if forward else "rolling back"
    doing = "undoing the rollback" if undo else f"{verb} to {version.label}"
    if not version.manifest:
        return ""
    try:
        live = _live_manifest(services.project_connection_uri(project=project))
    except (psycopg.Error, EngineError, services.ServiceError) as error:
        reason = mask_password(str(error).strip().splitlines()[0] if str(error).strip() else "")
        logger.warning("rollback confirmation of project %s: %s", project.pk, reason)
        timed_out = (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable)
        short = "it did not answer in time" if isinstance(error, timed_out) else ""
        return UNREADABLE.format(
            doing=doing, seconds=READ_SECONDS, reason=short or reason or "no answer"
        )
    summary = diff_summary(manifest_diff(live, version.manifest))
    return f"{doing[0].upper()}{doing[1:]} {summary}. "
