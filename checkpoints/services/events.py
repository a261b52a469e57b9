"""Destructive statements on the timeline, "go back to just before this", and protected
tables (issue 31). The engine records the statements in the live database where the agent
cannot alter them (`engines/local/events_sql.py`); these use cases copy them into the
metadata database (`StatementEvent`), list them, start the job that goes back to just
before one, and set or lift a table's protection.

Protecting is an operator's action; lifting a protection is an owner's, so an agent
holding an operator's token cannot lift what a person set."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import QuerySet
from psycopg.conninfo import conninfo_to_dict

from checkpoints import connections, tasks
from checkpoints.activity import activity_record
from checkpoints.engines.errors import EngineError, EngineLocked, EngineNotSupported
from checkpoints.engines.statement_events import ProtectedTable
from checkpoints.errors import NOT_STARTED, PROJECT_BUSY, ProjectBusy, ServiceError
from checkpoints.lifecycle.events import events_copy
from checkpoints.models import Activity, AgentProject, Job, StatementEvent
from checkpoints.rules import permissions
from checkpoints.services.history import as_of_checked

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

EVENTS_UNSUPPORTED = (
    "This project's server does not record destructive statements: recording needs the "
    "server's superuser, which only the embedded servers give Checkpoints (not an external "
    "server, not Neon). Save versions before risky changes instead."
)
POINT_IN_TIME_UNSUPPORTED = (
    "This project's engine cannot make a version as of a past transaction, so it cannot go "
    "back to just before a statement: roll back to a saved version instead."
)
TABLE_INVALID = "Name a table as `table` or `schema.table` (letters, digits, _ and $)."
PROTECTED = "Protected {table}: PostgreSQL now refuses DROP, TRUNCATE and DROP COLUMN on it."
UNPROTECTED = "Lifted the protection of {table}."
_NAME = re.compile(r"^(?:([A-Za-z_][A-Za-z0-9_$]{0,62})\.)?([A-Za-z_][A-Za-z0-9_$]{0,62})$")


class EventsUnsupported(ServiceError):
    status = 422
    code = "not_supported"


@dataclass(frozen=True)
class EventsAnswer:
    """What the timeline shows: the recorded statements (newest first), whether this
    project's server records them at all, and a note when the engine could not be read."""

    events: QuerySet[StatementEvent]
    supported: bool
    note: str = ""


def events_sync(*, project: AgentProject) -> int:
    """Copy the engine's records of `project` into the metadata database; how many were
    new. Raises EventsUnsupported where the engine does not record."""
    if not project.engine_project_id:
        return 0
    engine = connections.engine_for(project=project)
    if not engine.supports_statement_events:
        raise EventsUnsupported(EVENTS_UNSUPPORTED)
    try:
        return events_copy(project=project, engine=engine)
    except EngineNotSupported:
        raise EventsUnsupported(EVENTS_UNSUPPORTED) from None


def events_list(*, project: AgentProject, user: User | None, sync: bool = True) -> EventsAnswer:
    """The project's recorded destructive statements, newest first (viewers and up)."""
    if user is not None:
        permissions.require(user, project, "view")
    note = ""
    supported = True
    if sync:
        try:
            events_sync(project=project)
        except EventsUnsupported:
            supported = False
        except EngineError as error:
            logger.warning("events of project %s not read: %s", project.pk, error)
            note = "The engine could not be read just now: newer statements may be missing."
    events = StatementEvent.objects.filter(project=project).order_by("-at", "-pk")
    return EventsAnswer(events=events, supported=supported, note=note)


def event_restore_before(*, project: AgentProject, event: StatementEvent, user: User) -> Job:
    """Go back to just before `event`'s transaction: the live state is kept as an automatic
    version, the database becomes what it was just before that transaction committed (a
    version made as of then, recovered from the history), and "Undo rollback" undoes it.
    The job runs `jobs.restore_before_event`."""
    permissions.require(user, project, "rollback")
    if not project.engine_project_id:
        raise ServiceError(NOT_STARTED)
    if event.project_id != project.pk:
        raise ServiceError("That statement belongs to another project.")
    engine = connections.engine_for(project=project)
    if not engine.supports_point_in_time:
        raise EventsUnsupported(POINT_IN_TIME_UNSUPPORTED)
    # Within the project's history window (services.history), else refused now.
    as_of_checked(
        project, timestamp=event.at, lsn=None, xid=event.xid, inclusive=False,
        engine_name=engine.name,
    )  # fmt: skip
    return tasks.job_enqueue(
        project=project,
        kind=Job.Kind.RESTORE_BEFORE_EVENT,
        user=user,
        request={"event": event.pk},
    )


def events_reach(*, project: AgentProject) -> tuple[bool, datetime | None, str]:
    """(whether this engine can go back to just before a statement, the oldest moment its
    history reaches, the project's own database role): what the card shows per event."""
    if not project.engine_project_id:
        return False, None, ""
    engine = connections.engine_for(project=project)
    role = conninfo_to_dict(connections.project_connection_uri(project=project)).get("user")
    if not engine.supports_point_in_time:
        return False, None, str(role or "")
    span = engine.history_span()  # the local engine's; Neon keeps its own (None)
    oldest = span[0] if span is not None else None
    return True, oldest, str(role or "")


def table_name_parse(name: str) -> tuple[str, str]:
    """`contacts` -> (`public`, `contacts`); `app.items` -> (`app`, `items`)."""
    found = _NAME.match((name or "").strip())
    if not found:
        raise ServiceError(TABLE_INVALID)
    return found.group(1) or "public", found.group(2)


def tables_protected(*, project: AgentProject, user: User | None) -> list[ProtectedTable]:
    if user is not None:
        permissions.require(user, project, "view")
    if not project.engine_project_id:
        return []
    engine = connections.engine_for(project=project)
    if not engine.supports_statement_events:
        raise EventsUnsupported(EVENTS_UNSUPPORTED)
    return engine.tables_protected(project.engine_project_id)


def table_protect(
    *, project: AgentProject, user: User | None, table: str, protect: bool
) -> list[ProtectedTable]:
    """Protect a table of the live database (operators) or lift its protection (owners;
    `user=None`: the command line). Recorded in the Activity log."""
    schema, name = table_name_parse(table)
    if user is not None:
        permissions.require(user, project, "table_protect" if protect else "table_unprotect")
    if not project.engine_project_id:
        raise ServiceError(NOT_STARTED)
    engine = connections.engine_for(project=project)
    if not engine.supports_statement_events:
        raise EventsUnsupported(EVENTS_UNSUPPORTED)
    try:
        listed = engine.table_protect(project.engine_project_id, schema, name, protect=protect)
    except EngineLocked:
        busy = Job.objects.filter(project=project, state__in=Job.UNFINISHED).first()
        raise ProjectBusy(
            PROJECT_BUSY.format(job=busy.get_kind_display() if busy else "a job"), job=busy
        ) from None
    except EngineError as error:
        if getattr(error, "status", None) == 400:
            raise ServiceError(f"No table {schema}.{name} in the live database.") from None
        raise
    label = f"{schema}.{name}"
    activity_record(
        project=project,
        actor=user,
        kind=Activity.Kind.PROTECT if protect else Activity.Kind.UNPROTECT,
        detail=(PROTECTED if protect else UNPROTECTED).format(table=label),
    )
    return listed
