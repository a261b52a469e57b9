"""The worker's watchdog over what projects take of the shared PostgreSQL server: every
`CHECKPOINTS_WATCHDOG_SECONDS` one worker (an advisory lock elects it per round) ends
the sessions of a project role past `CHECKPOINTS_ROLE_ADVISORY_LOCKS` advisory locks and
turns a live database past `CHECKPOINTS_PROJECT_DISK_QUOTA_MB` read-only
(`engines/local/watchdog.py` says how), and writes an Activity entry for each.
Local engine only: Neon bounds its own computes."""

from __future__ import annotations

import logging

from django.conf import settings

from checkpoints.activity import activity_record
from checkpoints.engines import get_engine
from checkpoints.engines.local import watchdog
from checkpoints.models import Activity, AgentProject

logger = logging.getLogger(__name__)

MB = 1024 * 1024
LOCKS_ENDED = (
    "Ended {ended} session(s) of {role}: it held {amount} advisory locks, past the cap of "
    "{limit} (setting CHECKPOINTS_ROLE_ADVISORY_LOCKS); the locks are released."
)
QUOTA_SAID = {
    "read-only": "The live database ({size}) is past the project's disk quota of {limit} "
    "(setting CHECKPOINTS_PROJECT_DISK_QUOTA_MB): it is read-only now and its sessions "
    "were ended. Roll back to a smaller version, or raise the quota.",
    "still growing": "The live database ({size}) is still growing past the disk quota of "
    "{limit} (a session turned read-only off for itself): its sessions were ended again.",
    "writable": "The live database ({size}) is under the disk quota of {limit} again: it "
    "is writable.",
}
QUOTA_FAILURE = (
    "The project is over its disk quota: its live database ({size}) is past "
    "{limit} (setting CHECKPOINTS_PROJECT_DISK_QUOTA_MB), so it is read-only. Roll back "
    "to a smaller version, or ask an administrator to raise the quota."
)


def advisory_cap() -> int:
    return int(settings.CHECKPOINTS_ROLE_ADVISORY_LOCKS)


def disk_quota_bytes() -> int:
    return int(float(settings.CHECKPOINTS_PROJECT_DISK_QUOTA_MB) * MB)


def _mb(amount: int) -> str:
    return f"{amount / MB:.1f} MB"


def _record(overrun: watchdog.Overrun) -> None:
    project = AgentProject.objects.filter(
        engine_name="local", engine_project_id=overrun.project_id
    ).first()
    if project is None:
        return
    if overrun.what == "advisory locks":
        detail = LOCKS_ENDED.format(**vars(overrun))
    else:
        text = QUOTA_SAID[overrun.what]
        detail = text.format(size=_mb(overrun.amount), limit=_mb(overrun.limit))
    logger.warning("watchdog, project %s: %s", project.pk, detail)
    activity_record(project=project, actor=None, kind=Activity.Kind.LIMIT, detail=detail)


def watchdog_run() -> list[watchdog.Overrun]:
    """One round (local engine only): act on every overrun, then record it."""
    if settings.CHECKPOINTS_ENGINE != "local":
        return []
    done = watchdog.watch_round(
        get_engine("local"), advisory_cap=advisory_cap(), quota_bytes=disk_quota_bytes()
    )
    for overrun in done:  # recorded after: the metadata connection may need the room
        _record(overrun)
    return done


def quota_failure(project: AgentProject) -> str | None:
    """Why a job's write was refused, when the project is past its disk quota."""
    quota = disk_quota_bytes()
    if quota <= 0 or project.engine_name != "local" or not project.engine_project_id:
        return None
    size = watchdog.live_size(get_engine("local"), project.engine_project_id)
    if size is None or size <= quota:
        return None
    return QUOTA_FAILURE.format(size=_mb(size), limit=_mb(quota))
