"""The worker's watchdog over what projects take of the shared PostgreSQL server: every
`CHECKPOINTS_WATCHDOG_SECONDS` one worker (an advisory lock elects it per round) ends
the sessions of a project role past `CHECKPOINTS_ROLE_ADVISORY_LOCKS` advisory locks and
turns a live database past `CHECKPOINTS_PROJECT_DISK_QUOTA_MB` read-only, lowers the
priority of a session past `CHECKPOINTS_ROLE_CPU_SECONDS` of CPU and puts back a role its
own SQL changed (`engines/local/watchdog.py` says how), and writes an Activity entry for
each. On every server of the local engine: the installation's, each running team server,
each PostgreSQL server a team named. Neon bounds its own computes."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError, close_old_connections

from checkpoints import connections
from checkpoints.activity import activity_record
from checkpoints.engines import get_engine
from checkpoints.engines.base import Engine
from checkpoints.engines.local import watchdog
from checkpoints.models import Activity, AgentProject, EngineConnection
from checkpoints.servers import teamservers
from checkpoints.servers.engine_connections import connection_engine, team_servers_root

logger = logging.getLogger(__name__)

MB = 1024 * 1024
LOCKS_ENDED = (
    "Ended {ended} session(s) of {role}: it held {amount} advisory locks, past the cap of "
    "{limit} (setting CHECKPOINTS_ROLE_ADVISORY_LOCKS); the locks are released."
)
LOCK_TABLE_FULL = (
    "The database server's lock table was full: a session held more advisory locks than a "
    "project may (CHECKPOINTS_ROLE_ADVISORY_LOCKS = {cap}). The watchdog ends such sessions "
    "within seconds (the Activity tab says whose): try again then."
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
CPU_LOWERED = (
    "Lowered the CPU priority of {amount} running session(s) of {role}: together they had "
    "used more than {limit:g} s of CPU (setting CHECKPOINTS_ROLE_CPU_SECONDS). They keep "
    "running, behind other projects' work."
)
ROLE_PUT_BACK = {
    "role repaired": "The project's SQL had changed its role's {detail}; the watchdog "
    "restored it at once (the connection string is unchanged).",
    "preview role repaired": "A preview's SQL had changed its role's {detail}; the "
    "watchdog restored it at once (the preview's connection string works again).",
}
QUOTA_FAILURE = (
    "The project is over its disk quota: its live database ({size}) is past "
    "{limit} (setting CHECKPOINTS_PROJECT_DISK_QUOTA_MB), so it is read-only. Roll back "
    "to a smaller version, or ask an administrator to raise the quota."
)


def advisory_cap() -> int:
    return int(settings.CHECKPOINTS_ROLE_ADVISORY_LOCKS)


def lock_table_full(error: BaseException) -> str | None:
    """PostgreSQL's "out of shared memory" (with its hint to raise a setting) as what
    fills the lock table and what to do; None for any other error."""
    if "out of shared memory" not in str(error):
        return None
    return LOCK_TABLE_FULL.format(cap=advisory_cap())


def cpu_seconds() -> float:
    return float(settings.CHECKPOINTS_ROLE_CPU_SECONDS)


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
    kind = Activity.Kind.LIMIT
    if overrun.what == "advisory locks":
        detail = LOCKS_ENDED.format(**vars(overrun))
    elif overrun.what == "cpu":
        detail = CPU_LOWERED.format(**vars(overrun))
    elif overrun.what in ROLE_PUT_BACK:
        detail, kind = (
            ROLE_PUT_BACK[overrun.what].format(detail=overrun.detail),
            Activity.Kind.REPAIR,
        )
    else:
        text = QUOTA_SAID[overrun.what]
        detail = text.format(size=_mb(overrun.amount), limit=_mb(overrun.limit))
    logger.warning("watchdog, project %s: %s", project.pk, detail)
    activity_record(project=project, actor=None, kind=kind, detail=detail)


#: The last list `watched_engines` read: when the lock table is full, the metadata
#: database may not answer, and the round goes on with the servers it knew.
_watched: list[Engine] = []


def watched_engines() -> list[Engine]:
    """Every local engine's server to watch: the installation's (local engine), each team
    server running now (a stopped one is not started for it), each named server."""
    global _watched
    found = [get_engine("local")] if settings.CHECKPOINTS_ENGINE == "local" else []
    root = team_servers_root()
    try:
        connections_all = list(EngineConnection.objects.exclude(kind=EngineConnection.Kind.NEON))
    except DatabaseError:
        logger.warning("watchdog: the connections could not be read", exc_info=True)
        return _watched or found
    for connection in connections_all:
        embedded = connection.kind == EngineConnection.Kind.EMBEDDED
        if embedded and not teamservers.team_server(root, connection.team_id).is_running():
            continue
        engine = connection_engine(connection)
        if all(engine is not other for other in found):
            found.append(engine)
    _watched = found
    return found


def watchdog_run() -> list[watchdog.Overrun]:
    """One round on every server of the local engine: act on every overrun, then record
    it. A server that fails its round (stopping, say) does not stop the others'."""
    done: list[watchdog.Overrun] = []
    for engine in watched_engines():
        try:
            done += watchdog.watch_round(
                engine,
                advisory_cap=advisory_cap(),
                quota_bytes=disk_quota_bytes(),
                cpu_seconds=cpu_seconds(),
            )
        except Exception:
            logger.exception("watchdog round on %s failed", getattr(engine, "port", "?"))
    overruns_record(done)  # recorded after: the metadata connection may need the room
    return done


#: Overruns acted on whose Activity entry could not be written yet (the lock table was
#: still full: a write takes a slot for its transaction id): written at the next round.
_unrecorded: list[watchdog.Overrun] = []


def overruns_record(found: list[watchdog.Overrun]) -> None:
    """Write each overrun's Activity entry, those left from earlier rounds first; what
    cannot be written now waits for the next round rather than being lost."""
    global _unrecorded
    waiting, _unrecorded = _unrecorded + found, []
    for index, overrun in enumerate(waiting):
        try:
            _record(overrun)
        except DatabaseError as error:
            logger.warning("watchdog: entries wait for the next round: %s", error)
            close_old_connections()  # one the failure left unusable is opened anew
            _unrecorded = waiting[index:]
            return


def quota_failure(project: AgentProject) -> str | None:
    """Why a job's write was refused, when the project is past its disk quota."""
    quota = disk_quota_bytes()
    if quota <= 0 or project.engine_name != "local" or not project.engine_project_id:
        return None
    size = watchdog.live_size(connections.engine_for(project=project), project.engine_project_id)
    if size is None or size <= quota:
        return None
    return QUOTA_FAILURE.format(size=_mb(size), limit=_mb(quota))


QUOTA_BANNER = (
    "The live database ({size}) went past the project's disk quota of {limit}, so it is "
    "read-only: the agent can read but not write, and its writing sessions were ended. "
    "To get out, roll back to a smaller version (a new database, writable at once), or "
    "ask an administrator to raise the quota (CHECKPOINTS_PROJECT_DISK_QUOTA_MB). Under "
    "the quota it turns writable again within seconds."
)


def quota_banner(project: AgentProject) -> str | None:
    """What the project page says while the watchdog holds the project read-only (None:
    writable, or not known now: the page renders regardless)."""
    if project.engine_name != "local" or not project.engine_project_id:
        return None
    try:
        engine = connections.engine_for(project=project)
        size = watchdog.read_only_size(engine, project.engine_project_id)
    except Exception:
        logger.warning("read-only state of project %s unknown", project.pk, exc_info=True)
        return None
    if size is None:
        return None
    return QUOTA_BANNER.format(size=_mb(size), limit=_mb(disk_quota_bytes()))
