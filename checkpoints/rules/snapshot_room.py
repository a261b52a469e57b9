"""Room for one more snapshot: Neon's per-project snapshot limit, seen before a version step.

A version step applies SQL to the live database, then snapshots it. Neon refuses a manual
snapshot past the plan's limit (REFERENCE.md §6), and by then the SQL is committed. So the
step first makes sure there is room (`room_ensure`): it counts the project's snapshots
(one API call), and when they fill the limit it deletes the snapshots of versions that have
already expired under the restore window (oldest first, as cleanup would), then refuses
before anything is applied if there is still no room. A refusal the count did not foresee
(a limit lower than configured, a quota, any other 4xx) is handled by the step itself: it
restores the current version (`jobs.undo`). The job's side (`room_ensure`) is
`checkpoints.jobs.room`; this module holds the messages and the page's reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from checkpoints.engines.base import SnapshotCapacity
from checkpoints.engines.errors import EngineRefused
from checkpoints.errors import SNAPSHOT_LIMIT
from checkpoints.models import AgentProject

if TYPE_CHECKING:
    from checkpoints.engines.base import Engine

SNAPSHOT_QUOTA = "{engine} refused the snapshot: the project's quota is reached ({detail})."
SNAPSHOT_REFUSED = "{engine} refused the snapshot: {detail}."
NOTHING_APPLIED = " Nothing was applied and no version was saved; try again once there is room."
UNDONE = " The live database is back at {label}: nothing was saved."
RETRY_WITH_ROOM = " Try again once there is room."
NOT_UNDONE = (
    " The live database could not be put back to {label} ({error}): it holds the applied "
    "SQL. Roll back to {label} before trying again."
)

#: Job error codes by refusal reason (`EngineRefused.reason`), answered 4xx by the API.
CODES = {
    "limit": "snapshot_limit",
    "quota": "snapshot_quota",
    "name": "snapshot_refused",
    "refused": "snapshot_refused",
}


class RoomFull(EngineRefused):
    """No room for another snapshot, seen before anything was applied."""

    def __init__(self, capacity: SnapshotCapacity) -> None:
        super().__init__(f"{capacity.used} of {capacity.limit} snapshots are used", reason="limit")
        self.capacity = capacity


def engine_label(engine: Engine) -> str:
    return "Neon" if engine.name == "neon" else f"The {engine.name} engine"


def refusal_text(engine: Engine, error: EngineRefused, capacity: SnapshotCapacity | None) -> str:
    """The readable first sentence for a refused snapshot."""
    if error.reason == "limit":
        limit = capacity.limit if capacity and capacity.limit else "its"
        used = capacity.used if capacity else "all"
        return SNAPSHOT_LIMIT.format(engine=engine_label(engine), used=used, limit=limit)
    detail = error.reply or error.message.split(": ", 1)[-1]
    template = SNAPSHOT_QUOTA if error.reason == "quota" else SNAPSHOT_REFUSED
    return template.format(engine=engine_label(engine), detail=detail)


def snapshot_name(capacity: SnapshotCapacity, wanted: str, job_pk: int) -> str:
    """`wanted` unless a snapshot of the project has that name (names are unique on Neon)."""
    return wanted if wanted not in capacity.names else f"{wanted}-job{job_pk}"


def capacity_shown(project: AgentProject) -> dict | None:
    """{limit, used, as_of} as the last job saw it (no engine call), or None if unknown."""
    listing = project.engine_listing or {}
    capacity = listing.get("capacity")
    if capacity is None:
        return None
    return {**capacity, "as_of": listing.get("at")}


def window_warning(project: AgentProject) -> str:
    """What the restore window form says when "keep every version" will hit the limit."""
    capacity = capacity_shown(project)
    if not capacity or not capacity.get("limit"):
        return ""
    if project.restore_window != AgentProject.RestoreWindow.FOREVER:
        return ""
    limit, used = capacity["limit"], capacity["used"]
    keep = max(1, limit - 1)
    return (
        f"This engine allows {limit} snapshots per project and {used} are used: keeping every "
        f"version stops new versions at {limit}. Choose “Keep the last N versions” with N = "
        f"{keep} or fewer: the oldest then makes room for each new one."
    )
