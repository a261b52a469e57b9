"""Copy a project's recorded destructive statements from its engine into the metadata
database (`StatementEvent`): run when anyone lists them and by the periodic cleanup, so
the timeline holds them even if nobody looks (services/events.py has the use cases)."""

from __future__ import annotations

from checkpoints.engines.base import Engine
from checkpoints.models import AgentProject, StatementEvent


def events_copy(*, project: AgentProject, engine: Engine) -> int:
    """How many records were new. The engine must record (`supports_statement_events`)."""
    rows = [
        StatementEvent(
            project=project,
            key=event.id,
            at=event.at,
            role=event.role,
            xid=event.xid,
            lsn=event.lsn or "",
            command=event.command,
            object_type=event.object_type,
            object=event.object,
        )
        for event in engine.statement_events(project.engine_project_id)
    ]
    before = StatementEvent.objects.filter(project=project).count()
    StatementEvent.objects.bulk_create(rows, ignore_conflicts=True)
    return StatementEvent.objects.filter(project=project).count() - before
