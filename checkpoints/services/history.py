"""The history window: a version of the active branch as of a past moment.

`version_create_as_of` is the one use case every door calls (the page's "Save a version
as of…", `timestamp`/`lsn` on the API's POST versions, the CLI, MCP `save_version`, and
"go back to just before this" of an event, which passes a transaction id): it checks the
role and the moment, and enqueues a CREATE_VERSION job that the engine serves (Neon: its
own history; local: recovery from the team server's WAL archive, engines/local/history).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone

from checkpoints import connections, tasks
from checkpoints.engines.base import AsOf
from checkpoints.engines.local.history import retention, wal
from checkpoints.errors import NAME_REQUIRED, NOT_STARTED, ServiceError
from checkpoints.jobs.history import team_window
from checkpoints.models import AgentProject, EngineConnection, Job
from checkpoints.rules import permissions, version_rules
from checkpoints.servers import teamservers

if TYPE_CHECKING:
    from django.contrib.auth.models import User

AS_OF_INVALID = "Give the date and time to save the version as of (in the past)."
AS_OF_UNSUPPORTED = "The {engine} engine cannot save a version as of a past time."
AS_OF_ONE = "Give one moment: a timestamp, an LSN or a transaction."
AS_OF_LSN = "An LSN looks like 0/16B3748 (two hexadecimal numbers)."
AS_OF_XID = "The {engine} engine cannot go back to a transaction; give a timestamp or an LSN."
AS_OF_OUTSIDE = (
    "{when:%Y-%m-%d %H:%M:%S} UTC is outside this project's history window (the last {hours} h)."
)
_LSN = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")


def history_window(project: AgentProject) -> timedelta:
    """How far back a version can be made as of any moment (the project's setting)."""
    return timedelta(hours=project.history_hours)


HISTORY_HOURS = "The history window is 1 to 8760 hours (a year)."
HISTORY_BUDGET = "The history budget is a number of MB (1 or more), or empty for none."


def history_window_set(
    *, project: AgentProject, user: User, hours: str | int | None, budget_mb: str | int | None
) -> None:
    """Set how far back the project's versions as of a moment reach, and the storage its
    history may take (the team server keeps the widest window, within the budgets)."""
    permissions.require(user, project, "restore_window")
    try:
        hours = int(hours or 0)
    except (TypeError, ValueError):
        raise ServiceError(HISTORY_HOURS) from None
    if not 1 <= hours <= 8760:
        raise ServiceError(HISTORY_HOURS)
    budget = None
    if budget_mb not in (None, ""):
        try:
            budget = int(budget_mb)
        except (TypeError, ValueError):
            raise ServiceError(HISTORY_BUDGET) from None
        if budget < 1:
            raise ServiceError(HISTORY_BUDGET)
    project.history_hours, project.history_budget_mb = hours, budget
    project.save(update_fields=["history_hours", "history_budget_mb"])


def history_storage(project: AgentProject) -> dict[str, Any] | None:
    """What the history of the project's team server holds (its WAL archive and base
    backups, read from its folder: no engine call) against the window and budget; None
    where the project's server keeps no history here (Neon keeps its own)."""
    connection = project.connection
    if connection is None or connection.kind != EngineConnection.Kind.EMBEDDED:
        return None
    root = settings.CHECKPOINTS_TEAM_SERVERS_DIR
    folder = wal.history_dir(teamservers.server_dir(root, connection.team_id))
    if not folder.is_dir():
        return None
    held = retention.storage(folder)
    server_window, budget = team_window(connection.team_id)
    return {
        "wal_bytes": held.wal_bytes,
        "base_bytes": held.base_bytes,
        "total_bytes": held.total,
        "backups": held.backups,
        "oldest": held.oldest,
        "hours": project.history_hours,
        "server_hours": int(server_window.total_seconds() // 3600),
        "budget_bytes": budget,
        "over_budget": budget is not None and held.total > budget,
    }


def history_moments(project: AgentProject, *, limit: int = 10) -> list[dict[str, Any]]:
    """The project's recent activity inside its history window, newest first, each with
    the moment just before it started (what "Save a version as of…" offers to pick)."""
    since = timezone.now() - history_window(project)
    moments = []
    for activity in project.activities.filter(created_at__gte=since)[:limit]:
        took = timedelta(milliseconds=(activity.duration_ms or 0) + 1)
        before = (activity.created_at - took).astimezone(UTC)
        label = activity.detail or activity.get_kind_display()
        moments.append({"at": before.isoformat(), "label": label, "when": activity.created_at})
    return moments


def as_of_checked(
    project: AgentProject,
    *,
    timestamp: datetime | None,
    lsn: str | None,
    xid: int | None,
    inclusive: bool,
    engine_name: str,
) -> AsOf:
    """The moment asked for, refused with a message when it cannot be served."""
    lsn = (lsn or "").strip() or None
    if sum(x is not None for x in (lsn, xid)) + (timestamp is not None and xid is None) != 1:
        raise ServiceError(AS_OF_ONE if (lsn or xid) else AS_OF_INVALID)
    if lsn is not None and not _LSN.match(lsn):
        raise ServiceError(AS_OF_LSN)
    if (xid is not None or not inclusive) and engine_name != "local":
        raise ServiceError(AS_OF_XID.format(engine=engine_name))
    if timestamp is not None:
        if timezone.is_naive(timestamp):
            timestamp = timestamp.replace(tzinfo=UTC)
        now = timezone.now()
        if timestamp >= now and xid is None:
            raise ServiceError(AS_OF_INVALID)
        if timestamp < now - history_window(project):
            raise ServiceError(AS_OF_OUTSIDE.format(when=timestamp, hours=project.history_hours))
    return AsOf(timestamp=timestamp, lsn=lsn, xid=xid, inclusive=inclusive)


def version_create_as_of(
    *,
    project: AgentProject,
    user: User,
    timestamp: datetime | None = None,
    lsn: str | None = None,
    xid: int | None = None,
    inclusive: bool = True,
    name: str = "",
    prompt: str = "",
) -> Job:
    """Enqueue saving the active branch as it was at a moment of the history window: a
    time or an LSN (both engines), or a transaction (local), `inclusive` False meaning just
    before it. With `xid`, `timestamp` may say when (before) it ran: the replay starts
    nearer. The job's result names the version (`version_id`)."""
    permissions.require(user, project, "version_create")
    if not project.engine_project_id:
        raise ServiceError(NOT_STARTED)
    engine = connections.engine_for(project=project)
    if not engine.supports_point_in_time:
        raise ServiceError(AS_OF_UNSUPPORTED.format(engine=engine.name))
    as_of = as_of_checked(
        project, timestamp=timestamp, lsn=lsn, xid=xid, inclusive=inclusive, engine_name=engine.name
    )
    name = (name or "").strip()
    if len(name) > 200:
        raise ServiceError(NAME_REQUIRED)
    version_rules.snapshot_room_check(project=project)
    request: dict[str, Any] = {"prompt": prompt or as_of_prompt(as_of), "sql": "", "name": name}
    request["as_of"] = as_of_request(as_of)
    if as_of.timestamp is not None and as_of.xid is None and as_of.lsn is None:
        request["timestamp"] = as_of.timestamp.isoformat()  # jobs queued before `as_of`
    return tasks.job_enqueue(
        project=project, kind=Job.Kind.CREATE_VERSION, user=user, request=request
    )


def as_of_prompt(as_of: AsOf) -> str:
    if as_of.xid is not None:
        return f"Saved as {'of' if as_of.inclusive else 'just before'} transaction {as_of.xid}"
    if as_of.lsn is not None:
        return f"Saved as of LSN {as_of.lsn}"
    assert as_of.timestamp is not None
    return f"Saved as of {as_of.timestamp.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def as_of_request(as_of: AsOf) -> dict[str, Any]:
    """The moment as the job's request stores it (JSON)."""
    return {
        "timestamp": as_of.timestamp.isoformat() if as_of.timestamp else None,
        "lsn": as_of.lsn,
        "xid": as_of.xid,
        "inclusive": as_of.inclusive,
    }
